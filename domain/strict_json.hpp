#pragma once

// Strict parsing of untrusted JSON documents with nlohmann::json (request
// bodies of the HTTP API); the checks themselves are domain/strict_input.hpp.

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

namespace agentmem::domain::strict {

/// Parses `text` as one JSON document, strictly:
///   - empty text, a raw NUL byte (nlohmann's lexer treats it as the end
///     of input and would ignore what follows) and nesting deeper than
///     `max_depth` (checked before parsing, json_nesting_depth) are
///     refused;
///   - invalid UTF-8 in strings, comments, trailing content and numbers
///     outside the RFC 8259 grammar are refused by nlohmann's lexer;
///   - a key repeated within one object is refused (parsers disagree on
///     which one wins).
/// `what` names the document in details ("request body"). Errors:
/// errc::invalid_request with a detail such as "request body is empty;
/// expected a JSON object", "JSON is nested deeper than 16 levels",
/// "malformed JSON: parse error at line 1, column 3: ...",
/// "duplicate field 'top_k'". Never throws.
caf::expected<nlohmann::json> parse_json(std::string_view text,
                                         size_t max_depth,
                                         const std::string& what);

/// "a string", "an array", "an integer", "a non-integer number", ... for
/// error details about a value of the wrong type.
std::string describe_json_type(const nlohmann::json& j);

} // namespace agentmem::domain::strict
