#pragma once

// Internal to api/: HTTP request and response plumbing shared by the
// dispatcher and the handlers (httplib types appear here, so only api's
// .cpp files include it).

#include <cstddef>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace agentmem::api::http {

using ojson = nlohmann::ordered_json;

/// `s` cut to `n` bytes with "..." appended (user input echoed in details).
std::string clip(std::string_view s, size_t n = 200);

/// The path part of a request target ("/a/b?x=1" -> "/a/b").
std::string_view path_of(std::string_view target);

/// The query part of a request target, without '?' and fragment.
std::string_view query_of(std::string_view target);

// --- responses --------------------------------------------------------------

/// `body` as the JSON response with `status` (invalid UTF-8 in strings is
/// replaced, never thrown).
void send_json(httplib::Response& res, int status, const ojson& body);

/// The error shape of docs/api.md: {"error": code, "detail": detail}.
void send_error(httplib::Response& res, int status, const char* code,
                const std::string& detail);

/// The detail string a make_error() carried, or the code's name.
std::string detail_of(const caf::error& err);

/// backend.hpp's mapping: invalid_request -> 400, not_found -> 404, else
/// 503 with describe(err) as detail.
void send_backend_error(httplib::Response& res, const caf::error& err);

/// 400 with the detail `err` carries (a request piece that did not parse).
void send_bad_request(httplib::Response& res, const caf::error& err);

/// Error code of a status httplib produced on its own (bad request line,
/// oversized Content-Length, URI too long).
const char* error_code_for(int status);

/// Turns an escaped exception into a 503 "unavailable" and logs it; never
/// throws (it runs inside catch blocks of noexcept functions).
void answer_internal_error(const httplib::Request& req,
                           httplib::Response& res, const char* what) noexcept;

/// An optional field of a response: its value, or null when absent.
template <class T>
ojson value_or_null(const std::optional<T>& x) {
  return x ? ojson(*x) : ojson(nullptr);
}

/// An optional instant (ms since epoch) as RFC 3339, or null when absent.
ojson time_or_null(const std::optional<int64_t>& ms);

/// Serialized size of `item` plus a separator, in bytes.
size_t json_size(const ojson& item);

// --- request pieces ---------------------------------------------------------

/// errc::invalid_request with `detail`.
caf::error bad(std::string detail);

/// A percent-decoded path segment validated as an identifier `field`
/// (domain::strict::check_id).
caf::expected<std::string> decode_id(const char* field, std::string_view raw);

/// Decoded query parameters by name.
using query_params = std::map<std::string, std::string>;

/// The decoded query parameters of `target`; only `allowed` names, each
/// at most once (else a 400 detail naming the allowed ones).
caf::expected<query_params>
parse_query(std::string_view target,
            std::initializer_list<std::string_view> allowed);

/// Query parameter `name` (decoded), ignoring the others; errors when
/// absent, repeated or badly encoded.
caf::expected<std::string> query_param(std::string_view target,
                                       std::string_view name);

/// A small non-negative decimal integer (at most 6 digits, digits only),
/// else nullopt.
std::optional<int> parse_small_int(const std::string& s);

/// Integer parameter `name` of `q` in [lo, hi], `fallback` when absent.
/// Error detail: "<name> must be an integer between <lo> and <hi>".
caf::expected<int> int_param(const query_params& q, const char* name, int lo,
                             int hi, int fallback);

/// An instant given as RFC 3339 or integer epoch ms (optionally
/// negative), in years 0000-9999. Error detail: "<field> must be an RFC
/// 3339 timestamp or integer epoch ms, got \"...\"".
caf::expected<int64_t> parse_instant(const char* field, const std::string& s);

/// What read_body() got.
struct body_result {
  std::string data;
  bool too_large = false;
  bool failed = false;
  bool multipart = false;
};

/// Reads (and, unless `keep`, discards) a request body, never more than
/// `limit` bytes. Always reading keeps keep-alive connections in sync; the
/// limit also covers chunked and compressed bodies, which httplib's own
/// payload limit does not.
body_result read_body(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, size_t limit,
                      bool keep);

} // namespace agentmem::api::http
