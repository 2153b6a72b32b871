#pragma once

// Internal to api/: the route table. Every endpoint is one row (path
// template, methods, access policy, where its user_id comes from, which
// listener serves it, handler); the dispatcher (api/dispatch.cpp) matches,
// authorizes and calls the handler, so adding an endpoint is adding a row
// here and a handler in the handlers_<area>.cpp of its area.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/access.hpp"
#include "api/backend.hpp"
#include "api/http_io.hpp"
#include "api/server.hpp"
#include "metrics/registry.hpp"

namespace agentmem::api {

/// HTTP methods a row serves (a bit set).
enum method_bits : uint8_t {
  m_get = 1,
  m_head = 2,
  m_post = 4,
  m_put = 8,
  m_patch = 16,
  m_delete = 32,
};

/// The bit of an HTTP method name, 0 for any other.
uint8_t method_bit(std::string_view method);

/// "GET, HEAD, PATCH, DELETE": the methods of `bits` in a fixed order.
std::string method_list(uint8_t bits);

/// Which listener serves a row (server_config::ops_listener).
enum class listener { main, ops };

struct call;

/// A route handler: reads the request from `c`, answers through `c.res`.
/// Exceptions are caught by the dispatcher (503).
using handler_fn = void (*)(call& c);

/// One row of the route table.
struct route {
  const char* pattern; ///< "/v1/users/{user_id}/facts": `{name}` segments
                       ///< are parameters (percent-encoded in the target)
  uint8_t methods;     ///< method_bits; several rows may share a pattern
  access acc;
  user_source user_from;
  listener served_by;
  handler_fn handler;
  /// Whether the handler reads a request body (JSON). Only these rows keep
  /// the body; others read and discard it.
  bool json_body = false;
  /// A read whose answer depends on which node holds the user's shards
  /// (docs/operations.md, "Routed reads"): the dispatcher asks
  /// backend::route_read() before the handler runs and relays another
  /// node's answer; only these rows accept reads other nodes forward.
  std::optional<routed_read> routed;
};

/// Every route, in match order (literal patterns before parametric ones of
/// the same shape).
const std::vector<route>& route_table();

/// Raw (still percent-encoded) path parameters of a match, by name.
using path_params = std::vector<std::pair<std::string_view, std::string_view>>;

/// The result of matching a request target against the table.
struct route_match {
  /// The matched pattern, nullptr when none matched. All rows with this
  /// pattern are candidates for the method.
  const char* pattern = nullptr;
  path_params params;
  listener served_by = listener::main;
  uint8_t allowed = 0;        ///< methods of all rows with the pattern
  const route* row = nullptr; ///< the row serving the request's method
};

/// Matches the raw target (so that an encoded '/' stays inside its
/// segment) and the method.
route_match match_route(std::string_view target, std::string_view method);

/// The parts of a server every handler may use.
struct server_context {
  const server_config& cfg;
  backend& be;
  metrics::registry& reg;
  metrics::histogram& search_latency;

  /// Adds the serialized size of `item` (plus a separator) to `used`;
  /// false (and `used` unchanged) when that would pass
  /// cfg.max_response_bytes.
  bool fits(size_t& used, const http::ojson& item) const;
};

/// A request body parsed (strictly, domain/strict_json.hpp) on first use,
/// at most once per request.
class json_body {
public:
  explicit json_body(std::string raw) : raw_(std::move(raw)) {
  }
  const caf::expected<nlohmann::json>& get();
  /// The body as received.
  const std::string& raw() const {
    return raw_;
  }

private:
  std::string raw_;
  std::optional<caf::expected<nlohmann::json>> parsed_;
};

/// Deepest JSON nesting accepted in a request body.
constexpr size_t max_body_depth = 16;

/// One request being handled.
struct call {
  const httplib::Request& req;
  httplib::Response& res;
  server_context& srv;
  const route_match& match;
  access_grant grant;
  json_body body;

  backend& be() {
    return srv.be;
  }

  /// The raw value of path parameter `name` ("" when the pattern has none).
  std::string_view raw_param(std::string_view name) const;

  /// Path parameter `name`, decoded and validated as an identifier.
  caf::expected<std::string> path_id(const char* name) const;

  /// The user_id of the request from where its row declares it (path
  /// segment, query parameter or body field), validated as an identifier.
  caf::expected<std::string> user_id();

  /// user_id() checked with permits(); nullopt once a 400 or 403 is sent.
  std::optional<std::string> user();

  /// How this read travelled and what to forward (routed reads).
  read_context routing() const;
};

/// The handlers, by area (api/handlers_<area>.cpp).
namespace handlers {
// memory: search, session messages, working memory, history
void search(call& c);
void session_messages(call& c);
void memory_history(call& c);
void working_memory(call& c);
void get_memory(call& c);
void patch_memory(call& c);
void delete_memory(call& c);
void list_memories(call& c);
void list_sessions(call& c);
void list_projects(call& c);
// analytics: usage rollups, event-time reports, skills, status page
void usage(call& c);
void analytics_usage(call& c);
void analytics_agents(call& c);
void analytics_tools(call& c);
void analytics_costs(call& c);
void analytics_skills(call& c);
void list_skills(call& c);
void get_skill(call& c);
void put_skill(call& c);
void delete_skill(call& c);
void list_agent_skills(call& c);
void get_agent_skill(call& c);
void put_agent_skill(call& c);
void delete_agent_skill(call& c);
void ui_file(call& c);
void ui_today(call& c);
// knowledge: facts and graph memory
void facts(call& c);
void entities(call& c);
void entity_neighbors(call& c);
// governance: user deletion and export
void delete_user(call& c);
void export_user(call& c);
// ops: liveness, readiness, metrics, the OpenAPI document
void healthz(call& c);
void readyz(call& c);
void metrics(call& c);
void openapi(call& c);
} // namespace handlers

} // namespace agentmem::api
