#include "pipeline/actor_system.hpp"

#include <chrono>

#include "messages/type_ids.hpp"

namespace agentmem::pipeline {

caf::actor_system_config node_actor_system_config() {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::agentmem>();
  // An idle worker otherwise wakes every 50 µs for up to 25 ms each time
  // it runs out of work: a pipeline that hands a batch from stage to stage
  // goes idle between hand-overs, and these wake-ups were a quarter of the
  // process's CPU samples with small batches (docs/performance.md).
  cfg.set("work-stealing.moderate-poll-attempts",
          scheduler_moderate_poll_attempts);
  cfg.set("work-stealing.relaxed-sleep-duration",
          caf::timespan{std::chrono::microseconds{scheduler_relaxed_sleep_us}});
  return cfg;
}

} // namespace agentmem::pipeline
