#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "messages/activity.hpp"
#include "messages/record.hpp"

namespace agentmem::domain {

/// Limits of event contract v1 (docs/events.md). Sizes are bytes, times are
/// ms (since the Unix epoch, UTC, for `min_ts_ms`).
struct contract_limits {
  /// Largest accepted record value, checked before parsing.
  size_t max_event_bytes = size_t{1} << 20;
  /// Largest `content` (and `file.text`) string after unescaping.
  size_t max_content_bytes = size_t{256} << 10;
  /// Deepest accepted nesting of objects/arrays; the event object itself is
  /// depth 1, so `{"metadata":{"a":[1]}}` has depth 3. Values above 1024
  /// are clamped to 1024 (the validation recurses once per level).
  size_t max_depth = 32;
  /// How far `ts` may lie ahead of the decoder's clock (24 h).
  int64_t max_future_ms = int64_t{24} * 3600 * 1000;
  /// Earliest accepted `ts`: 2000-01-01T00:00:00Z.
  int64_t min_ts_ms = 946'684'800'000;
  /// Most entries in `tags`.
  size_t max_tags = 64;
};

/// Why a record broke the contract. `code` is a stable snake_case reason
/// (see the table in docs/events.md: invalid_json, invalid_utf8,
/// not_an_object, missing_field, wrong_type, empty_field, field_too_long,
/// oversize_event, oversize_content, too_deep, nul_byte, duplicate_key,
/// number_out_of_range, too_many_tags, invalid_timestamp,
/// timestamp_out_of_range, invalid_event_type, invalid_role,
/// key_mismatch); `detail` is for humans and names the field, e.g.
/// "field 'ts': not an RFC 3339 timestamp with offset".
struct decode_error {
  std::string code;
  std::string detail;
};

/// Decoder of contract v1 event values (simdjson On-Demand). Reusable
/// across records and cheap per call, but not thread-safe: it owns a parser
/// and a padded input buffer that grow to the largest record seen (at most
/// `max_event_bytes`). Use one decoder per thread/actor.
class event_decoder {
public:
  /// `now_ms` returns the current time in ms since the Unix epoch (UTC) and
  /// bounds `ts` from above; nullptr means the system clock.
  explicit event_decoder(contract_limits limits = {},
                         int64_t (*now_ms)() = nullptr);
  ~event_decoder();
  event_decoder(event_decoder&&) noexcept;
  event_decoder& operator=(event_decoder&&) noexcept;
  event_decoder(const event_decoder&) = delete;
  event_decoder& operator=(const event_decoder&) = delete;

  /// Decodes and validates one record value; fills `out` (incl. raw_json =
  /// the value bytes, source = rec.source). Returns std::nullopt on success
  /// or the first contract violation found; `out` is unspecified then.
  /// A non-empty `rec.key` must equal `user_id` (else key_mismatch).
  std::optional<decode_error> decode(const kafka_record& rec, activity& out);

  /// The limits this decoder enforces.
  const contract_limits& limits() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Decodes a whole batch: valid records → activities (appended to `out` in
/// input order), invalid → dead letters (appended to `dead`, reason_code =
/// code, reason = detail, record copied); duplicates of event_id inside
/// the batch are kept once (first wins) and the later copies are dropped
/// without a dead letter.
void decode_batch(event_decoder& dec, const std::vector<kafka_record>& in,
                  std::vector<activity>& out, std::vector<dead_letter>& dead);

} // namespace agentmem::domain
