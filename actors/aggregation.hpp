#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/rollup.hpp"

namespace agentmem::actors {

/// Configuration of the aggregation stage.
struct aggregation_config {
  caf::actor next; ///< writer
  /// `[pricing]`: model -> USD per 1000 tokens (may be null or empty).
  std::shared_ptr<const domain::pricing_table> pricing;
  /// `[analytics] enabled`: false computes no analytics_rollups deltas.
  bool analytics = true;
};

/// State of the aggregation stage.
struct aggregation_state {
  static inline const char* name = "aggregation";
  stage_metrics metrics{"aggregation"};
};

/// Aggregation: prices the batch's activities that carry no `cost_usd`
/// (cfg.pricing), then folds them into `usage_analytics`, `agent_sessions`
/// and `analytics_rollups` increments (domain/rollup.hpp). They assume
/// every event is new; the writer recomputes them over the new events only
/// when Postgres reports redelivered ones, so rollups stay exact. It also
/// gives each memory the Kafka partition of its source event
/// (domain::assign_partitions), which decides the memory's shard.
caf::behavior aggregation(caf::stateful_actor<aggregation_state>* self,
                          aggregation_config cfg);

} // namespace agentmem::actors
