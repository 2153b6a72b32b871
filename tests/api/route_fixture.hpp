#pragma once

// Shared setup of the route tests: a backend base that answers the core
// routes with nothing, and a fixture serving a backend over HTTP with the
// admin token of admin_token.hpp.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <httplib.h>

#include "api/backend.hpp"
#include "api/server.hpp"
#include "metrics/registry.hpp"
#include "tests/api/admin_token.hpp"

namespace agentmem::test {

/// A ready backend with no search hits, session messages or usage rows;
/// route tests derive from it and override the routes under test.
class empty_backend : public api::backend {
public:
  caf::expected<std::vector<api::search_hit>>
  search(const api::search_request&) override {
    return std::vector<api::search_hit>{};
  }
  caf::expected<std::vector<api::buffered_message>>
  session_messages(const std::string&, const std::string&, int) override {
    return std::vector<api::buffered_message>{};
  }
  caf::expected<std::vector<api::usage_row>>
  usage(const std::string&, const std::string&, const std::string&) override {
    return std::vector<api::usage_row>{};
  }
  std::string not_ready_reason() override {
    return {};
  }
};

/// Server settings of the route tests: an ephemeral port, 2 worker threads,
/// route_test_token as the only (admin) token.
inline api::server_config route_test_config() {
  api::server_config cfg;
  cfg.port = 0;
  cfg.threads = 2;
  return with_admin_token(cfg);
}

/// `Backend` served by an http_server (route_test_config()) on 127.0.0.1,
/// and a client for it that sends route_test_token. Construction throws
/// std::runtime_error when the server cannot start.
template <class Backend>
struct route_fixture {
  Backend be;
  metrics::registry reg;
  api::http_server srv{route_test_config(), be, reg};
  uint16_t port = [this] {
    auto p = srv.start();
    if (!p)
      throw std::runtime_error(describe(p.error()));
    return *p;
  }();
  httplib::Client cli{"127.0.0.1", port};

  route_fixture() {
    cli.set_bearer_token_auth(route_test_token);
  }
};

} // namespace agentmem::test
