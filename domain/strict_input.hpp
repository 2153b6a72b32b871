#pragma once

// Strict checks of untrusted input, shared by the event-contract decoder
// (domain/contract.cpp), the HTTP request decoders (api/) and the Postgres
// store (storage/postgres_store.cpp), so that "valid" means the same thing
// everywhere: well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or
// values above U+10FFFF), lengths counted in code points, no NUL bytes, a
// bounded nesting depth, no duplicate keys, RFC 8259 number grammar.

#include <cstddef>
#include <optional>
#include <string_view>

#include <caf/error.hpp>

namespace agentmem::domain::strict {

/// Longest accepted identifier (user_id, session_id, ...), in code points.
constexpr size_t max_id_chars = 128;

/// Number of Unicode code points in `s`, or nullopt if `s` is not
/// well-formed UTF-8 (RFC 3629 table 3-7: overlong forms, surrogates and
/// values above U+10FFFF are rejected).
std::optional<size_t> utf8_length(std::string_view s) noexcept;

/// Number of code points of text already known to be valid UTF-8 (counts
/// the bytes that are not continuation bytes; O(n), no validation).
size_t utf8_count(std::string_view s) noexcept;

/// True when `s` contains a NUL byte (Postgres text and jsonb cannot hold
/// one; nlohmann's lexer would stop at it).
bool has_nul(std::string_view s) noexcept;

/// True when `s` contains a C0 control character (U+0000-U+001F) or DEL.
bool has_control(std::string_view s) noexcept;

/// Validates a text field: well-formed UTF-8 of min_chars..max_chars code
/// points, no NUL byte, and (unless `allow_control`) no control character.
/// Returns a default (empty) caf::error when valid, else an
/// errc::invalid_request error whose detail starts with `field`
/// (" is not valid UTF-8", " must be 1-128 characters long",
/// " must not contain control characters", " must not contain NUL").
caf::error check_text(std::string_view field, std::string_view value,
                      size_t min_chars, size_t max_chars,
                      bool allow_control);

/// An identifier: check_text(field, value, 1, max_id_chars, false).
caf::error check_id(std::string_view field, std::string_view value);

/// Deepest nesting of JSON arrays/objects in `text` (brackets inside
/// strings do not count), scanning no further once it exceeds `limit` (the
/// result is then limit + 1). A cheap guard run before parsing untrusted
/// JSON, so that a hostile document never reaches a recursive parser; it
/// does not validate the document.
size_t json_nesting_depth(std::string_view text, size_t limit) noexcept;

/// True when `s` is exactly one number of the RFC 8259 section 6 grammar
/// (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`). Tells a
/// well-formed number that does not fit a type apart from a malformed one.
bool json_number_grammar(std::string_view s) noexcept;

} // namespace agentmem::domain::strict
