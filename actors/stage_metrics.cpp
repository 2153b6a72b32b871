#include "actors/stage_metrics.hpp"

namespace agentmem::actors {

stage_metrics::stage_metrics(const std::string& stage) {
  auto& reg = metrics::global();
  duration = &reg.get_histogram("agentmem_stage_duration_seconds",
                                "Time a pipeline stage spent on one batch.",
                                metrics::latency_buckets(), {{"stage", stage}});
  batches = &reg.get_counter("agentmem_stage_batches_total",
                             "Batches processed by a pipeline stage.",
                             {{"stage", stage}});
}

void stage_metrics::done(std::chrono::steady_clock::time_point start) {
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
  duration->observe(d.count());
  batches->inc();
}

metrics::counter& restarts_counter(const std::string& actor) {
  return metrics::global().get_counter(
    "agentmem_actor_restarts_total",
    "Pipeline actors restarted by the supervisor.", {{"actor", actor}});
}

} // namespace agentmem::actors
