#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace agentmem::api {

/// Longest accepted identifier (user_id, session_id), in code points.
constexpr size_t max_id_chars = 128;

/// Earliest timestamp the API accepts or renders: 0000-01-01T00:00:00.000Z,
/// in ms since the Unix epoch.
constexpr int64_t min_epoch_ms = -62167219200000;

/// Latest timestamp the API accepts: 9999-12-31T23:59:59.999Z, in ms since
/// the Unix epoch.
constexpr int64_t max_epoch_ms = 253402300799999;

/// Number of Unicode code points in `s`, or nullopt if `s` is not
/// well-formed UTF-8 (overlong forms, surrogates and values above U+10FFFF
/// are rejected).
std::optional<size_t> utf8_length(std::string_view s) noexcept;

/// Validates an identifier taken from a request: 1..max_id_chars code points
/// of well-formed UTF-8 without control characters (U+0000-U+001F, U+007F).
/// Returns a default (empty) caf::error when valid, else an
/// errc::invalid_request error whose detail starts with `field`.
caf::error check_id(std::string_view field, std::string_view value);

/// Parses an RFC 3339 date-time ("2023-05-08T13:56:00Z",
/// "2023-05-08t15:56:00.123456+02:00", 'T', 't' or ' ' as separator) into
/// ms since the epoch, UTC; digits beyond milliseconds are truncated, a leap
/// second (:60) counts as the following second. Returns nullopt for anything
/// else, including results outside [min_epoch_ms, max_epoch_ms].
std::optional<int64_t> parse_rfc3339_ms(std::string_view s) noexcept;

/// Renders ms since the epoch as RFC 3339 UTC with exactly three fraction
/// digits, e.g. 1683554160000 -> "2023-05-08T13:56:00.000Z". Values outside
/// [min_epoch_ms, max_epoch_ms] are clamped to that range.
std::string format_rfc3339_ms(int64_t ms);

/// Parses a calendar day "YYYY-MM-DD" (exactly that shape, a real date) into
/// days since 1970-01-01; nullopt otherwise.
std::optional<int64_t> parse_day(std::string_view s) noexcept;

/// Percent-decodes a URL component. With `plus_is_space` (query strings),
/// '+' becomes ' '. Returns nullopt when a '%' is not followed by two hex
/// digits. The result may contain any byte; callers validate it.
std::optional<std::string> percent_decode(std::string_view s,
                                          bool plus_is_space);

/// Deepest nesting of JSON arrays/objects in `text` (brackets inside
/// strings do not count), scanning no further once it exceeds `limit` (the
/// result is then limit + 1). A cheap guard run before parsing untrusted
/// JSON; it does not validate the document.
size_t json_nesting_depth(std::string_view text, size_t limit) noexcept;

} // namespace agentmem::api
