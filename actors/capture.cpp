#include "actors/capture.hpp"

#include "actors/fault_injection.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

caf::behavior capture(caf::stateful_actor<capture_state>* self,
                      capture_config cfg) {
  self->state.decoder = domain::event_decoder{cfg.limits};
  return {
    [=](batch& b) {
      auto start = std::chrono::steady_clock::now();
      fault_point("capture");
      b.activities.clear();
      b.dead_letters.clear();
      domain::decode_batch(self->state.decoder, b.records, b.activities,
                           b.dead_letters);
      b.records.clear();
      b.records.shrink_to_fit();
      self->state.metrics.done(start);
      self->send(cfg.next, std::move(b));
    },
  };
}

} // namespace agentmem::actors
