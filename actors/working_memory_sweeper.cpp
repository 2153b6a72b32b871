#include "actors/working_memory_sweeper.hpp"

#include <spdlog/spdlog.h>

#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

using sweep_atom = caf::atom_constant<caf::atom("wmsweep")>;

} // namespace

caf::behavior
working_memory_sweeper(caf::stateful_actor<working_memory_sweeper_state>* self,
                       working_memory_sweeper_config cfg) {
  auto& reg = metrics::global();
  self->state.swept = &reg.get_counter(
    "agentmem_working_memory_expired_sessions_total",
    "Working-memory sessions deleted by the sweeper after their TTL.");
  self->state.errors = &reg.get_counter(
    "agentmem_working_memory_sweep_errors_total",
    "Failed working-memory sweeps.");
  self->delayed_send(self, cfg.interval, sweep_atom::value);
  return {
    [=](sweep_atom) {
      auto n = cfg.working->sweep();
      if (n) {
        self->state.swept->inc(static_cast<double>(*n));
      } else {
        self->state.errors->inc();
        spdlog::warn("[working_memory] sweep failed: {}", describe(n.error()));
      }
      self->delayed_send(self, cfg.interval, sweep_atom::value);
    },
  };
}

} // namespace agentmem::actors
