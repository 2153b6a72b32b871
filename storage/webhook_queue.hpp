#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::storage {

/// One queued webhook delivery (memory_webhook_queue,
/// 021_memory_change_stream.sql): a record of agent.memory.v1 for one
/// endpoint.
struct webhook_delivery {
  int64_t id = 0;       ///< queue order within (endpoint, key)
  std::string endpoint; ///< the endpoint's configured name
  std::string key;      ///< the record's key (user_id)
  std::string payload;  ///< the record as JSON text
  int32_t attempts = 0; ///< failed attempts so far
};

/// What became of one attempted delivery.
struct webhook_outcome {
  enum kind_t { delivered, retry, dead } kind = delivered;
  int64_t id = 0;
  int64_t retry_in_ms = 0; ///< retry: delay until the next attempt
  std::string error;       ///< retry / dead: why (never a secret)
};

/// Counts of one dispatch pass.
struct webhook_pass {
  size_t delivered = 0;
  size_t retried = 0;
  size_t dead = 0;
  size_t attempted = 0; ///< records handed to the callback
};

/// The webhook delivery queue. Owns ONE connection: not thread-safe.
/// Errors are values (errc::postgres_error).
class webhook_queue {
public:
  /// Connects to `url`. errc::postgres_error (with the redacted URL).
  static caf::expected<std::unique_ptr<webhook_queue>>
  connect(const std::string& url);
  ~webhook_queue();

  webhook_queue(const webhook_queue&) = delete;
  webhook_queue& operator=(const webhook_queue&) = delete;

  /// One dispatch pass, in one transaction under the dispatcher lock
  /// (pg_try_advisory_xact_lock; another node holding it: an empty pass):
  /// reads, for up to `max_records` records in all, the first `per_key`
  /// records of each (endpoint, key) whose FIRST record is due
  /// (next_attempt_at <= now()), ordered by (endpoint, key, id), and hands
  /// them to `deliver`. It returns one outcome per record it attempted (a
  /// record without an outcome stays as it is); for order per key it must
  /// stop a key at its first `retry`. Then: `delivered` rows are deleted,
  /// `retry` rows get attempts + 1, the delay and the error, `dead` rows
  /// move to memory_webhook_dead_letters with the error as reason; commit.
  /// A crash before the commit delivers the records again: at least once.
  caf::expected<webhook_pass> dispatch(
    size_t per_key, size_t max_records,
    const std::function<std::vector<webhook_outcome>(
      const std::vector<webhook_delivery>&)>& deliver);

  /// Records waiting in the queue. Errors: errc::postgres_error.
  caf::expected<int64_t> pending();

  struct impl;

private:
  explicit webhook_queue(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
