#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "api/http_io.hpp"
#include "messages/rows.hpp"

namespace agentmem::api {

/// Opaque page cursors of the list routes (docs/api.md, "Pagination"):
/// base64url (RFC 4648 section 5, no padding) of "<kind>:<ts_ms>:<id>",
/// the sort key of the last item of the previous page. `kind` ("m" for
/// memories, "s" for sessions, "p" for projects (ts 0); the analytics and
/// skills listings' kinds are in api/analytics_codec.hpp) keeps a cursor
/// from being used on another listing. Clients must treat cursors as
/// opaque.
std::string encode_cursor(char kind, const list_position& pos);

/// What the id of a cursor's position is, and so how it is checked.
enum class cursor_id {
  identifier, ///< a memory or session id (domain::strict::check_id)
  /// an analytics group key: UTF-8 without NUL, 0 to 2 * max_id_chars + 1
  /// code points (parts separated by U+001F)
  group_key,
};

/// The position in a cursor of `kind`, or nullopt when `text` is not a
/// cursor of that kind (bad base64url, wrong kind, malformed number, id
/// that fails the `id` check).
std::optional<list_position>
decode_cursor(char kind, std::string_view text,
              cursor_id id = cursor_id::identifier);

/// Query parameter `cursor` of a listing of `kind` into `after` (left
/// alone when absent). Error: errc::invalid_request "cursor is not a
/// cursor of this listing; ...".
caf::error cursor_param(const http::query_params& q, char kind,
                        std::optional<list_position>& after,
                        cursor_id id = cursor_id::identifier);

/// A page's `next_cursor`: the encoded position, null on the last page.
nlohmann::ordered_json next_cursor_json(char kind,
                                        const std::optional<list_position>& next);

} // namespace agentmem::api
