#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "domain/timestamp.hpp"
#include "messages/activity.hpp"
#include "messages/batch.hpp"
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
/// ended_at = ts of the last `session_end`, interactions = event count,
/// project_id = that of the latest event (by ts) that names one.
std::vector<session_delta> session_deltas(const std::vector<activity>& xs);

/// Start of the UTC window of width `width_ms` (an hour: 3,600,000; a
/// day: 86,400,000) holding `ts_ms`: ts floored to a multiple of the width
/// (also before 1970).
int64_t window_start(int64_t ts_ms, int64_t width_ms);

/// Model prices of the `[pricing]` config table: model -> USD per 1000
/// tokens (tokens_used).
using pricing_table = std::map<std::string, double>;

/// Sets `cost_nanousd` of every activity that has none (the event gave no
/// `cost_usd`) and whose `model` is in `prices`:
/// round(tokens_used * price_per_1k * 1e6) (1e-9 USD). Events of models
/// without a price keep -1: they are counted as unpriced, not as free.
void price_activities(std::vector<activity>& xs, const pricing_table& prices);

/// Folds activities into `analytics_rollups` increments: for each event,
/// its UTC hour window of the group "agent" (user_id,
/// agent_type, agent_name), of "tool" when tool_name is set, and of "model"
/// when model is set (see analytics_delta), in first-seen order. Measures:
/// events, errors (success == false), processing_time_ms sum and its
/// latency_sketch, tokens, files (file_upload), sessions started/ended
/// (session_start / session_end events), cost (events with
/// cost_nanousd >= 0 are priced; others with a model or tokens are
/// unpriced). Like usage_deltas, callers pass only events that are new.
/// Day windows are not folded here: the store sums each hour into its day
/// when the hour closes (storage/analytics_sql.hpp).
std::vector<analytics_delta> analytics_deltas(const std::vector<activity>& xs);

/// Sets b.usage, b.sessions and b.analytics from b.activities (the three
/// folds above): every place that changes a batch's activities calls it so
/// that the rollups always describe exactly those activities. With
/// `analytics` false (`[analytics] enabled = false`) b.analytics is left
/// empty (the store writes no analytics rollups then either).
void fold_rollups(batch& b, bool analytics = true);

} // namespace agentmem::domain
