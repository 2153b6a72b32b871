#include "api/access.hpp"

#include "api/codec.hpp"
#include "api/http_io.hpp"

namespace agentmem::api {

bool permits(const access_grant& g, const std::string& uid) {
  return g.token && g.token->allows(uid)
         && (!g.user_checked || g.user_id == uid);
}

std::optional<std::string> permitted_user(caf::expected<std::string> uid,
                                          const access_grant& grant,
                                          httplib::Response& res) {
  if (!uid) {
    http::send_bad_request(res, uid.error());
    return std::nullopt;
  }
  if (!permits(grant, *uid)) {
    http::send_error(res, 403, "forbidden",
                     "the token may not access this user_id");
    return std::nullopt;
  }
  return std::move(*uid);
}

access_control::access_control(const auth_config& cfg, double rate_per_s,
                               double burst, metrics::registry& reg,
                               std::string node_secret)
  : disabled_(cfg.disabled),
    node_secret_(std::move(node_secret)),
    auth_(cfg.tokens),
    limiter_(rate_per_s, burst),
    reg_(reg) {
}

void access_control::reject(httplib::Response& res, int status,
                            const char* code, const char* reason,
                            const std::string& token,
                            const std::string& detail) {
  reg_
    .get_counter("agentmem_http_rejected_total",
                 "HTTP requests refused before reaching a handler, by reason "
                 "and token name",
                 {{"reason", reason}, {"token", token}})
    .inc();
  http::send_error(res, status, code, detail);
}

const token_entry* access_control::authenticate(const httplib::Request& req,
                                                httplib::Response& res,
                                                access acc) {
  const token_entry* tok = &anonymous_;
  if (!disabled_) {
    auto n = req.get_header_value_count("Authorization");
    std::string header = n == 1 ? req.get_header_value("Authorization") : "";
    auto token = bearer_token(header);
    if (token.empty()) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"agentmem\"");
      reject(res, 401, "unauthorized", "unauthenticated", "none",
             "this endpoint needs one 'Authorization: Bearer <token>' header");
      return nullptr;
    }
    tok = auth_.authenticate(token);
    if (!tok) {
      res.set_header("WWW-Authenticate",
                     "Bearer realm=\"agentmem\", error=\"invalid_token\"");
      reject(res, 401, "unauthorized", "unauthenticated", "none",
             "the bearer token is not valid");
      return nullptr;
    }
  }
  reg_
    .get_counter("agentmem_http_authenticated_requests_total",
                 "HTTP requests with a valid token, by token name",
                 {{"token", tok->name}})
    .inc();
  if (int wait = limiter_.acquire(tok->name)) {
    res.set_header("Retry-After", std::to_string(wait));
    reject(res, 429, "rate_limited", "rate_limited", tok->name,
           "token " + tok->name + " exceeded its rate limit; retry after "
             + std::to_string(wait) + " s");
    return nullptr;
  }
  if (acc == access::admin && !tok->is_admin()) {
    reject(res, 403, "forbidden", "forbidden", tok->name,
           "token " + tok->name + " is not an admin token");
    return nullptr;
  }
  return tok;
}

const token_entry* access_control::authenticate_forwarded(
  const httplib::Request& req, httplib::Response& res, bool forwardable,
  access_grant& grant) {
  if (!forwardable || node_secret_.empty()
      || !same_secret(req.get_header_value(forward_headers::credential),
                      node_secret_)) {
    reject(res, 401, "unauthorized", "unauthenticated", "none",
           forwardable ? "the node credential of a forwarded read is not valid"
                       : "this endpoint does not take forwarded reads");
    return nullptr;
  }
  auto scope = scope_entry(req.get_header_value(forward_headers::scope),
                           "forwarded");
  auto parts =
    parse_partitions(req.get_header_value(forward_headers::partitions));
  auto hops = http::parse_small_int(req.get_header_value(forward_headers::hops));
  if (!scope || !parts || !hops || *hops < 1) {
    http::send_error(res, 400, "bad_request",
                     "a forwarded read needs its scope, partitions and hops");
    return nullptr;
  }
  grant.forwarded = std::move(*scope);
  grant.partitions = std::move(*parts);
  grant.hops = *hops;
  return &*grant.forwarded;
}

bool access_control::check_user(httplib::Response& res,
                                const token_entry& tok,
                                caf::expected<std::string> uid,
                                access_grant& grant) {
  if (uid)
    if (auto err = check_id("user_id", *uid))
      uid = std::move(err);
  if (!uid) {
    // Admin tokens may touch any user: the handler gives the precise 400.
    if (tok.is_admin())
      return true;
    http::send_bad_request(res, uid.error());
    return false;
  }
  if (!tok.allows(*uid)) {
    reject(res, 403, "forbidden", "forbidden", tok.name,
           "token " + tok.name + " may not access user_id \""
             + http::clip(*uid, 64) + "\"");
    return false;
  }
  grant.user_id = std::move(*uid);
  grant.user_checked = true;
  return true;
}

} // namespace agentmem::api
