#include "api/server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/codec.hpp"
#include "api/rate_limiter.hpp"
#include "domain/timestamp.hpp"
#include "api/search_request.hpp"
#include "messages/errc.hpp"

namespace agentmem::api {

namespace {

using ojson = nlohmann::ordered_json;
using steady = std::chrono::steady_clock;

/// Longest session history a client may ask for.
constexpr int max_message_limit = 50;
/// Longest usage window, in days, both ends included.
constexpr int64_t max_usage_days = 366;
/// Deepest metadata JSON we re-embed in search hits (it comes from events).
constexpr size_t max_metadata_depth = 64;

// --- routing ----------------------------------------------------------------

enum class route_id : size_t {
  unmatched,
  search,
  session_messages,
  usage,
  healthz,
  readyz,
  metrics,
  memory_history,
  working_memory,
  facts,
  entities,
  entity_neighbors,
  user,        // DELETE /v1/users/{user_id}
  user_export, // GET /v1/users/{user_id}/export
  count_ // number of routes
};

constexpr size_t route_count = static_cast<size_t>(route_id::count_);

// Metric label of a route: the path template, so cardinality stays bounded.
const char* route_label(route_id id) {
  switch (id) {
    case route_id::search: return "/v1/memories/search";
    case route_id::session_messages:
      return "/v1/sessions/{session_id}/messages";
    case route_id::usage: return "/v1/users/{user_id}/usage";
    case route_id::healthz: return "/healthz";
    case route_id::readyz: return "/readyz";
    case route_id::metrics: return "/metrics";
    case route_id::memory_history:
      return "/v1/memories/{memory_id}/history";
    case route_id::working_memory:
      return "/v1/sessions/{session_id}/working-memory";
    case route_id::facts: return "/v1/users/{user_id}/facts";
    case route_id::entities: return "/v1/users/{user_id}/entities";
    case route_id::entity_neighbors:
      return "/v1/users/{user_id}/entities/{entity_id}/neighbors";
    case route_id::user: return "/v1/users/{user_id}";
    case route_id::user_export: return "/v1/users/{user_id}/export";
    default: return "unmatched";
  }
}

const char* allowed_methods(route_id id) {
  if (id == route_id::user)
    return "DELETE";
  if (id == route_id::user_export)
    return "GET";
  return id == route_id::search ? "POST" : "GET, HEAD";
}

bool method_allowed(route_id id, const std::string& method) {
  if (id == route_id::search)
    return method == "POST";
  if (id == route_id::user)
    return method == "DELETE";
  if (id == route_id::user_export)
    return method == "GET";
  return method == "GET" || method == "HEAD";
}

struct route_match {
  route_id id = route_id::unmatched;
  std::string_view raw_param; ///< still percent-encoded
  std::string_view raw_param2; ///< second path parameter (entity_id)

  route_match() = default;
  route_match(route_id i, std::string_view p, std::string_view p2 = {})
    : id(i), raw_param(p), raw_param2(p2) {
  }
};

// --- access policy ----------------------------------------------------------
//
// Every route declares here who may call it and where its user_id comes
// from; dispatch() authenticates, rate-limits and checks the tenant in one
// place before any handler runs, and hands the verified user_id to the
// handler. A new route only adds a row. Routes without a row are admin-only.

enum class access {
  open,  ///< no token (ops endpoints)
  user,  ///< a token whose scope allows the request's user_id
  admin, ///< an admin token
};

/// Where the user_id a request acts on comes from.
enum class user_source {
  none,  ///< not user-specific (with access::user: any valid token)
  path,  ///< the route's {user_id} path segment (route_match::raw_param)
  query, ///< query parameter user_id
  body,  ///< top-level "user_id" string of the JSON request body
};

struct route_policy {
  access acc;
  user_source src;
};

route_policy policy_of(route_id id) {
  switch (id) {
    case route_id::search: return {access::user, user_source::body};
    case route_id::session_messages: return {access::user, user_source::query};
    case route_id::usage:
    case route_id::facts:
    case route_id::entities:
    case route_id::entity_neighbors:
    case route_id::user:
    case route_id::user_export: return {access::user, user_source::path};
    case route_id::memory_history:
    case route_id::working_memory: return {access::user, user_source::query};
    case route_id::healthz:
    case route_id::readyz:
    case route_id::metrics: return {access::open, user_source::none};
    default: return {access::admin, user_source::none};
  }
}

bool is_ops_route(route_id id) {
  return id == route_id::healthz || id == route_id::readyz
         || id == route_id::metrics;
}

// The path part of a request target ("/a/b?x=1" -> "/a/b").
std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  auto rest = target.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

// We route on the raw target, not httplib's decoded req.path, so that an
// encoded '/' (%2F) inside a session or user id stays inside its segment.
route_match match_route(std::string_view target) {
  auto path = path_of(target);
  if (path.empty() || path.front() != '/')
    return {};
  std::vector<std::string_view> seg;
  size_t pos = 1;
  while (seg.size() <= 6) {
    auto next = path.find('/', pos);
    seg.push_back(path.substr(pos, next == std::string_view::npos
                                       ? std::string_view::npos
                                       : next - pos));
    if (next == std::string_view::npos)
      break;
    pos = next + 1;
  }
  if (seg.size() > 6)
    return {};
  if (seg.size() == 1) {
    if (seg[0] == "healthz")
      return {route_id::healthz, {}};
    if (seg[0] == "readyz")
      return {route_id::readyz, {}};
    if (seg[0] == "metrics")
      return {route_id::metrics, {}};
    return {};
  }
  if (seg[0] != "v1")
    return {};
  if (seg.size() == 3 && seg[1] == "memories" && seg[2] == "search")
    return {route_id::search, {}};
  if (seg.size() == 4 && seg[1] == "sessions" && seg[3] == "messages")
    return {route_id::session_messages, seg[2]};
  if (seg.size() == 4 && seg[1] == "users" && seg[3] == "usage")
    return {route_id::usage, seg[2]};
  if (seg.size() == 4 && seg[1] == "memories" && seg[3] == "history")
    return {route_id::memory_history, seg[2]};
  if (seg.size() == 4 && seg[1] == "sessions" && seg[3] == "working-memory")
    return {route_id::working_memory, seg[2]};
  if (seg.size() == 4 && seg[1] == "users" && seg[3] == "facts")
    return {route_id::facts, seg[2]};
  if (seg.size() == 4 && seg[1] == "users" && seg[3] == "entities")
    return {route_id::entities, seg[2]};
  if (seg.size() == 6 && seg[1] == "users" && seg[3] == "entities"
      && seg[5] == "neighbors")
    return {route_id::entity_neighbors, seg[2], seg[4]};
  if (seg.size() == 4 && seg[1] == "users" && seg[3] == "export")
    return {route_id::user_export, seg[2]};
  if (seg.size() == 3 && seg[1] == "users")
    return {route_id::user, seg[2]};
  return {};
}

// --- responses --------------------------------------------------------------

std::string clip(std::string_view s, size_t n = 200) {
  if (s.size() <= n)
    return std::string{s};
  return std::string{s.substr(0, n)} + "...";
}

void send_json(httplib::Response& res, int status, const ojson& body) {
  res.status = status;
  // Strings from the backend may hold invalid UTF-8; replace, don't throw.
  res.set_content(body.dump(-1, ' ', false, ojson::error_handler_t::replace),
                  "application/json");
}

void send_error(httplib::Response& res, int status, const char* code,
                const std::string& detail) {
  ojson body = ojson::object();
  body["error"] = code;
  body["detail"] = detail;
  send_json(res, status, body);
}

// The detail string a make_error() carried, or the code's name.
std::string detail_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  if (err.category() == errc_category)
    return to_string(static_cast<errc>(err.code()));
  return describe(err);
}

// backend.hpp: invalid_request -> 400, not_found -> 404, else 503.
void send_backend_error(httplib::Response& res, const caf::error& err) {
  if (err && err.category() == errc_category) {
    switch (static_cast<errc>(err.code())) {
      case errc::invalid_request:
        return send_error(res, 400, "bad_request", detail_of(err));
      case errc::not_found:
        return send_error(res, 404, "not_found", detail_of(err));
      default:
        break;
    }
  }
  res.set_header("Retry-After", "1");
  send_error(res, 503, "unavailable", describe(err));
}

// 400 with the detail `err` carries (a request piece that did not parse).
void send_bad_request(httplib::Response& res, const caf::error& err) {
  send_error(res, 400, "bad_request", detail_of(err));
}

// 403 of a handler's permits() re-check.
void send_forbidden_user(httplib::Response& res) {
  send_error(res, 403, "forbidden", "the token may not access this user_id");
}

// Error code for responses httplib produced on its own (bad request line,
// oversized Content-Length, URI too long).
const char* error_code_for(int status) {
  switch (status) {
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    default: return status >= 500 ? "unavailable" : "bad_request";
  }
}

// --- request pieces ---------------------------------------------------------

caf::error bad(std::string detail) {
  return make_error(errc::invalid_request, std::move(detail));
}

caf::expected<std::string> decode_id(const char* field, std::string_view raw) {
  auto decoded = percent_decode(raw, false);
  if (!decoded)
    return bad(std::string{field} + " has an invalid percent-encoding");
  if (auto err = check_id(field, *decoded))
    return err;
  return std::move(*decoded);
}

using query_params = std::map<std::string, std::string>;

// Decoded query parameters; only `allowed` keys, each at most once.
caf::expected<query_params>
parse_query(std::string_view target,
            std::initializer_list<std::string_view> allowed) {
  query_params out;
  auto q = query_of(target);
  size_t pos = 0;
  while (pos <= q.size()) {
    auto amp = q.find('&', pos);
    auto piece = q.substr(pos, amp == std::string_view::npos ? amp : amp - pos);
    pos = amp == std::string_view::npos ? q.size() + 1 : amp + 1;
    if (piece.empty())
      continue;
    auto eq = piece.find('=');
    auto key = percent_decode(piece.substr(0, eq), true);
    auto val = percent_decode(
      eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1),
      true);
    if (!key || !val)
      return bad("query string has an invalid percent-encoding");
    if (std::find(allowed.begin(), allowed.end(), *key) == allowed.end()) {
      std::string names;
      for (auto a : allowed)
        names += (names.empty() ? "" : ", ") + std::string{a};
      return bad("unknown query parameter '" + clip(*key, 64)
                 + "'; allowed: " + names);
    }
    if (!out.emplace(std::move(*key), std::move(*val)).second)
      return bad("query parameter '" + std::string{piece.substr(0, eq)}
                 + "' given more than once");
  }
  return out;
}

// A small positive decimal integer (digits only), else nullopt.
std::optional<int> parse_small_int(const std::string& s) {
  if (s.empty() || s.size() > 6)
    return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// A hit's metadata as a JSON object; {} when empty, malformed, too deep or
// not an object (the response shape promises an object).
ojson metadata_object(const std::string& text) {
  if (text.empty() || json_nesting_depth(text, max_metadata_depth)
                        > max_metadata_depth)
    return ojson::object();
  auto j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return ojson::object();
  return j;
}

// An optional field of a response: its value, or null when absent.
template <class T>
ojson value_or_null(const std::optional<T>& x) {
  return x ? ojson(*x) : ojson(nullptr);
}

// An optional instant (ms since epoch) as RFC 3339, or null when absent.
ojson time_or_null(const std::optional<int64_t>& ms) {
  return ms ? ojson(domain::format_rfc3339_ms(*ms)) : ojson(nullptr);
}

// A buffered session message as the session_messages route shows it.
ojson message_json(const buffered_message& msg) {
  return ojson{{"event_id", msg.event_id},
               {"ts", domain::format_rfc3339_ms(msg.ts_ms)},
               {"role", msg.role},
               {"agent_name", msg.agent_name},
               {"content", msg.content}};
}

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

struct body_result {
  std::string data;
  bool too_large = false;
  bool failed = false;
  bool multipart = false;
};

// Reads (and, unless `keep`, discards) a request body, never more than
// `limit` bytes. Always reading keeps keep-alive connections in sync; the
// limit also covers chunked and compressed bodies, which httplib's own
// payload limit does not.
body_result read_body(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, size_t limit,
                      bool keep) {
  body_result out;
  size_t total = 0;
  auto receive = [&](const char* data, size_t n) {
    if (n > limit - std::min(total, limit)) {
      out.too_large = true;
      return false;
    }
    total += n;
    if (keep)
      out.data.append(data, n);
    return true;
  };
  bool ok;
  if (req.is_multipart_form_data()) {
    out.multipart = true;
    ok = reader([](const httplib::MultipartFormData&) { return true; },
                receive);
  } else {
    ok = reader(receive);
  }
  if (res.status == 413) // httplib saw a Content-Length above the limit
    out.too_large = true;
  if (!ok && !out.too_large)
    out.failed = true;
  res.status = -1;
  return out;
}

// --- access checks ----------------------------------------------------------

/// What authorize() established for a request.
struct access_grant {
  const token_entry* token = nullptr; ///< null only on open routes
  std::string user_id;                ///< the checked user_id, if any
  bool user_checked = false;          ///< user_id was read and allowed
  /// A read forwarded by another node: the caller's scope it passed along
  /// (`token` points here), the partitions to answer from, the hops.
  std::optional<token_entry> forwarded;
  std::vector<int32_t> partitions;
  int hops = 0;
};

/// The context of a routed read: how it travelled, who asked, and the
/// request as received (for forwarding it on).
read_context read_context_of(const access_grant& g, const httplib::Request& req,
                             const std::string& body) {
  read_context ctx;
  ctx.hops = g.hops;
  ctx.partitions = g.partitions;
  ctx.scope = g.token ? scope_text(*g.token) : std::string{"admin"};
  ctx.method = req.method;
  ctx.target = req.target;
  ctx.body = body;
  return ctx;
}

/// Sends another node's answer to a forwarded read as it is.
void relay(httplib::Response& res, const relayed_reply& r) {
  res.status = r.status;
  if (!r.retry_after.empty())
    res.set_header("Retry-After", r.retry_after);
  res.set_content(r.body, r.content_type.empty() ? "application/json"
                                                 : r.content_type.c_str());
}

/// Adds "stale" and "lag_ms" to an answer read (partly) from Postgres alone.
void mark_freshness(ojson& out, const read_freshness& f) {
  if (!f.stale)
    return;
  out["stale"] = true;
  out["lag_ms"] = f.lag_ms;
}

/// The request's token may act on `uid` -- and `uid` is the user_id the
/// central check saw (handlers call this right before the backend).
bool permits(const access_grant& g, const std::string& uid) {
  return g.token && g.token->allows(uid)
         && (!g.user_checked || g.user_id == uid);
}

/// The user_id `uid` a handler read, re-checked with permits(); nullopt
/// once the 400 (`uid` is an error) or the 403 is sent.
std::optional<std::string> permitted_user(caf::expected<std::string> uid,
                                          const access_grant& grant,
                                          httplib::Response& res) {
  if (!uid) {
    send_bad_request(res, uid.error());
    return std::nullopt;
  }
  if (!permits(grant, *uid)) {
    send_forbidden_user(res);
    return std::nullopt;
  }
  return std::move(*uid);
}

// Query parameter `name` (decoded); errors when absent, repeated or
// badly encoded.
caf::expected<std::string> query_param(std::string_view target,
                                       std::string_view name) {
  auto q = query_of(target);
  std::optional<std::string> found;
  size_t pos = 0;
  while (pos <= q.size()) {
    auto amp = q.find('&', pos);
    auto piece = q.substr(pos, amp == std::string_view::npos ? amp : amp - pos);
    pos = amp == std::string_view::npos ? q.size() + 1 : amp + 1;
    if (piece.empty())
      continue;
    auto eq = piece.find('=');
    auto key = percent_decode(piece.substr(0, eq), true);
    if (!key)
      return bad("query string has an invalid percent-encoding");
    if (*key != name)
      continue;
    auto val = percent_decode(
      eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1),
      true);
    if (!val)
      return bad("query string has an invalid percent-encoding");
    if (found)
      return bad("query parameter '" + std::string{name}
                 + "' given more than once");
    found = std::move(*val);
  }
  if (!found)
    return bad("query parameter " + std::string{name} + " is required");
  return std::move(*found);
}

// The top-level "user_id" string of a JSON object body.
caf::expected<std::string> body_user_id(const std::string& body) {
  if (json_nesting_depth(body, max_metadata_depth) > max_metadata_depth)
    return bad("request body is nested too deeply");
  int seen = 0;
  auto cb = [&seen](int depth, ojson::parse_event_t ev, ojson& parsed) {
    if (depth == 1 && ev == ojson::parse_event_t::key && parsed.is_string()
        && parsed.get_ref<const std::string&>() == "user_id")
      ++seen;
    return true;
  };
  auto j = ojson::parse(body, cb, /*allow_exceptions=*/false);
  if (!j.is_object())
    return bad("request body must be a JSON object");
  if (seen > 1)
    return bad("duplicate field 'user_id'");
  auto it = j.find("user_id");
  if (it == j.end() || !it->is_string())
    return bad("user_id is required and must be a string");
  return it->get<std::string>();
}

// The user_id a request acts on, read from where its route declares it.
caf::expected<std::string> user_id_of(const httplib::Request& req,
                                      const route_match& m, user_source src,
                                      const std::string& body) {
  caf::expected<std::string> uid{std::string{}};
  switch (src) {
    case user_source::path:
      return decode_id("user_id", m.raw_param);
    case user_source::query: uid = query_param(req.target, "user_id"); break;
    case user_source::body: uid = body_user_id(body); break;
    case user_source::none: return bad("this route has no user_id");
  }
  if (!uid)
    return uid;
  if (auto err = check_id("user_id", *uid))
    return err;
  return uid;
}

// Turns an escaped exception into a 503; must not throw itself (it runs
// inside catch blocks of a noexcept function).
void answer_internal_error(const httplib::Request& req, httplib::Response& res,
                           const char* what) noexcept {
  try {
    spdlog::error("api: {} {} failed: {}", req.method, clip(req.path, 100),
                  what);
  } catch (...) {
  }
  try {
    res.headers.clear();
    send_error(res, 503, "unavailable",
               "internal error while handling the request");
  } catch (...) {
    res.status = 503;
  }
}

} // namespace

// --- the server -------------------------------------------------------------

struct http_server::impl {
  impl(server_config c, backend& b, metrics::registry& r)
    : cfg(std::move(c)),
      be(b),
      reg(r),
      search_latency(reg.get_histogram(
        "agentmem_search_latency_seconds",
        "Time the backend took to answer a memory search, in seconds",
        metrics::latency_buckets())) {
    for (size_t i = 0; i < route_count; ++i)
      durations[i] = &reg.get_histogram(
        "agentmem_http_request_duration_seconds",
        "Time to handle an HTTP request, by route, in seconds",
        metrics::latency_buckets(),
        {{"route", route_label(static_cast<route_id>(i))}});
  }

  server_config cfg;
  backend& be;
  metrics::registry& reg;
  metrics::histogram& search_latency;
  std::array<metrics::histogram*, route_count> durations{};
  authenticator auth{cfg.auth.tokens};
  rate_limiter limiter{cfg.rate_limit_per_s, cfg.rate_limit_burst};
  /// The principal of every request when cfg.auth.disabled.
  token_entry anonymous{"anonymous", {}, token_scope_kind::admin, {}, {}};

  std::mutex lifecycle; // serializes start() and stop()
  std::unique_ptr<httplib::Server> svr;
  std::thread listener;
  std::unique_ptr<httplib::Server> ops_svr; // cfg.ops_listener only
  std::thread ops_listener;
  std::atomic<uint16_t> ops_bound{0};

  void handle(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader* reader, bool on_ops) noexcept;
  void dispatch(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader* reader, const route_match& m,
                bool on_ops);
  void on_search(const httplib::Request& http, const std::string& body,
                 const access_grant& grant, httplib::Response& res);
  void on_session_messages(const httplib::Request& req, const route_match& m,
                           const access_grant& grant, httplib::Response& res);
  void on_usage(const httplib::Request& req, const route_match& m,
                const access_grant& grant, httplib::Response& res);
  bool authorize(const httplib::Request& req, httplib::Response& res,
                 const route_match& m, const std::string& body,
                 access_grant& grant);
  void reject(httplib::Response& res, int status, const char* code,
              const char* reason, const std::string& token,
              const std::string& detail);
  void on_facts(const httplib::Request& req, const route_match& m,
                const access_grant& grant, httplib::Response& res);
  void on_entities(const httplib::Request& req, const route_match& m,
                   const access_grant& grant, httplib::Response& res);
  void on_neighbors(const httplib::Request& req, const route_match& m,
                    const access_grant& grant, httplib::Response& res);
  void on_readyz(httplib::Response& res);
  void on_memory_history(const httplib::Request& req, const route_match& m,
                         const access_grant& grant, httplib::Response& res);
  void on_working_memory(const httplib::Request& req, const route_match& m,
                         const access_grant& grant, httplib::Response& res);
  caf::expected<std::string> required_user_id(const httplib::Request& req);
  /// The decoded path id `field` and the `user_id` query parameter,
  /// re-checked with permits(); nullopt once a 400 or 403 is sent.
  std::optional<std::pair<std::string, std::string>>
  path_id_and_user(const char* field, const httplib::Request& req,
                   const route_match& m, const access_grant& grant,
                   httplib::Response& res);
  void on_delete_user(const route_match& m, const access_grant& grant,
                      httplib::Response& res);
  void on_export_user(const route_match& m, const access_grant& grant,
                      httplib::Response& res);
  void count(const httplib::Request& req, const httplib::Response& res)
    noexcept;
  void configure(httplib::Server& s, bool on_ops);
  /// Adds the serialized size of `item` (plus a separator) to `used`;
  /// false (and `used` unchanged) when that would pass
  /// cfg.max_response_bytes.
  bool fits(size_t& used, const ojson& item) const {
    auto n = item.dump(-1, ' ', false, ojson::error_handler_t::replace).size()
             + 1;
    if (used + n > cfg.max_response_bytes)
      return false;
    used += n;
    return true;
  }
  caf::expected<uint16_t> launch(std::unique_ptr<httplib::Server>& out,
                                 std::thread& thread, const std::string& host,
                                 uint16_t port, bool on_ops);
};

void http_server::impl::reject(httplib::Response& res, int status,
                               const char* code, const char* reason,
                               const std::string& token,
                               const std::string& detail) {
  reg
    .get_counter("agentmem_http_rejected_total",
                 "HTTP requests refused before reaching a handler, by reason "
                 "and token name",
                 {{"reason", reason}, {"token", token}})
    .inc();
  send_error(res, status, code, detail);
}

bool http_server::impl::authorize(const httplib::Request& req,
                                  httplib::Response& res,
                                  const route_match& m,
                                  const std::string& body,
                                  access_grant& grant) {
  auto pol = policy_of(m.id);
  if (pol.acc == access::open)
    return true;
  const token_entry* tok = &anonymous;
  if (req.has_header(forward_headers::credential)) {
    // A read another node forwarded: it checked the caller's token and
    // passes its scope along; the node credential proves it is a node.
    // (The credential is never logged or echoed.)
    if (cfg.node_secret.empty()
        || !same_secret(req.get_header_value(forward_headers::credential),
                        cfg.node_secret)) {
      reject(res, 401, "unauthorized", "unauthenticated", "none",
             "the node credential of a forwarded read is not valid");
      return false;
    }
    auto scope = scope_entry(req.get_header_value(forward_headers::scope),
                             "forwarded");
    auto parts = parse_partitions(
      req.get_header_value(forward_headers::partitions));
    auto hops = parse_small_int(req.get_header_value(forward_headers::hops));
    if (!scope || !parts || !hops || *hops < 1) {
      send_error(res, 400, "bad_request",
                 "a forwarded read needs its scope, partitions and hops");
      return false;
    }
    grant.forwarded = std::move(*scope);
    grant.partitions = std::move(*parts);
    grant.hops = *hops;
    tok = &*grant.forwarded;
  } else if (!cfg.auth.disabled) {
    auto n = req.get_header_value_count("Authorization");
    std::string header = n == 1 ? req.get_header_value("Authorization") : "";
    auto token = bearer_token(header);
    if (token.empty()) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"agentmem\"");
      reject(res, 401, "unauthorized", "unauthenticated", "none",
             "this endpoint needs one 'Authorization: Bearer <token>' header");
      return false;
    }
    tok = auth.authenticate(token);
    if (!tok) {
      res.set_header("WWW-Authenticate",
                     "Bearer realm=\"agentmem\", error=\"invalid_token\"");
      reject(res, 401, "unauthorized", "unauthenticated", "none",
             "the bearer token is not valid");
      return false;
    }
  }
  reg
    .get_counter("agentmem_http_authenticated_requests_total",
                 "HTTP requests with a valid token, by token name",
                 {{"token", tok->name}})
    .inc();
  // A forwarded read was rate-limited by the node the client called.
  if (int wait = grant.forwarded ? 0 : limiter.acquire(tok->name)) {
    res.set_header("Retry-After", std::to_string(wait));
    reject(res, 429, "rate_limited", "rate_limited", tok->name,
           "token " + tok->name + " exceeded its rate limit; retry after "
             + std::to_string(wait) + " s");
    return false;
  }
  if (pol.acc == access::admin && !tok->is_admin()) {
    reject(res, 403, "forbidden", "forbidden", tok->name,
           "token " + tok->name + " is not an admin token");
    return false;
  }
  grant.token = tok;
  if (pol.src == user_source::none)
    return true;
  auto uid = user_id_of(req, m, pol.src, body);
  if (!uid) {
    // Admin tokens may touch any user: the handler gives the precise 400.
    if (tok->is_admin())
      return true;
    send_bad_request(res, uid.error());
    return false;
  }
  if (!tok->allows(*uid)) {
    reject(res, 403, "forbidden", "forbidden", tok->name,
           "token " + tok->name + " may not access user_id \""
             + clip(*uid, 64) + "\"");
    return false;
  }
  grant.user_id = std::move(*uid);
  grant.user_checked = true;
  return true;
}

void http_server::impl::handle(const httplib::Request& req,
                               httplib::Response& res,
                               const httplib::ContentReader* reader,
                               bool on_ops) noexcept {
  auto t0 = steady::now();
  route_match m;
  try {
    m = match_route(req.target);
    dispatch(req, res, reader, m, on_ops);
  } catch (const std::exception& e) {
    answer_internal_error(req, res, e.what());
  } catch (...) {
    answer_internal_error(req, res, "non-standard exception");
  }
  durations[static_cast<size_t>(m.id)]->observe(seconds_since(t0));
}

void http_server::impl::dispatch(const httplib::Request& req,
                                 httplib::Response& res,
                                 const httplib::ContentReader* reader,
                                 const route_match& m, bool on_ops) {
  body_result body;
  bool wants_body = m.id == route_id::search && req.method == "POST";
  // RFC 9112 6.3: without Content-Length or Transfer-Encoding a request has
  // no body; httplib would instead read until the client closes (or the
  // read timeout), holding a worker for nothing.
  bool has_body =
    req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
  if (reader && has_body)
    body = read_body(req, res, *reader, cfg.max_body_bytes, wants_body);
  // With a separate ops listener, each listener serves only its half.
  if (m.id == route_id::unmatched
      || (cfg.ops_listener && is_ops_route(m.id) != on_ops))
    return send_error(res, 404, "not_found",
                      "no such endpoint: " + clip(path_of(req.target)));
  if (!method_allowed(m.id, req.method)) {
    res.set_header("Allow", allowed_methods(m.id));
    return send_error(res, 405, "method_not_allowed",
                      "method " + clip(req.method, 16) + " not allowed on "
                        + route_label(m.id) + "; allowed: "
                        + allowed_methods(m.id));
  }
  if (body.too_large)
    return reject(res, 413, "payload_too_large", "payload_too_large", "none",
                      "request body exceeds "
                        + std::to_string(cfg.max_body_bytes) + " bytes");
  if (body.failed)
    return send_error(res, 400, "bad_request",
                      "could not read the request body");
  if (body.multipart && m.id == route_id::search)
    return send_error(res, 400, "bad_request",
                      "multipart bodies are not accepted; send a JSON "
                      "object");
  access_grant grant;
  if (!authorize(req, res, m, body.data, grant))
    return;
  switch (m.id) {
    case route_id::search:
      return on_search(req, body.data, grant, res);
    case route_id::session_messages:
      return on_session_messages(req, m, grant, res);
    case route_id::usage:
      return on_usage(req, m, grant, res);
    case route_id::memory_history:
      return on_memory_history(req, m, grant, res);
    case route_id::working_memory:
      return on_working_memory(req, m, grant, res);
    case route_id::user:
      return on_delete_user(m, grant, res);
    case route_id::user_export:
      return on_export_user(m, grant, res);
    case route_id::healthz:
      return send_json(res, 200, ojson{{"status", "ok"}});
    case route_id::readyz:
      return on_readyz(res);
    case route_id::metrics:
      res.status = 200;
      res.set_content(reg.render(), "text/plain; version=0.0.4; charset=utf-8");
      return;
    case route_id::facts:
      return on_facts(req, m, grant, res);
    case route_id::entities:
      return on_entities(req, m, grant, res);
    case route_id::entity_neighbors:
      return on_neighbors(req, m, grant, res);
    default:
      return send_error(res, 404, "not_found", "no such endpoint");
  }
}

void http_server::impl::on_search(const httplib::Request& http,
                                  const std::string& body,
                                  const access_grant& grant,
                                  httplib::Response& res) {
  auto req = parse_search_request(body);
  if (!req)
    return send_bad_request(res, req.error());
  if (!permits(grant, req->user_id))
    return send_forbidden_user(res);
  auto ctx = read_context_of(grant, http, body);
  {
    auto routed = be.route_read(routed_read::search, req->user_id, ctx);
    if (!routed)
      return send_backend_error(res, routed.error());
    if (*routed)
      return relay(res, **routed);
  }
  auto t0 = steady::now();
  // Observe failed and throwing searches too: slow failures matter most.
  struct observer {
    metrics::histogram& h;
    steady::time_point t0;
    ~observer() {
      h.observe(seconds_since(t0));
    }
  };
  auto answer = [&] {
    observer obs{search_latency, t0};
    return be.routed_search(*req, ctx);
  }();
  if (!answer)
    return send_backend_error(res, answer.error());
  auto* hits = &answer->hits;
  auto took_ms = std::llround(seconds_since(t0) * 1000.0);
  auto n = std::min(hits->size(), static_cast<size_t>(req->top_k));
  ojson results = ojson::array();
  size_t bytes = 0;
  bool truncated = false;
  for (size_t i = 0; i < n && !truncated; ++i) {
    auto& h = (*hits)[i];
    ojson r = ojson::object();
    r["memory_id"] = h.memory_id;
    r["score"] = h.score;
    r["memory_type"] = h.memory_type;
    r["text"] = h.text;
    r["user_id"] = h.user_id;
    r["session_id"] = h.session_id;
    r["event_id"] = h.event_id;
    r["ts"] = domain::format_rfc3339_ms(h.ts_ms);
    r["metadata"] = metadata_object(h.metadata_json);
    if (req->neighbors > 0) {
      auto turns = [](const std::vector<context_turn>& ts) {
        ojson a = ojson::array();
        for (auto& t : ts) {
          ojson o = ojson::object();
          o["memory_id"] = t.memory_id;
          o["event_id"] = t.event_id;
          o["ts"] = domain::format_rfc3339_ms(t.ts_ms);
          o["text"] = t.text;
          a.push_back(std::move(o));
        }
        return a;
      };
      ojson ctx = ojson::object();
      ctx["before"] = turns(h.context_before);
      ctx["after"] = turns(h.context_after);
      r["context"] = std::move(ctx);
    }
    if (!fits(bytes, r)) {
      truncated = true;
      break;
    }
    results.push_back(std::move(r));
  }
  ojson out = ojson::object();
  out["results"] = std::move(results);
  out["took_ms"] = took_ms;
  if (truncated)
    out["truncated"] = true;
  mark_freshness(out, answer->freshness);
  send_json(res, 200, out);
}

void http_server::impl::on_session_messages(const httplib::Request& req,
                                            const route_match& m,
                                            const access_grant& grant,
                                            httplib::Response& res) {
  auto session_id = decode_id("session_id", m.raw_param);
  if (!session_id)
    return send_bad_request(res, session_id.error());
  auto q = parse_query(req.target, {"user_id", "limit"});
  if (!q)
    return send_bad_request(res, q.error());
  auto uid = q->find("user_id");
  if (uid == q->end())
    return send_error(res, 400, "bad_request",
                      "query parameter user_id is required");
  if (auto err = check_id("user_id", uid->second))
    return send_bad_request(res, err);
  int limit = max_message_limit;
  if (auto l = q->find("limit"); l != q->end()) {
    auto v = parse_small_int(l->second);
    if (!v || *v < 1 || *v > max_message_limit)
      return send_error(res, 400, "bad_request",
                        "limit must be an integer between 1 and "
                          + std::to_string(max_message_limit));
    limit = *v;
  }
  if (!permits(grant, uid->second))
    return send_forbidden_user(res);
  auto ctx = read_context_of(grant, req, {});
  {
    auto routed =
      be.route_read(routed_read::session_messages, uid->second, ctx);
    if (!routed)
      return send_backend_error(res, routed.error());
    if (*routed)
      return relay(res, **routed);
  }
  auto answer = be.routed_session_messages(uid->second, *session_id, limit,
                                           ctx);
  if (!answer)
    return send_backend_error(res, answer.error());
  auto* msgs = &answer->messages;
  // The most recent `limit`, oldest first, even if the backend sent more.
  auto first = msgs->size() > static_cast<size_t>(limit)
                 ? msgs->size() - static_cast<size_t>(limit)
                 : size_t{0};
  // When the newest messages do not all fit max_response_bytes, the
  // oldest of them are left out (they come first in the list).
  size_t bytes = 0;
  std::vector<ojson> newest_first;
  for (size_t i = msgs->size(); i > first; --i) {
    auto j = message_json((*msgs)[i - 1]);
    if (!fits(bytes, j))
      break;
    newest_first.push_back(std::move(j));
  }
  bool truncated = newest_first.size() < msgs->size() - first;
  ojson list = ojson::array();
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it)
    list.push_back(std::move(*it));
  ojson out = ojson::object();
  out["session_id"] = *session_id;
  out["user_id"] = uid->second;
  out["messages"] = std::move(list);
  if (truncated)
    out["truncated"] = true;
  mark_freshness(out, answer->freshness);
  send_json(res, 200, out);
}

void http_server::impl::on_usage(const httplib::Request& req,
                                 const route_match& m,
                                 const access_grant& grant,
                                 httplib::Response& res) {
  auto user_id = decode_id("user_id", m.raw_param);
  if (!user_id)
    return send_bad_request(res, user_id.error());
  auto q = parse_query(req.target, {"from", "to"});
  if (!q)
    return send_bad_request(res, q.error());
  auto from = q->find("from");
  auto to = q->find("to");
  if (from == q->end() || to == q->end())
    return send_error(res, 400, "bad_request",
                      "query parameters from and to (YYYY-MM-DD) are "
                      "required");
  auto from_day = domain::parse_day(from->second);
  if (!from_day)
    return send_error(res, 400, "bad_request",
                      "from must be a date YYYY-MM-DD, got \""
                        + clip(from->second, 32) + "\"");
  auto to_day = domain::parse_day(to->second);
  if (!to_day)
    return send_error(res, 400, "bad_request",
                      "to must be a date YYYY-MM-DD, got \""
                        + clip(to->second, 32) + "\"");
  if (*from_day > *to_day)
    return send_error(res, 400, "bad_request", "from must not be after to");
  if (*to_day - *from_day + 1 > max_usage_days)
    return send_error(res, 400, "bad_request",
                      "the range from..to may span at most "
                        + std::to_string(max_usage_days) + " days");
  if (!permits(grant, *user_id))
    return send_forbidden_user(res);
  auto rows = be.usage(*user_id, from->second, to->second);
  if (!rows)
    return send_backend_error(res, rows.error());
  ojson days = ojson::array();
  for (auto& r : *rows) {
    ojson j = ojson::object();
    j["day"] = r.day;
    j["agent_type"] = r.agent_type;
    j["activity_count"] = r.activity_count;
    j["error_count"] = r.error_count;
    j["total_processing_time_ms"] = r.total_processing_time_ms;
    j["tokens_used"] = r.tokens_used;
    j["files_uploaded"] = r.files_uploaded;
    days.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["from"] = from->second;
  out["to"] = to->second;
  out["days"] = std::move(days);
  send_json(res, 200, out);
}

// The `user_id` query parameter (the only one these routes take).
caf::expected<std::string>
http_server::impl::required_user_id(const httplib::Request& req) {
  auto q = parse_query(req.target, {"user_id"});
  if (!q)
    return q.error();
  auto uid = q->find("user_id");
  if (uid == q->end())
    return make_error(errc::invalid_request,
                      "query parameter user_id is required");
  if (auto err = check_id("user_id", uid->second))
    return err;
  return uid->second;
}

std::optional<std::pair<std::string, std::string>>
http_server::impl::path_id_and_user(const char* field,
                                    const httplib::Request& req,
                                    const route_match& m,
                                    const access_grant& grant,
                                    httplib::Response& res) {
  auto id = decode_id(field, m.raw_param);
  if (!id) {
    send_bad_request(res, id.error());
    return std::nullopt;
  }
  auto uid = permitted_user(required_user_id(req), grant, res);
  if (!uid)
    return std::nullopt;
  return std::pair{std::move(*id), std::move(*uid)};
}

void http_server::impl::on_memory_history(const httplib::Request& req,
                                          const route_match& m,
                                          const access_grant& grant,
                                          httplib::Response& res) {
  auto target = path_id_and_user("memory_id", req, m, grant, res);
  if (!target)
    return;
  auto& [memory_id, uid] = *target;
  auto versions = be.memory_history(uid, memory_id);
  if (!versions)
    return send_backend_error(res, versions.error());
  ojson list = ojson::array();
  for (auto& v : *versions) {
    ojson j = ojson::object();
    j["version"] = v.version;
    j["event"] = v.event;
    j["old_text"] = value_or_null(v.old_text);
    j["new_text"] = value_or_null(v.new_text);
    j["old_importance"] = value_or_null(v.old_importance);
    j["new_importance"] = value_or_null(v.new_importance);
    j["event_id"] = v.event_id;
    j["source_memory_id"] = v.source_memory_id;
    j["changed_at"] = domain::format_rfc3339_ms(v.changed_at_ms);
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["memory_id"] = memory_id;
  out["user_id"] = uid;
  out["history"] = std::move(list);
  send_json(res, 200, out);
}

void http_server::impl::on_working_memory(const httplib::Request& req,
                                          const route_match& m,
                                          const access_grant& grant,
                                          httplib::Response& res) {
  auto target = path_id_and_user("session_id", req, m, grant, res);
  if (!target)
    return;
  auto& [session_id, uid] = *target;
  {
    auto routed = be.route_read(routed_read::working_memory, uid,
                                read_context_of(grant, req, {}));
    if (!routed)
      return send_backend_error(res, routed.error());
    if (*routed)
      return relay(res, **routed);
  }
  auto wm = be.working_memory(uid, session_id);
  if (!wm)
    return send_backend_error(res, wm.error());
  ojson items = ojson::array();
  for (auto& it : wm->items) {
    ojson j = ojson::object();
    j["event_id"] = it.event_id;
    j["ts"] = domain::format_rfc3339_ms(it.ts_ms);
    j["kind"] = it.kind;
    j["name"] = it.name;
    j["content"] = it.content;
    j["success"] = it.success;
    items.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["session_id"] = session_id;
  out["user_id"] = uid;
  out["expires_at"] = domain::format_rfc3339_ms(wm->expires_at_ms);
  out["items"] = std::move(items);
  send_json(res, 200, out);
}

// --- facts and graph memory (docs/api.md) -----------------------------------

namespace {

/// Most facts, entities or neighbours one request may ask for.
constexpr int max_knowledge_limit = 1000;

const char* const entity_type_names[] = {
  "person", "organization", "place", "email", "url", "date",
  "tool",   "agent",        "user",  "other"};

// `limit` of a knowledge route: 1..max_knowledge_limit, else an error.
caf::expected<int> knowledge_limit(const query_params& q, int fallback) {
  auto l = q.find("limit");
  if (l == q.end())
    return fallback;
  auto v = parse_small_int(l->second);
  if (!v || *v < 1 || *v > max_knowledge_limit)
    return bad("limit must be an integer between 1 and "
               + std::to_string(max_knowledge_limit));
  return *v;
}

// `as_of`: RFC 3339 or integer epoch ms (optionally negative), in years
// 0000-9999.
caf::expected<int64_t> parse_as_of(const std::string& s) {
  if (auto ms = domain::parse_rfc3339_ms(s))
    return *ms;
  std::string_view digits = s;
  bool neg = !digits.empty() && digits.front() == '-';
  if (neg)
    digits.remove_prefix(1);
  if (!digits.empty() && digits.size() <= 15
      && std::all_of(digits.begin(), digits.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t v = std::stoll(std::string{digits});
    v = neg ? -v : v;
    if (v >= domain::min_rfc3339_ms && v <= domain::max_rfc3339_ms)
      return v;
  }
  return bad("as_of must be an RFC 3339 timestamp or integer epoch ms, got \""
             + clip(s, 40) + "\"");
}

ojson entity_json(const entity_row& e) {
  ojson j = ojson::object();
  j["entity_id"] = e.entity_id;
  j["name"] = e.name;
  j["type"] = e.type;
  j["mention_count"] = e.mention_count;
  j["first_seen"] = domain::format_rfc3339_ms(e.first_seen_ms);
  j["last_seen"] = domain::format_rfc3339_ms(e.last_seen_ms);
  return j;
}

} // namespace

void http_server::impl::on_facts(const httplib::Request& req,
                                 const route_match& m,
                                 const access_grant& grant,
                                 httplib::Response& res) {
  auto user_id = permitted_user(decode_id("user_id", m.raw_param), grant, res);
  if (!user_id)
    return;
  auto q = parse_query(req.target, {"as_of", "subject", "predicate", "limit"});
  if (!q)
    return send_bad_request(res, q.error());
  fact_query fq;
  fq.user_id = *user_id;
  if (auto a = q->find("as_of"); a != q->end()) {
    auto ms = parse_as_of(a->second);
    if (!ms)
      return send_bad_request(res, ms.error());
    fq.as_of_ms = *ms;
  }
  for (auto [key, field] : {std::pair{"subject", &fq.subject},
                            std::pair{"predicate", &fq.predicate}}) {
    if (auto v = q->find(key); v != q->end()) {
      if (auto err = check_id(key, v->second))
        return send_bad_request(res, err);
      *field = v->second;
    }
  }
  auto limit = knowledge_limit(*q, 100);
  if (!limit)
    return send_bad_request(res, limit.error());
  fq.limit = *limit;
  auto rows = be.facts(fq);
  if (!rows)
    return send_backend_error(res, rows.error());
  ojson list = ojson::array();
  for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(fq.limit);
       ++i) {
    auto& f = (*rows)[i];
    ojson j = ojson::object();
    j["fact_id"] = f.fact_id;
    j["subject"] = f.subject;
    j["predicate"] = f.predicate;
    j["object"] = f.object;
    j["kind"] = f.kind;
    j["confidence"] = f.confidence;
    j["valid_at"] = domain::format_rfc3339_ms(f.valid_at_ms);
    j["invalid_at"] = time_or_null(f.invalid_at_ms);
    j["invalidated_by"] = f.invalidated_by.empty() ? ojson(nullptr)
                                                   : ojson(f.invalidated_by);
    j["recorded_at"] = domain::format_rfc3339_ms(f.recorded_at_ms);
    j["event_id"] = f.event_id;
    j["session_id"] = f.session_id;
    j["source_text"] = f.source_text;
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["as_of"] = time_or_null(fq.as_of_ms);
  out["facts"] = std::move(list);
  send_json(res, 200, out);
}

void http_server::impl::on_entities(const httplib::Request& req,
                                    const route_match& m,
                                    const access_grant& grant,
                                    httplib::Response& res) {
  auto user_id = permitted_user(decode_id("user_id", m.raw_param), grant, res);
  if (!user_id)
    return;
  auto q = parse_query(req.target, {"type", "limit"});
  if (!q)
    return send_bad_request(res, q.error());
  std::string type;
  if (auto t = q->find("type"); t != q->end()) {
    auto known = std::find_if(std::begin(entity_type_names),
                              std::end(entity_type_names),
                              [&](const char* n) { return t->second == n; });
    if (known == std::end(entity_type_names)) {
      std::string names;
      for (auto* n : entity_type_names)
        names += (names.empty() ? "" : ", ") + std::string{n};
      return send_error(res, 400, "bad_request",
                        "type must be one of " + names + ", got \""
                          + clip(t->second, 40) + "\"");
    }
    type = t->second;
  }
  auto limit = knowledge_limit(*q, 100);
  if (!limit)
    return send_bad_request(res, limit.error());
  auto rows = be.entities(*user_id, type, *limit);
  if (!rows)
    return send_backend_error(res, rows.error());
  ojson list = ojson::array();
  for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(*limit); ++i)
    list.push_back(entity_json((*rows)[i]));
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["entities"] = std::move(list);
  send_json(res, 200, out);
}

void http_server::impl::on_neighbors(const httplib::Request& req,
                                     const route_match& m,
                                     const access_grant& grant,
                                     httplib::Response& res) {
  auto user_id = permitted_user(decode_id("user_id", m.raw_param), grant, res);
  if (!user_id)
    return;
  auto entity_id = decode_id("entity_id", m.raw_param2);
  if (!entity_id)
    return send_bad_request(res, entity_id.error());
  auto q = parse_query(req.target, {"limit"});
  if (!q)
    return send_bad_request(res, q.error());
  auto limit = knowledge_limit(*q, 50);
  if (!limit)
    return send_bad_request(res, limit.error());
  auto nb = be.neighbors(*user_id, *entity_id, *limit);
  if (!nb)
    return send_backend_error(res, nb.error());
  ojson list = ojson::array();
  for (size_t i = 0;
       i < nb->neighbors.size() && i < static_cast<size_t>(*limit); ++i) {
    auto& n = nb->neighbors[i];
    ojson j = entity_json(n.entity);
    j["relation"] = n.relation;
    j["direction"] = n.direction;
    j["weight"] = n.weight;
    j["edge_first_seen"] = domain::format_rfc3339_ms(n.first_seen_ms);
    j["edge_last_seen"] = domain::format_rfc3339_ms(n.last_seen_ms);
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["entity"] = entity_json(nb->entity);
  out["neighbors"] = std::move(list);
  send_json(res, 200, out);
}

void http_server::impl::on_delete_user(const route_match& m,
                                       const access_grant& grant,
                                       httplib::Response& res) {
  auto user_id = permitted_user(decode_id("user_id", m.raw_param), grant, res);
  if (!user_id)
    return;
  auto rep = be.delete_user(*user_id);
  if (!rep)
    return send_backend_error(res, rep.error());
  ojson tables = ojson::object();
  int64_t rows = 0;
  for (auto& [table, n] : rep->postgres) {
    tables[table] = n;
    rows += n;
  }
  ojson out = ojson::object();
  out["user_id"] = rep->user_id;
  out["deleted_at"] = domain::format_rfc3339_ms(rep->deleted_at_ms);
  out["tombstone_cutoff"] = domain::format_rfc3339_ms(rep->cutoff_ms);
  out["deletion_seq"] = rep->deletion_seq;
  out["postgres"] = ojson{{"rows", rows}, {"tables", std::move(tables)}};
  out["vector_index"] = ojson{{"points", rep->vectors}};
  out["keyword_index"] = ojson{{"documents", rep->keyword_docs}};
  out["rocksdb"] = ojson{{"buffered_messages", rep->hot_messages},
                         {"sessions", rep->hot_sessions},
                         {"memory_docs", rep->hot_docs}};
  out["working_memory"] = ojson{{"items", rep->working_items},
                                {"sessions", rep->working_sessions}};
  out["embedding_cache"] = ojson{{"cleared", rep->embedding_caches_cleared > 0}};
  send_json(res, 200, out);
}

void http_server::impl::on_export_user(const route_match& m,
                                       const access_grant& grant,
                                       httplib::Response& res) {
  auto user_id = permitted_user(decode_id("user_id", m.raw_param), grant, res);
  if (!user_id)
    return;
  auto stream = be.open_export(*user_id);
  if (!stream)
    return send_backend_error(res, stream.error());
  res.status = 200;
  // Chunked: rows go out as the backend's cursor pages them in; a failure
  // part-way ends the stream with an {"error": ...} line (the status is
  // already sent).
  auto fn = std::make_shared<export_stream>(std::move(*stream));
  res.set_chunked_content_provider(
    "application/x-ndjson",
    [fn, uid = *user_id](size_t, httplib::DataSink& sink) {
      caf::error err;
      try {
        err = (*fn)([&sink](const std::string& line) {
          return sink.is_writable() && sink.write(line.data(), line.size());
        });
      } catch (const std::exception& e) {
        err = make_error(errc::io_error, e.what());
      }
      if (err) {
        spdlog::warn("api: export failed part-way: {}", describe(err));
        ojson e = ojson::object();
        e["error"] = "unavailable";
        e["detail"] = "export failed part-way: " + detail_of(err);
        auto line = e.dump(-1, ' ', false, ojson::error_handler_t::replace)
                    + "\n";
        if (sink.is_writable())
          sink.write(line.data(), line.size());
      }
      sink.done();
      return true;
    });
}

void http_server::impl::on_readyz(httplib::Response& res) {
  std::string reason;
  try {
    reason = be.not_ready_reason();
  } catch (const std::exception& e) {
    spdlog::warn("api: readiness check threw: {}", e.what());
    reason = "readiness check failed";
  } catch (...) {
    reason = "readiness check failed";
  }
  if (reason.empty())
    return send_json(res, 200, ojson{{"status", "ready"}});
  ojson out = ojson::object();
  out["status"] = "not_ready";
  out["reason"] = reason;
  send_json(res, 503, out);
}

void http_server::impl::count(const httplib::Request& req,
                              const httplib::Response& res) noexcept {
  try {
    auto m = match_route(req.target);
    reg
      .get_counter("agentmem_http_requests_total",
                   "HTTP requests answered, by route and status code",
                   {{"route", route_label(m.id)},
                    {"code", std::to_string(res.status)}})
      .inc();
  } catch (const std::exception& e) {
    spdlog::warn("api: could not count a request: {}", e.what());
  } catch (...) {
  }
}

void http_server::impl::configure(httplib::Server& s, bool on_ops) {
  auto n = static_cast<size_t>(cfg.threads);
  s.new_task_queue = [n] { return new httplib::ThreadPool(n); };
  s.set_payload_max_length(cfg.max_body_bytes);
  // httplib writes a response's head and body separately; with Nagle on,
  // keep-alive clients wait for a delayed ACK (~40 ms) on every request.
  s.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // process bind our port and silently take half the traffic; we want
  // "address in use" instead. SO_REUSEADDR keeps restarts fast.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  auto plain = [this, on_ops](const httplib::Request& req,
                              httplib::Response& res) {
    handle(req, res, nullptr, on_ops);
  };
  auto with_body = [this, on_ops](const httplib::Request& req,
                                  httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    handle(req, res, &reader, on_ops);
  };
  // Catch-all patterns: match_route() does the routing on the raw target,
  // so 404 and 405 come from one table.
  s.Get(".*", plain);
  s.Options(".*", plain);
  s.Post(".*", with_body);
  s.Put(".*", with_body);
  s.Patch(".*", with_body);
  s.Delete(".*", with_body);
  // Methods httplib parses but has no handler table for (CONNECT, TRACE)
  // would otherwise get a bare 400.
  s.set_pre_routing_handler(
    [this, on_ops](const httplib::Request& req, httplib::Response& res) {
      static const char* const routed[] = {"GET",   "HEAD",   "POST",
                                           "PUT",   "PATCH",  "DELETE",
                                           "OPTIONS"};
      for (auto* m : routed)
        if (req.method == m)
          return httplib::Server::HandlerResponse::Unhandled;
      handle(req, res, nullptr, on_ops);
      return httplib::Server::HandlerResponse::Handled;
    });
  // httplib calls this for every status >= 400; our handlers always set a
  // body, so an empty one means httplib answered on its own (malformed
  // request line, Content-Length above the limit, URI too long).
  s.set_error_handler(httplib::Server::HandlerWithResponse(
    [this](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty())
        return httplib::Server::HandlerResponse::Unhandled;
      std::string detail;
      switch (res.status) {
        case 413:
          detail = "request body exceeds " + std::to_string(cfg.max_body_bytes)
                   + " bytes";
          break;
        case 414: detail = "request target too long"; break;
        case 404: detail = "no such endpoint"; break;
        default: detail = "malformed HTTP request"; break;
      }
      send_error(res, res.status, error_code_for(res.status), detail);
      return httplib::Server::HandlerResponse::Handled;
    }));
  // Handlers catch everything themselves; this is the last line of defence
  // so that nothing ever turns into httplib's bare 500.
  s.set_exception_handler(
    [](const httplib::Request& req, httplib::Response& res,
       std::exception_ptr) {
      answer_internal_error(req, res, "exception escaped a handler");
    });
  s.set_logger([this](const httplib::Request& req,
                      const httplib::Response& res) { count(req, res); });
}

http_server::http_server(server_config cfg, backend& be,
                         metrics::registry& reg)
  : impl_(std::make_unique<impl>(std::move(cfg), be, reg)) {
}

http_server::~http_server() {
  stop();
}

caf::expected<uint16_t>
http_server::impl::launch(std::unique_ptr<httplib::Server>& out,
                          std::thread& thread, const std::string& host,
                          uint16_t want_port, bool on_ops) {
  auto svr = std::make_unique<httplib::Server>();
  configure(*svr, on_ops);
  int port;
  if (want_port == 0) {
    port = svr->bind_to_any_port(host);
  } else {
    port = svr->bind_to_port(host, want_port) ? want_port : -1;
  }
  if (port <= 0)
    return make_error(errc::io_error, "cannot bind http server to " + host
                                        + ":" + std::to_string(want_port));
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto* raw = svr.get();
  try {
    thread = std::thread{[raw, done] {
      if (!raw->listen_after_bind())
        spdlog::error("api: http listener stopped with an error");
      done->store(true);
    }};
  } catch (const std::exception& e) {
    return make_error(errc::io_error,
                      std::string{"cannot start http listener: "} + e.what());
  }
  // stop() only works once the listener runs; wait for it so that a stop()
  // right after start() cannot be lost. listen_after_bind() marks the server
  // running before anything else, or returns at once if it cannot run.
  while (!raw->is_running() && !done->load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!raw->is_running()) {
    thread.join();
    return make_error(errc::io_error, "http listener failed to start");
  }
  out = std::move(svr);
  return static_cast<uint16_t>(port);
}

caf::expected<uint16_t> http_server::start() {
  std::lock_guard<std::mutex> guard{impl_->lifecycle};
  auto& cfg = impl_->cfg;
  if (impl_->svr)
    return make_error(errc::invalid_config, "http server already running");
  if (cfg.host.empty())
    return make_error(errc::invalid_config, "http host must not be empty");
  if (cfg.threads < 1 || cfg.threads > 1024)
    return make_error(errc::invalid_config,
                      "http threads must be between 1 and 1024");
  if (cfg.max_body_bytes == 0)
    return make_error(errc::invalid_config,
                      "http max_body_bytes must be positive");
  if (cfg.max_response_bytes < 1024)
    return make_error(errc::invalid_config,
                      "http max_response_bytes must be at least 1024");
  if (cfg.ops_listener && cfg.ops_host.empty())
    return make_error(errc::invalid_config, "http ops_host must not be empty");
  if (cfg.auth.disabled)
    spdlog::warn("api: AUTHENTICATION IS DISABLED ([auth] disabled = true): "
                 "anyone who can reach {}:{} can read and change every "
                 "user's memory. Local use only.",
                 cfg.host, cfg.port);
  else if (cfg.auth.tokens.empty())
    spdlog::warn("api: no API tokens configured: every /v1 request will get "
                 "401");
  uint16_t ops_port = 0;
  if (cfg.ops_listener) {
    auto p = impl_->launch(impl_->ops_svr, impl_->ops_listener, cfg.ops_host,
                           cfg.ops_port, true);
    if (!p)
      return p.error();
    ops_port = *p;
  }
  auto port = impl_->launch(impl_->svr, impl_->listener, cfg.host, cfg.port,
                            false);
  if (!port) {
    if (impl_->ops_svr) {
      impl_->ops_svr->stop();
      impl_->ops_listener.join();
      impl_->ops_svr.reset();
    }
    return port.error();
  }
  impl_->ops_bound = ops_port;
  spdlog::info("api: listening on {}:{} ({} threads, {} token(s){})",
               cfg.host, *port, cfg.threads, cfg.auth.tokens.size(),
               cfg.auth.disabled ? ", auth DISABLED" : "");
  if (cfg.ops_listener)
    spdlog::info("api: ops endpoints (/healthz, /readyz, /metrics) on {}:{}",
                 cfg.ops_host, ops_port);
  return *port;
}

void http_server::stop() {
  std::lock_guard<std::mutex> guard{impl_->lifecycle};
  if (!impl_->svr)
    return;
  impl_->svr->stop();
  if (impl_->listener.joinable())
    impl_->listener.join();
  impl_->svr.reset();
  if (impl_->ops_svr) {
    impl_->ops_svr->stop();
    if (impl_->ops_listener.joinable())
      impl_->ops_listener.join();
    impl_->ops_svr.reset();
  }
  impl_->ops_bound = 0;
}

uint16_t http_server::ops_port() const {
  return impl_->ops_bound.load();
}

} // namespace agentmem::api
