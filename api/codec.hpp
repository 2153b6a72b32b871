#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/strict_input.hpp"

namespace agentmem::api {

// The strict input checks (UTF-8 validity and length, identifiers, nesting
// depth) live in domain/strict_input.hpp, shared with the event contract
// and the store; these are their names in the API.
using domain::strict::check_id;
using domain::strict::json_nesting_depth;
using domain::strict::max_id_chars;
using domain::strict::utf8_length;

// Timestamps and calendar days: domain/timestamp.hpp (parse_rfc3339_ms,
// format_rfc3339_ms, parse_day), shared with the event contract.

/// Percent-decodes a URL component. With `plus_is_space` (query strings),
/// '+' becomes ' '. Returns nullopt when a '%' is not followed by two hex
/// digits. The result may contain any byte; callers validate it.
std::optional<std::string> percent_decode(std::string_view s,
                                          bool plus_is_space);

} // namespace agentmem::api
