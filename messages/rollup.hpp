#pragma once

#include <cstdint>
#include <string>

#include "messages/inspect.hpp"

namespace agentmem {

/// Increment of one `usage_analytics` row: per (user_id, UTC day, agent_type).
struct usage_delta {
  std::string user_id;
  std::string day; ///< YYYY-MM-DD, UTC date of the events' `ts`
  std::string agent_type;
  int64_t activity_count = 0;
  int64_t error_count = 0;
  int64_t total_processing_time_ms = 0;
  int64_t tokens_used = 0;
  int64_t files_uploaded = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, usage_delta& x) {
  return f(caf::meta::type_name("agentmem::usage_delta"), x.user_id, x.day,
           x.agent_type, x.activity_count, x.error_count,
           x.total_processing_time_ms, x.tokens_used, x.files_uploaded);
}

/// Increment of one `agent_sessions` row.
struct session_delta {
  std::string user_id;
  std::string session_id;
  std::string agent_type;
  std::string project_id;     ///< latest project_id seen, or empty
  int64_t project_ts_ms = 0;  ///< ts of the event that named it
  int64_t started_at_ms = 0;  ///< min ts seen (or session_start ts)
  int64_t ended_at_ms = -1;   ///< ts of session_end, -1 if none in batch
  int64_t last_activity_ms = 0;
  int64_t interactions = 0;   ///< events counted in this delta
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_delta& x) {
  return f(caf::meta::type_name("agentmem::session_delta"), x.user_id,
           x.session_id, x.agent_type, x.project_id, x.project_ts_ms,
           x.started_at_ms, x.ended_at_ms,
           x.last_activity_ms, x.interactions);
}

/// Increment of one hourly `analytics_rollups` row (storage/migrations/
/// 040_analytics.sql): one event-time window (a UTC hour starting at
/// `bucket_start_ms`) of one group; day rows are sums of closed hours
/// (storage/analytics_sql.hpp). `kind` says which
/// group: "agent" = (user_id, agent_type, agent_name), "tool" = that plus
/// (tool_name, tool_category), "model" = the agent plus `model`; fields
/// outside the kind's group are empty.
struct analytics_delta {
  int64_t bucket_start_ms = 0; ///< ms since the Unix epoch, UTC
  std::string kind;
  std::string user_id;
  std::string agent_type;
  std::string agent_name;
  std::string tool_name;
  std::string tool_category;
  std::string model;
  int64_t events = 0;
  int64_t errors = 0;             ///< events with success == false
  int64_t processing_time_ms = 0; ///< sum
  int64_t tokens = 0;             ///< sum of tokens_used
  int64_t files = 0;              ///< file_upload events
  int64_t sessions_started = 0;   ///< session_start events
  int64_t sessions_ended = 0;     ///< session_end events
  int64_t cost_nanousd = 0;       ///< sum over priced events, 1e-9 USD
  int64_t priced_events = 0;      ///< events with a cost
  int64_t unpriced_events = 0;    ///< events with a model/tokens, no price
  int64_t last_ts_ms = 0;         ///< greatest event time
  /// domain::latency_sketch of processing_time_ms, as its JSON object.
  std::string latency_sketch_json;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, analytics_delta& x) {
  return f(caf::meta::type_name("agentmem::analytics_delta"),
           x.bucket_start_ms, x.kind, x.user_id, x.agent_type, x.agent_name,
           x.tool_name, x.tool_category, x.model, x.events, x.errors,
           x.processing_time_ms, x.tokens, x.files, x.sessions_started,
           x.sessions_ended, x.cost_nanousd, x.priced_events,
           x.unpriced_events, x.last_ts_ms, x.latency_sketch_json);
}

} // namespace agentmem
