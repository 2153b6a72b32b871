#pragma once

// Internal to api/: who may call a route (docs/security.md). The
// dispatcher authenticates, rate-limits and checks the tenant in one place
// before any handler runs, from the policy the route's row declares
// (api/routes.hpp); handlers re-check the user_id they actually use with
// permits().

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <httplib.h>

#include "api/auth.hpp"
#include "api/backend.hpp"
#include "api/rate_limiter.hpp"
#include "metrics/registry.hpp"

namespace agentmem::api {

/// Who may call a route.
enum class access {
  open,  ///< no token (ops endpoints)
  user,  ///< a token whose scope allows the request's user_id
  admin, ///< an admin token
};

/// Where the user_id a request acts on comes from.
enum class user_source {
  none,  ///< not user-specific (with access::user: any valid token)
  path,  ///< the route's {user_id} path segment
  query, ///< query parameter user_id
  body,  ///< top-level "user_id" string of the JSON request body
};

/// What authorization established for a request.
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

/// The request's token may act on `uid` -- and `uid` is the user_id the
/// central check saw (handlers call this right before the backend).
bool permits(const access_grant& g, const std::string& uid);

/// The user_id `uid` a handler read, re-checked with permits(); nullopt
/// once the 400 (`uid` is an error) or the 403 is sent.
std::optional<std::string> permitted_user(caf::expected<std::string> uid,
                                          const access_grant& grant,
                                          httplib::Response& res);

/// Authentication, rate limiting and tenant checks of one server.
/// Thread-safe.
class access_control {
public:
  /// `node_secret`: the node-to-node credential of forwarded reads
  /// (server_config::node_secret; empty: none is accepted).
  access_control(const auth_config& cfg, double rate_per_s, double burst,
                 metrics::registry& reg, std::string node_secret = {});

  /// Checks a request against its route's policy. `read_user_id` yields
  /// the request's user_id from where the route declares it (called only
  /// for access::user routes with a user_source). On success fills
  /// `grant` and returns true; otherwise the 401/403/429/400 response is
  /// sent and it returns false. Admin tokens pass even when the user_id
  /// cannot be read (the handler then answers the precise 400).
  /// `forwardable`: the route is a routed read, so a read another node
  /// forwarded (X-Agentmem-Node-Credential, checked in constant time
  /// against the node secret; never logged) acts with the scope it passed
  /// along, without a bearer token or rate limit (both were applied by the
  /// node the client called). Elsewhere that header gets 401.
  template <class ReadUserId>
  bool authorize(const httplib::Request& req, httplib::Response& res,
                 access acc, user_source src, ReadUserId&& read_user_id,
                 access_grant& grant, bool forwardable = false) {
    if (acc == access::open)
      return true;
    auto* tok = req.has_header(forward_headers::credential)
                  ? authenticate_forwarded(req, res, forwardable, grant)
                  : authenticate(req, res, acc);
    if (!tok)
      return false;
    grant.token = tok;
    if (src == user_source::none)
      return true;
    caf::expected<std::string> uid = read_user_id();
    return check_user(res, *tok, std::move(uid), grant);
  }

  /// Counts a refusal in agentmem_http_rejected_total{reason,token} and
  /// sends the error.
  void reject(httplib::Response& res, int status, const char* code,
              const char* reason, const std::string& token,
              const std::string& detail);

private:
  // The token of the request if it is valid, within its rate limit and
  // (for access::admin) an admin token; nullptr once the error is sent.
  const token_entry* authenticate(const httplib::Request& req,
                                  httplib::Response& res, access acc);
  // The scope a forwarded read passed along (in grant.forwarded), or
  // nullptr once the error is sent.
  const token_entry* authenticate_forwarded(const httplib::Request& req,
                                            httplib::Response& res,
                                            bool forwardable,
                                            access_grant& grant);
  bool check_user(httplib::Response& res, const token_entry& tok,
                  caf::expected<std::string> uid, access_grant& grant);

  bool disabled_;
  std::string node_secret_;
  authenticator auth_;
  rate_limiter limiter_;
  metrics::registry& reg_;
  /// The principal of every request when authentication is disabled.
  token_entry anonymous_{"anonymous", {}, token_scope_kind::admin, {}, {}};
};

} // namespace agentmem::api
