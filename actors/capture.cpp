#include "actors/capture.hpp"

#include "actors/fault_injection.hpp"
#include "messages/type_ids.hpp"
#include "metrics/registry.hpp"

namespace agentmem::actors {

metrics::counter& tombstoned_counter() {
  return metrics::global().get_counter(
    "agentmem_events_tombstoned_total",
    "Events dropped because their user was deleted (event ts <= the "
    "user's tombstone cutoff); their offsets are still committed.");
}

caf::behavior capture(caf::stateful_actor<capture_state>* self,
                      capture_config cfg) {
  self->state.decoder = domain::event_decoder{cfg.limits};
  tombstoned_counter(); // exposed (as 0) before the first drop
  return {
    [=](batch& b) {
      auto start = stage_metrics::begin();
      fault_point("capture");
      b.activities.clear();
      b.dead_letters.clear();
      domain::decode_batch(self->state.decoder, b.records, b.activities,
                           b.dead_letters);
      b.records.clear();
      b.records.shrink_to_fit();
      if (cfg.tombstones && !cfg.tombstones->empty()) {
        auto n = domain::drop_tombstoned(b, *cfg.tombstones->snapshot());
        if (n > 0)
          tombstoned_counter().inc(static_cast<double>(n));
      }
      self->state.metrics.done(start);
      self->send(cfg.next, std::move(b));
    },
  };
}

} // namespace agentmem::actors
