#pragma once

// Rows of the event-time analytics and the skills registry
// (storage/migrations/040_analytics.sql, 041_skills.sql) that the stores
// return to readers: plain structs, so that storage/ never includes api/.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "messages/rows.hpp"

namespace agentmem {

/// The users a request may see, from its token's scope (api/auth.hpp).
struct user_scope {
  bool all = false;               ///< admin: every user
  std::vector<std::string> users; ///< exactly these (when !all, no prefix)
  std::string prefix;             ///< every user_id starting with it
};

/// A bounded event-time range [from_ms, to_ms) and the users it covers.
struct analytics_range {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  user_scope scope;
  std::string user_id; ///< only this user when not empty
};

/// Measures of a set of analytics_rollups rows (docs/api.md "Analytics").
struct analytics_measures {
  int64_t events = 0;
  int64_t errors = 0;
  std::optional<double> success_rate; ///< 1 - errors/events; none if no events
  int64_t processing_time_ms = 0;     ///< sum
  /// Latency percentiles (ms) from the merged sketch, within 1 %; none if
  /// no events.
  std::optional<double> p50_ms, p90_ms, p95_ms, p99_ms;
  int64_t tokens = 0;
  int64_t files = 0;
  int64_t sessions_started = 0;
  int64_t sessions_ended = 0;
  std::string cost_usd = "0"; ///< exact decimal text (numeric)
  int64_t priced_events = 0;
  int64_t unpriced_events = 0;
  int64_t last_event_ms = 0; ///< greatest event time, 0 if none
};

/// Which keyset page of a listing to read: the rows after `after`, at most
/// `limit` of them. `after` is the sort key of the previous page's last row
/// (keyset_page::next; the API carries it as an opaque cursor,
/// api/cursor.hpp); each listing documents what its ts_ms and id hold.
struct page_request {
  std::optional<list_position> after; ///< none: the first page
  int limit = 100;                    ///< rows per page, >= 1
};

/// A page of rows in the listing's order and where the next page starts.
template <class T>
struct keyset_page {
  std::vector<T> items;
  /// Sort key of the last item when more rows follow; none on the last page.
  std::optional<list_position> next;
};

/// GET /v1/analytics/usage: one time bucket of one group.
struct usage_query {
  analytics_range range;
  std::string granularity = "hour"; ///< "hour" | "day"
  /// "user" | "agent_type" | "agent_name" | "model" | "tool"
  std::string group_by = "agent_type";
  /// Position (bucket_start ms, group key; tool: name U+001F category)
  /// and length of the page.
  page_request page{std::nullopt, 1000};
};

/// One row of a usage page.
struct usage_bucket {
  int64_t bucket_start_ms = 0;
  std::string group; ///< user_id, agent_type, agent_name or model; tool name
  std::string tool_category; ///< group_by "tool" only
  analytics_measures m;
};

/// A page of usage rows in (bucket_start, group) order.
using usage_page = keyset_page<usage_bucket>;

/// GET /v1/analytics/agents: the agent performance summary.
struct agent_summary {
  std::string agent_type;
  std::string agent_name;
  analytics_measures m;
  /// events / sessions_started (the mean session length in events);
  /// none without a started session.
  std::optional<double> mean_events_per_session;
};

/// GET /v1/analytics/tools: per (tool_name, tool_category).
struct tool_summary {
  std::string tool_name;
  std::string tool_category;
  int64_t agents = 0; ///< distinct (agent_type, agent_name) that called it
  analytics_measures m;
};

/// GET /v1/analytics/costs: per model.
struct model_cost {
  std::string model;
  analytics_measures m;
};

/// A skill of the registry (table `skills`).
struct skill {
  std::string name;
  std::string description;
  std::string category;
  std::string version = "1";
  std::string spec_json = "{}";          ///< JSON object
  std::vector<std::string> dependencies; ///< other skills' names
  bool active = true;
  int64_t updated_ms = 0; ///< set by the store
};

/// Which skills an agent may use (table `agent_skill_bindings`).
struct skill_binding {
  std::string agent_name;
  std::string skill;
  bool enabled = true;
  int32_t priority = 0;
  std::string config_json = "{}"; ///< JSON object
  int64_t updated_ms = 0;         ///< set by the store
};

/// GET /v1/analytics/skills: a skill's usage (tool calls named after it).
struct skill_usage {
  std::string skill;
  std::string category;
  bool active = true;
  std::vector<std::string> bound_agents; ///< enabled bindings, by priority
  analytics_measures m;                  ///< calls in the range
};

} // namespace agentmem
