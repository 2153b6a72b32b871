#pragma once

// Internal to api/: one request from the listener to its handler.

#include <map>
#include <string>

#include <httplib.h>

#include "api/access.hpp"
#include "api/routes.hpp"

namespace agentmem::api {

/// Matches a request against the route table (api/routes.cpp), reads its
/// body within the limit, answers 404/405/413 itself, authorizes it
/// (api/access.hpp) and calls the row's handler, catching every exception
/// (503). Records agentmem_http_request_duration_seconds{route} and, from
/// the listener's logger, agentmem_http_requests_total{route,code}.
/// Thread-safe; lives as long as the server.
class dispatcher {
public:
  dispatcher(const server_config& cfg, backend& be, metrics::registry& reg);

  /// Answers one request; `reader` is null for methods without a body
  /// handler; `on_ops` tells which listener received it.
  void handle(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader* reader, bool on_ops) noexcept;

  /// Counts an answered request (the listener's logger).
  void count(const httplib::Request& req,
             const httplib::Response& res) noexcept;

private:
  void dispatch(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader* reader, const route_match& m,
                bool on_ops);

  const server_config& cfg_;
  server_context ctx_;
  access_control access_;
  /// Per route pattern ("unmatched" for none).
  std::map<std::string, metrics::histogram*, std::less<>> durations_;
};

} // namespace agentmem::api
