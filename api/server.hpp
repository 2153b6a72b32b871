#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "api/analytics.hpp"
#include "api/auth.hpp"
#include "api/backend.hpp"
#include "metrics/registry.hpp"

namespace agentmem::api {

/// Listening and resource settings of the HTTP API.
struct server_config {
  std::string host = "127.0.0.1"; ///< address to bind (name or literal)
  uint16_t port = 8080;           ///< 0 = pick a free (ephemeral) port
  size_t max_body_bytes = 1 << 20; ///< larger request bodies get 413
  int threads = 4;                ///< worker threads (one per connection)
  /// Who may call /v1 (api/auth.hpp, docs/security.md). The default (no
  /// tokens, not disabled) answers every /v1 request with 401.
  auth_config auth;
  /// Per-token rate limit: requests per second and bucket size (burst);
  /// rate 0 = unlimited. Over the limit: 429 with Retry-After.
  double rate_limit_per_s = 0;
  double rate_limit_burst = 0;
  /// Largest JSON response body, in bytes: list results (search hits,
  /// session messages) stop before it and say "truncated": true.
  size_t max_response_bytes = 8 << 20;
  /// Serve /healthz, /readyz and /metrics on a separate listener at
  /// ops_host:ops_port (0 = ephemeral) instead of the main one; the main
  /// listener then answers 404 for them and the ops listener 404 for /v1.
  bool ops_listener = false;
  std::string ops_host = "127.0.0.1";
  uint16_t ops_port = 0;
  /// Analytics reports, skills registry and the status page's data
  /// (api/handlers_analytics.cpp); null: those routes answer 503.
  std::shared_ptr<analytics_backend> analytics;
  /// Node-to-node credential ([cluster] secret): a request carrying it in
  /// X-Agentmem-Node-Credential is a read another node forwarded, acting
  /// with the caller's scope it passes along (no bearer token, no rate
  /// limit: both were applied by the first node). Empty: such requests
  /// get 401. Never logged.
  std::string node_secret;
};

/// One operation the server serves: a row of its route table
/// (api/routes.cpp), for checks against docs/openapi.yaml.
struct route_info {
  std::string path;   ///< template, e.g. "/v1/users/{user_id}/facts"
  std::string method; ///< "GET", "POST", "PUT", "PATCH" or "DELETE" (a
                      ///< GET route also answers HEAD unless it streams)
  bool ops = false;   ///< on the ops listener when there is one
  bool needs_token = true; ///< false for the open ops endpoints
};

/// Every operation of the route table, in table order.
std::vector<route_info> served_routes();

/// The agentmem HTTP API (docs/api.md, docs/openapi.yaml) over a backend:
///
///   POST /v1/memories/search
///   GET  /v1/sessions/{session_id}/messages?user_id=U&limit=N
///   GET  /v1/users/{user_id}/usage?from=YYYY-MM-DD&to=YYYY-MM-DD
///   GET|PATCH|DELETE /v1/memories/{memory_id}?user_id=U
///   GET  /v1/users/{user_id}/memories?memory_type=..&cursor=C  (pages)
///   GET  /v1/users/{user_id}/sessions?agent_type=..&cursor=C   (pages)
///   GET  /v1/memories/{memory_id}/history?user_id=U
///   GET  /v1/sessions/{session_id}/working-memory?user_id=U
///   GET  /v1/users/{user_id}/facts?as_of=T&subject=S&predicate=P&limit=N
///   GET  /v1/users/{user_id}/entities?type=T&limit=N
///   GET  /v1/users/{user_id}/entities/{entity_id}/neighbors?limit=N
///   DELETE /v1/users/{user_id}          (docs/data-governance.md)
///   GET  /v1/users/{user_id}/export     (JSON Lines, chunked)
///   GET  /v1/analytics/{usage|agents|tools|costs|skills}?from&to&...
///   GET|PUT|DELETE /v1/skills[/{name}],
///   GET|PUT|DELETE /v1/agents/{agent_name}/skills[/{skill}]
///   GET  /healthz, /readyz, /metrics, /ui (status page), /ui/api/today
///   GET  /openapi.json                 (docs/openapi.yaml, no token)
///
/// Every /v1 request needs "Authorization: Bearer <token>" (else 401 with
/// WWW-Authenticate: Bearer); the token's scope must allow the request's
/// user_id (else 403), checked in one place for every route from where the
/// route declares its user_id (path, query or body); over the per-token
/// rate limit: 429 with Retry-After. Every response except /metrics is
/// JSON. Errors are {"error": code, "detail": text} with
/// 400/401/403/404/405/413/429/503; handler and
/// backend exceptions are caught and answered, never propagated. Records
/// agentmem_http_requests_total{route,code},
/// agentmem_http_request_duration_seconds{route},
/// agentmem_http_rejected_total{reason,token} (reason: unauthenticated,
/// forbidden, rate_limited, payload_too_large; token: the token's name,
/// never the token; "none" before authentication),
/// agentmem_http_authenticated_requests_total{token} and
/// agentmem_search_latency_seconds in the given registry.
///
/// The backend and registry must outlive the server. Not copyable or
/// movable; start() and stop() may be called from any thread except the
/// server's own worker threads.
class http_server {
public:
  /// Prepares a server; nothing is bound until start().
  http_server(server_config cfg, backend& be, metrics::registry& reg);

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Stops the server if it is running.
  ~http_server();

  /// Binds cfg.host:cfg.port and serves on background threads. Returns the
  /// bound port (the chosen one when cfg.port is 0). Errors:
  /// errc::invalid_config for a bad config or when already running,
  /// errc::io_error when binding or starting the listener fails. After
  /// stop() the server may be started again.
  caf::expected<uint16_t> start();

  /// Stops accepting connections, waits for in-flight requests and joins
  /// all server threads. No-op when not running.
  void stop();

  /// Port of the separate ops listener (cfg.ops_listener), 0 when there is
  /// none or the server is not running.
  uint16_t ops_port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::api
