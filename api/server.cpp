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

#include "api/codec.hpp"
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
    default: return "unmatched";
  }
}

const char* allowed_methods(route_id id) {
  return id == route_id::search ? "POST" : "GET, HEAD";
}

bool method_allowed(route_id id, const std::string& method) {
  if (id == route_id::search)
    return method == "POST";
  return method == "GET" || method == "HEAD";
}

struct route_match {
  route_id id = route_id::unmatched;
  std::string_view raw_param; ///< still percent-encoded
};

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
  while (seg.size() <= 4) {
    auto next = path.find('/', pos);
    seg.push_back(path.substr(pos, next == std::string_view::npos
                                       ? std::string_view::npos
                                       : next - pos));
    if (next == std::string_view::npos)
      break;
    pos = next + 1;
  }
  if (seg.size() > 4)
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
  send_error(res, 503, "unavailable", describe(err));
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

  std::mutex lifecycle; // serializes start() and stop()
  std::unique_ptr<httplib::Server> svr;
  std::thread listener;

  void handle(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader* reader) noexcept;
  void dispatch(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader* reader, const route_match& m);
  void on_search(const std::string& body, httplib::Response& res);
  void on_session_messages(const httplib::Request& req, const route_match& m,
                           httplib::Response& res);
  void on_usage(const httplib::Request& req, const route_match& m,
                httplib::Response& res);
  void on_readyz(httplib::Response& res);
  void count(const httplib::Request& req, const httplib::Response& res)
    noexcept;
  void configure(httplib::Server& s);
};

void http_server::impl::handle(const httplib::Request& req,
                               httplib::Response& res,
                               const httplib::ContentReader* reader) noexcept {
  auto t0 = steady::now();
  route_match m;
  try {
    m = match_route(req.target);
    dispatch(req, res, reader, m);
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
                                 const route_match& m) {
  body_result body;
  bool wants_body = m.id == route_id::search && req.method == "POST";
  // RFC 9112 6.3: without Content-Length or Transfer-Encoding a request has
  // no body; httplib would instead read until the client closes (or the
  // read timeout), holding a worker for nothing.
  bool has_body =
    req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
  if (reader && has_body)
    body = read_body(req, res, *reader, cfg.max_body_bytes, wants_body);
  if (m.id == route_id::unmatched)
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
    return send_error(res, 413, "payload_too_large",
                      "request body exceeds "
                        + std::to_string(cfg.max_body_bytes) + " bytes");
  if (body.failed)
    return send_error(res, 400, "bad_request",
                      "could not read the request body");
  switch (m.id) {
    case route_id::search:
      if (body.multipart)
        return send_error(res, 400, "bad_request",
                          "multipart bodies are not accepted; send a JSON "
                          "object");
      return on_search(body.data, res);
    case route_id::session_messages:
      return on_session_messages(req, m, res);
    case route_id::usage:
      return on_usage(req, m, res);
    case route_id::healthz:
      return send_json(res, 200, ojson{{"status", "ok"}});
    case route_id::readyz:
      return on_readyz(res);
    case route_id::metrics:
      res.status = 200;
      res.set_content(reg.render(), "text/plain; version=0.0.4; charset=utf-8");
      return;
    default:
      return send_error(res, 404, "not_found", "no such endpoint");
  }
}

void http_server::impl::on_search(const std::string& body,
                                  httplib::Response& res) {
  auto req = parse_search_request(body);
  if (!req)
    return send_error(res, 400, "bad_request", detail_of(req.error()));
  auto t0 = steady::now();
  // Observe failed and throwing searches too: slow failures matter most.
  struct observer {
    metrics::histogram& h;
    steady::time_point t0;
    ~observer() {
      h.observe(seconds_since(t0));
    }
  };
  auto hits = [&] {
    observer obs{search_latency, t0};
    return be.search(*req);
  }();
  if (!hits)
    return send_backend_error(res, hits.error());
  auto took_ms = std::llround(seconds_since(t0) * 1000.0);
  auto n = std::min(hits->size(), static_cast<size_t>(req->top_k));
  ojson results = ojson::array();
  for (size_t i = 0; i < n; ++i) {
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
    results.push_back(std::move(r));
  }
  ojson out = ojson::object();
  out["results"] = std::move(results);
  out["took_ms"] = took_ms;
  send_json(res, 200, out);
}

void http_server::impl::on_session_messages(const httplib::Request& req,
                                            const route_match& m,
                                            httplib::Response& res) {
  auto session_id = decode_id("session_id", m.raw_param);
  if (!session_id)
    return send_error(res, 400, "bad_request", detail_of(session_id.error()));
  auto q = parse_query(req.target, {"user_id", "limit"});
  if (!q)
    return send_error(res, 400, "bad_request", detail_of(q.error()));
  auto uid = q->find("user_id");
  if (uid == q->end())
    return send_error(res, 400, "bad_request",
                      "query parameter user_id is required");
  if (auto err = check_id("user_id", uid->second))
    return send_error(res, 400, "bad_request", detail_of(err));
  int limit = max_message_limit;
  if (auto l = q->find("limit"); l != q->end()) {
    auto v = parse_small_int(l->second);
    if (!v || *v < 1 || *v > max_message_limit)
      return send_error(res, 400, "bad_request",
                        "limit must be an integer between 1 and "
                          + std::to_string(max_message_limit));
    limit = *v;
  }
  auto msgs = be.session_messages(uid->second, *session_id, limit);
  if (!msgs)
    return send_backend_error(res, msgs.error());
  // The most recent `limit`, oldest first, even if the backend sent more.
  auto first = msgs->size() > static_cast<size_t>(limit)
                 ? msgs->size() - static_cast<size_t>(limit)
                 : size_t{0};
  ojson list = ojson::array();
  for (size_t i = first; i < msgs->size(); ++i) {
    auto& msg = (*msgs)[i];
    ojson j = ojson::object();
    j["event_id"] = msg.event_id;
    j["ts"] = domain::format_rfc3339_ms(msg.ts_ms);
    j["role"] = msg.role;
    j["agent_name"] = msg.agent_name;
    j["content"] = msg.content;
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["session_id"] = *session_id;
  out["user_id"] = uid->second;
  out["messages"] = std::move(list);
  send_json(res, 200, out);
}

void http_server::impl::on_usage(const httplib::Request& req,
                                 const route_match& m,
                                 httplib::Response& res) {
  auto user_id = decode_id("user_id", m.raw_param);
  if (!user_id)
    return send_error(res, 400, "bad_request", detail_of(user_id.error()));
  auto q = parse_query(req.target, {"from", "to"});
  if (!q)
    return send_error(res, 400, "bad_request", detail_of(q.error()));
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

void http_server::impl::configure(httplib::Server& s) {
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
  auto plain = [this](const httplib::Request& req, httplib::Response& res) {
    handle(req, res, nullptr);
  };
  auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
    handle(req, res, &reader);
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
    [this](const httplib::Request& req, httplib::Response& res) {
      static const char* const routed[] = {"GET",   "HEAD",   "POST",
                                           "PUT",   "PATCH",  "DELETE",
                                           "OPTIONS"};
      for (auto* m : routed)
        if (req.method == m)
          return httplib::Server::HandlerResponse::Unhandled;
      handle(req, res, nullptr);
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
  auto svr = std::make_unique<httplib::Server>();
  impl_->configure(*svr);
  int port;
  if (cfg.port == 0) {
    port = svr->bind_to_any_port(cfg.host);
  } else {
    port = svr->bind_to_port(cfg.host, cfg.port) ? cfg.port : -1;
  }
  if (port <= 0)
    return make_error(errc::io_error, "cannot bind http server to "
                                        + cfg.host + ":"
                                        + std::to_string(cfg.port));
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto* raw = svr.get();
  try {
    impl_->listener = std::thread{[raw, done] {
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
    impl_->listener.join();
    return make_error(errc::io_error, "http listener failed to start");
  }
  impl_->svr = std::move(svr);
  spdlog::info("api: listening on {}:{} ({} threads)", cfg.host, port,
               cfg.threads);
  return static_cast<uint16_t>(port);
}

void http_server::stop() {
  std::lock_guard<std::mutex> guard{impl_->lifecycle};
  if (!impl_->svr)
    return;
  impl_->svr->stop();
  if (impl_->listener.joinable())
    impl_->listener.join();
  impl_->svr.reset();
}

} // namespace agentmem::api
