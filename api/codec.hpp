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

/// Number of Unicode code points in `s`, or nullopt if `s` is not
/// well-formed UTF-8 (overlong forms, surrogates and values above U+10FFFF
/// are rejected).
std::optional<size_t> utf8_length(std::string_view s) noexcept;

/// Validates an identifier taken from a request: 1..max_id_chars code points
/// of well-formed UTF-8 without control characters (U+0000-U+001F, U+007F).
/// Returns a default (empty) caf::error when valid, else an
/// errc::invalid_request error whose detail starts with `field`.
caf::error check_id(std::string_view field, std::string_view value);

// Timestamps and calendar days: domain/timestamp.hpp (parse_rfc3339_ms,
// format_rfc3339_ms, parse_day), shared with the event contract.

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
