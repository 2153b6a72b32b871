#pragma once

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"

namespace agentmem::actors {

/// Configuration of the aggregation stage.
struct aggregation_config {
  caf::actor next; ///< writer
};

/// State of the aggregation stage.
struct aggregation_state {
  static inline const char* name = "aggregation";
  stage_metrics metrics{"aggregation"};
};

/// Aggregation: folds the batch's activities into `usage_analytics` and
/// `agent_sessions` increments (domain/rollup.hpp). They assume every event
/// is new; the writer recomputes them over the new events only when
/// Postgres reports redelivered ones, so rollups stay exact. It also
/// gives each memory the Kafka partition of its source event
/// (domain::assign_partitions), which decides the memory's shard.
caf::behavior aggregation(caf::stateful_actor<aggregation_state>* self,
                          aggregation_config cfg);

} // namespace agentmem::actors
