#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "messages/rows.hpp"

namespace agentmem::api {

/// Opaque page cursors of the list routes (docs/api.md, "Pagination"):
/// base64url (RFC 4648 section 5, no padding) of "<kind>:<ts_ms>:<id>",
/// the sort key of the last item of the previous page. `kind` ("m" for
/// memories, "s" for sessions) keeps a cursor from being used on another
/// listing. Clients must treat cursors as opaque.
std::string encode_cursor(char kind, const list_position& pos);

/// The position in a cursor of `kind`, or nullopt when `text` is not a
/// cursor of that kind (bad base64url, wrong kind, malformed number, id
/// that is not a valid identifier).
std::optional<list_position> decode_cursor(char kind, std::string_view text);

} // namespace agentmem::api
