#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "api/backend.hpp"
#include "metrics/registry.hpp"

namespace agentmem::api {

/// Listening and resource settings of the HTTP API.
struct server_config {
  std::string host = "127.0.0.1"; ///< address to bind (name or literal)
  uint16_t port = 8080;           ///< 0 = pick a free (ephemeral) port
  size_t max_body_bytes = 1 << 20; ///< larger request bodies get 413
  int threads = 4;                ///< worker threads (one per connection)
};

/// The agentmem HTTP API (docs/api.md) over a backend:
///
///   POST /v1/memories/search
///   GET  /v1/sessions/{session_id}/messages?user_id=U&limit=N
///   GET  /v1/users/{user_id}/usage?from=YYYY-MM-DD&to=YYYY-MM-DD
///   DELETE /v1/users/{user_id}          (docs/data-governance.md)
///   GET  /v1/users/{user_id}/export     (JSON Lines, chunked)
///   GET  /healthz, /readyz, /metrics
///
/// Every response except /metrics is JSON. Errors are
/// {"error": code, "detail": text} with 400/404/405/413/503; handler and
/// backend exceptions are caught and answered, never propagated. Records
/// agentmem_http_requests_total{route,code},
/// agentmem_http_request_duration_seconds{route} and
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

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::api
