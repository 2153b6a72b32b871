#pragma once

// Internal to api/: the analytics, skills and status-page routes
// (docs/api.md "Analytics", "Skills"; docs/operations.md "Status page"),
// kept apart from server.cpp's dispatcher: it authenticates, rate-limits
// and parses the query string, then calls these and sends their reply.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "api/analytics.hpp"
#include "api/auth.hpp"

namespace agentmem::api::analytics_routes {

/// Query keys the server accepts on these routes (others: 400); each
/// handler rejects the ones it has no use for.
constexpr std::string_view query_keys[] = {
  "from", "to", "granularity", "group_by", "user_id", "cursor", "limit"};

using query_params = std::map<std::string, std::string>;

/// What to answer: a JSON body, an error, a backend error, or a file.
struct reply {
  int status = 200;
  nlohmann::ordered_json json;   ///< status < 300 and no file
  std::string error_code;        ///< status >= 400: "bad_request", ...
  std::string detail;            ///< of the error
  caf::error backend_error;      ///< set: answer as the server maps it
  std::string_view file;         ///< /ui files (static storage)
  std::string_view content_type; ///< of `file`
};

/// The user scope of a token (admin: all users).
user_scope scope_of(const token_entry& tok);

/// GET /v1/analytics/{report}: usage, agents, tools, costs, skills.
/// `now_ms`: the default end of the range.
reply analytics(analytics_backend* be, std::string_view report,
                const query_params& q, const token_entry& tok,
                int64_t now_ms);

/// /v1/skills[/{name}] (GET list or one, PUT and DELETE need an admin).
/// `name` is the decoded path segment ("" for the collection).
reply skills(analytics_backend* be, const std::string& method,
             const std::string& name, const std::string& body,
             const query_params& q, const token_entry& tok);

/// /v1/agents/{agent_name}/skills[/{skill}] (GET; PUT and DELETE of one
/// binding need an admin).
reply agent_skills(analytics_backend* be, const std::string& method,
                   const std::string& agent_name, const std::string& skill,
                   const std::string& body, const query_params& q,
                   const token_entry& tok);

/// GET /ui, /ui/{file}: the status page's files.
reply ui_file(std::string_view name);

/// GET /ui/api/today (admin token): today's analytics for the page.
reply ui_today(analytics_backend* be, int64_t now_ms);

} // namespace agentmem::api::analytics_routes
