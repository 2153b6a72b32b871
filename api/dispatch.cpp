#include "api/dispatch.hpp"

#include <chrono>
#include <exception>

#include <spdlog/spdlog.h>

namespace agentmem::api {

namespace {

using namespace http;

const char* label_of(const route_match& m) {
  return m.pattern ? m.pattern : "unmatched";
}

// Sends another node's answer to a forwarded read as it is.
void relay(httplib::Response& res, const relayed_reply& r) {
  res.status = r.status;
  if (!r.retry_after.empty())
    res.set_header("Retry-After", r.retry_after);
  res.set_content(r.body, r.content_type.empty() ? "application/json"
                                                 : r.content_type.c_str());
}

} // namespace

dispatcher::dispatcher(const server_config& cfg, backend& be,
                       metrics::registry& reg)
  : cfg_(cfg),
    ctx_{cfg, be, reg,
         reg.get_histogram(
           "agentmem_search_latency_seconds",
           "Time the backend took to answer a memory search, in seconds",
           metrics::latency_buckets())},
    access_(cfg.auth, cfg.rate_limit_per_s, cfg.rate_limit_burst, reg,
            cfg.node_secret) {
  auto add = [&](const std::string& label) {
    durations_[label] = &reg.get_histogram(
      "agentmem_http_request_duration_seconds",
      "Time to handle an HTTP request, by route, in seconds",
      metrics::latency_buckets(), {{"route", label}});
  };
  add("unmatched");
  for (auto& r : route_table())
    add(r.pattern);
}

void dispatcher::handle(const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader* reader,
                        bool on_ops) noexcept {
  auto t0 = std::chrono::steady_clock::now();
  const char* label = "unmatched";
  try {
    auto m = match_route(req.target, req.method);
    label = label_of(m);
    dispatch(req, res, reader, m, on_ops);
  } catch (const std::exception& e) {
    answer_internal_error(req, res, e.what());
  } catch (...) {
    answer_internal_error(req, res, "non-standard exception");
  }
  auto it = durations_.find(std::string_view{label});
  if (it != durations_.end())
    it->second->observe(std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - t0)
                          .count());
}

void dispatcher::dispatch(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader* reader,
                          const route_match& m, bool on_ops) {
  body_result body;
  bool wants_body = m.row && m.row->json_body
                    && (method_bit(req.method) & (m_post | m_put | m_patch));
  // RFC 9112 6.3: without Content-Length or Transfer-Encoding a request has
  // no body; httplib would instead read until the client closes (or the
  // read timeout), holding a worker for nothing.
  bool has_body =
    req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
  if (reader && has_body)
    body = read_body(req, res, *reader, cfg_.max_body_bytes, wants_body);
  // With a separate ops listener, each listener serves only its half.
  if (!m.pattern
      || (cfg_.ops_listener && (m.served_by == listener::ops) != on_ops))
    return send_error(res, 404, "not_found",
                      "no such endpoint: " + clip(path_of(req.target)));
  if (!m.row) {
    auto allowed = method_list(m.allowed);
    res.set_header("Allow", allowed);
    return send_error(res, 405, "method_not_allowed",
                      "method " + clip(req.method, 16) + " not allowed on "
                        + m.pattern + "; allowed: " + allowed);
  }
  if (body.too_large)
    return access_.reject(res, 413, "payload_too_large", "payload_too_large",
                          "none",
                          "request body exceeds "
                            + std::to_string(cfg_.max_body_bytes) + " bytes");
  if (body.failed)
    return send_error(res, 400, "bad_request",
                      "could not read the request body");
  if (body.multipart && m.row->json_body)
    return send_error(res, 400, "bad_request",
                      "multipart bodies are not accepted; send a JSON "
                      "object");
  call c{req, res, ctx_, m, {}, json_body{std::move(body.data)}};
  if (!access_.authorize(req, res, m.row->acc, m.row->user_from,
                         [&c] { return c.user_id(); }, c.grant,
                         m.row->routed.has_value()))
    return;
  // A routed read of a user whose shards another node holds: that node's
  // answer, relayed as it is (a user_id that did not parse is answered by
  // the handler: 400).
  if (m.row->routed && c.grant.user_checked) {
    auto routed = ctx_.be.route_read(*m.row->routed, c.grant.user_id,
                                     c.routing());
    if (!routed)
      return send_backend_error(res, routed.error());
    if (*routed)
      return relay(res, **routed);
  }
  m.row->handler(c);
}

void dispatcher::count(const httplib::Request& req,
                       const httplib::Response& res) noexcept {
  try {
    auto m = match_route(req.target, req.method);
    ctx_.reg
      .get_counter("agentmem_http_requests_total",
                   "HTTP requests answered, by route and status code",
                   {{"route", label_of(m)},
                    {"code", std::to_string(res.status)}})
      .inc();
  } catch (const std::exception& e) {
    spdlog::warn("api: could not count a request: {}", e.what());
  } catch (...) {
  }
}

} // namespace agentmem::api
