#include "api/server.hpp"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/dispatch.hpp"
#include "api/http_io.hpp"
#include "messages/errc.hpp"

namespace agentmem::api {

// The listeners: httplib servers whose every request goes to the
// dispatcher (api/dispatch.cpp), which routes on the route table
// (api/routes.cpp).
struct http_server::impl {
  impl(server_config c, backend& b, metrics::registry& r)
    : cfg(std::move(c)), requests(cfg, b, r) {
  }

  server_config cfg;
  dispatcher requests;

  std::mutex lifecycle; // serializes start() and stop()
  std::unique_ptr<httplib::Server> svr;
  std::thread listener;
  std::unique_ptr<httplib::Server> ops_svr; // cfg.ops_listener only
  std::thread ops_listener;
  std::atomic<uint16_t> ops_bound{0};

  void configure(httplib::Server& s, bool on_ops);
  caf::expected<uint16_t> launch(std::unique_ptr<httplib::Server>& out,
                                 std::thread& thread, const std::string& host,
                                 uint16_t port, bool on_ops);
  static void shut(std::unique_ptr<httplib::Server>& s, std::thread& t);
};

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
    requests.handle(req, res, nullptr, on_ops);
  };
  auto with_body = [this, on_ops](const httplib::Request& req,
                                  httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    requests.handle(req, res, &reader, on_ops);
  };
  // Catch-all patterns: the dispatcher routes on the raw target, so 404
  // and 405 come from one table.
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
      requests.handle(req, res, nullptr, on_ops);
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
      http::send_error(res, res.status, http::error_code_for(res.status),
                       detail);
      return httplib::Server::HandlerResponse::Handled;
    }));
  // Handlers catch everything themselves; this is the last line of defence
  // so that nothing ever turns into httplib's bare 500.
  s.set_exception_handler(
    [](const httplib::Request& req, httplib::Response& res,
       std::exception_ptr) {
      http::answer_internal_error(req, res, "exception escaped a handler");
    });
  s.set_logger([this](const httplib::Request& req,
                      const httplib::Response& res) {
    requests.count(req, res);
  });
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

void http_server::impl::shut(std::unique_ptr<httplib::Server>& s,
                             std::thread& t) {
  if (!s)
    return;
  s->stop();
  if (t.joinable())
    t.join();
  s.reset();
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
    impl::shut(impl_->ops_svr, impl_->ops_listener);
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
  impl::shut(impl_->svr, impl_->listener);
  impl::shut(impl_->ops_svr, impl_->ops_listener);
  impl_->ops_bound = 0;
}

uint16_t http_server::ops_port() const {
  return impl_->ops_bound.load();
}

} // namespace agentmem::api
