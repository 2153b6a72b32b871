#include "actors/aggregation.hpp"

#include "domain/partitions.hpp"
#include "domain/rollup.hpp"
#include "actors/fault_injection.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

caf::behavior aggregation(caf::stateful_actor<aggregation_state>* self,
                          aggregation_config cfg) {
  return {
    [=](batch& b) {
      auto start = stage_metrics::begin();
      fault_point("aggregation");
      if (cfg.pricing)
        domain::price_activities(b.activities, *cfg.pricing);
      domain::fold_rollups(b, cfg.analytics);
      domain::assign_partitions(b);
      self->state.metrics.done(start);
      self->send(cfg.next, std::move(b));
    },
  };
}

} // namespace agentmem::actors
