#pragma once

// JSON of the analytics and skills routes (docs/api.md "Analytics",
// "Skills"): response encoders and validating decoders of request bodies,
// also used to seed the skills registry from a file.

#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "api/analytics.hpp"

namespace agentmem::api {

/// The measures as a JSON object (events, errors, success_rate,
/// processing_time_ms, latency_ms {p50,p90,p95,p99}, tokens, files,
/// sessions_started, sessions_ended, cost_usd (number), priced_events,
/// unpriced_events, last_event_at (RFC 3339 or null)).
nlohmann::ordered_json measures_json(const analytics_measures& m);

/// Cursor kinds of the analytics and skills listings (api/cursor.hpp;
/// the positions they hold: api/analytics.hpp).
constexpr char usage_cursor_kind = 'u';       ///< /v1/analytics/usage
constexpr char agents_cursor_kind = 'a';      ///< /v1/analytics/agents
constexpr char tools_cursor_kind = 't';       ///< /v1/analytics/tools
constexpr char costs_cursor_kind = 'c';       ///< /v1/analytics/costs
constexpr char skill_usage_cursor_kind = 'k'; ///< /v1/analytics/skills
constexpr char skills_cursor_kind = 'r';      ///< /v1/skills (registry)
constexpr char bindings_cursor_kind = 'b';    ///< /v1/agents/{a}/skills

/// A usage page; `next_cursor` encodes p.next (null on the last page).
nlohmann::ordered_json usage_json(const usage_query& q, const usage_page& p);
nlohmann::ordered_json agents_json(const std::vector<agent_summary>& xs);
nlohmann::ordered_json tools_json(const std::vector<tool_summary>& xs);
nlohmann::ordered_json costs_json(const std::vector<model_cost>& xs);
nlohmann::ordered_json skill_usage_json(const std::vector<skill_usage>& xs);
nlohmann::ordered_json skill_json(const skill& s);
nlohmann::ordered_json binding_json(const skill_binding& b);

/// A skill from a request body / seed entry; `name` comes from the URL when
/// not empty (then a body `name`, if any, must equal it). Fields:
/// name (1-128 chars), description (<= 4096), category (<= 128), version
/// (1-64, default "1"), spec (object, default {}), dependencies (array of
/// names, <= 64), active (bool, default true). Errors:
/// errc::invalid_request naming the field.
caf::expected<skill> parse_skill(const nlohmann::json& body,
                                 const std::string& name);

/// A binding from a body / seed entry; agent_name and skill come from the
/// URL when not empty. Fields: agent_name, skill (1-128 chars), enabled
/// (bool, default true), priority (int32, default 0), config (object,
/// default {}). Errors: errc::invalid_request naming the field.
caf::expected<skill_binding> parse_binding(const nlohmann::json& body,
                                           const std::string& agent_name,
                                           const std::string& skill);

/// A skills seed file: {"skills": [skill...], "bindings": [binding...]}
/// (both optional). Errors: errc::invalid_request (malformed JSON or an
/// entry, naming its index).
struct skills_seed {
  std::vector<skill> skills;
  std::vector<skill_binding> bindings;
};
caf::expected<skills_seed> parse_skills_seed(const std::string& text);

} // namespace agentmem::api
