#pragma once

#include <stdexcept>
#include <string>

#include "api/auth.hpp"
#include "api/server.hpp"
#include "messages/errc.hpp"

namespace agentmem::test {

/// The admin token that route tests send (every /v1 route needs one).
inline const std::string route_test_token = "am_route-test-admin-token";

/// `cfg` with route_test_token configured as its only (admin) token.
inline api::server_config with_admin_token(api::server_config cfg) {
  auto tokens = api::parse_token_lines(
    api::token_line(route_test_token, "admin", "route-tests"), "test");
  if (!tokens)
    throw std::runtime_error(describe(tokens.error()));
  cfg.auth.tokens = *tokens;
  return cfg;
}

} // namespace agentmem::test
