#include "actors/stage_metrics.hpp"

#include <algorithm>
#include <ctime>

namespace agentmem::actors {

stage_metrics::stage_metrics(const std::string& stage) {
  auto& reg = metrics::global();
  duration = &reg.get_histogram("agentmem_stage_duration_seconds",
                                "Time a pipeline stage spent on one batch.",
                                metrics::latency_buckets(), {{"stage", stage}});
  batches = &reg.get_counter("agentmem_stage_batches_total",
                             "Batches processed by a pipeline stage.",
                             {{"stage", stage}});
  cpu = &reg.get_counter("agentmem_stage_cpu_seconds_total",
                         "CPU time a pipeline stage spent on its batches "
                         "(its thread and helper threads).",
                         {{"stage", stage}});
}

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

stage_start stage_metrics::begin() {
  return {std::chrono::steady_clock::now(), thread_cpu_seconds()};
}

void stage_metrics::done(const stage_start& start, double helper_cpu_s) {
  done(start.wall);
  cpu->inc(std::max(0.0, thread_cpu_seconds() - start.thread_cpu_s)
           + helper_cpu_s);
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
