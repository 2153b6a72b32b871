#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domain/timestamp.hpp"
#include "messages/activity.hpp"
#include "messages/rollup.hpp"

namespace agentmem::domain {

/// Folds activities into `usage_analytics` increments, one per
/// (user_id, UTC day of ts, agent_type), in first-seen order:
/// activity_count = events, error_count = events with success == false,
/// total_processing_time_ms / tokens_used = sums, files_uploaded = events of
/// class `file_upload`. Callers pass only events that are new, which keeps
/// the rollup exact under redelivery.
std::vector<usage_delta> usage_deltas(const std::vector<activity>& xs);

/// Folds activities into `agent_sessions` increments, one per
/// (user_id, session_id): started_at = min ts, last_activity = max ts,
/// ended_at = ts of the last `session_end`, interactions = event count.
std::vector<session_delta> session_deltas(const std::vector<activity>& xs);

} // namespace agentmem::domain
