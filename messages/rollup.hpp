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
  int64_t started_at_ms = 0;  ///< min ts seen (or session_start ts)
  int64_t ended_at_ms = -1;   ///< ts of session_end, -1 if none in batch
  int64_t last_activity_ms = 0;
  int64_t interactions = 0;   ///< events counted in this delta
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_delta& x) {
  return f(caf::meta::type_name("agentmem::session_delta"), x.user_id,
           x.session_id, x.agent_type, x.started_at_ms, x.ended_at_ms,
           x.last_activity_ms, x.interactions);
}

} // namespace agentmem
