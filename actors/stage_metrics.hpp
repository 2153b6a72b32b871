#pragma once

#include <chrono>
#include <string>

#include "metrics/registry.hpp"

namespace agentmem::actors {

/// When a stage started on a batch: wall clock and the calling thread's CPU
/// time (CLOCK_THREAD_CPUTIME_ID, seconds).
struct stage_start {
  std::chrono::steady_clock::time_point wall;
  double thread_cpu_s = 0;
};

/// CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID).
double thread_cpu_seconds();

/// Per-stage instruments: `agentmem_stage_duration_seconds{stage}`,
/// `agentmem_stage_batches_total{stage}` and
/// `agentmem_stage_cpu_seconds_total{stage}` (CPU the stage's thread spent
/// on its batches, plus what helper threads reported: the CPU per event of
/// each stage, which wall time hides when stages wait on each other).
struct stage_metrics {
  metrics::histogram* duration;
  metrics::counter* batches;
  metrics::counter* cpu;

  explicit stage_metrics(const std::string& stage);

  /// Now, for done(): call on the thread that works on the batch.
  static stage_start begin();

  /// Records one batch that took from `start` until now (wall time only).
  void done(std::chrono::steady_clock::time_point start);

  /// Records one batch begun at `start` on this thread; `helper_cpu_s` is
  /// CPU other threads spent on it (e.g. parallel HNSW insertion).
  void done(const stage_start& start, double helper_cpu_s = 0);
};

/// `agentmem_actor_restarts_total{actor}`.
metrics::counter& restarts_counter(const std::string& actor);

} // namespace agentmem::actors
