#pragma once

#include <chrono>
#include <string>

#include "metrics/registry.hpp"

namespace agentmem::actors {

/// Per-stage instruments: `agentmem_stage_duration_seconds{stage}` and
/// `agentmem_stage_batches_total{stage}`.
struct stage_metrics {
  metrics::histogram* duration;
  metrics::counter* batches;

  explicit stage_metrics(const std::string& stage);

  /// Records one batch that took from `start` until now.
  void done(std::chrono::steady_clock::time_point start);
};

/// `agentmem_actor_restarts_total{actor}`.
metrics::counter& restarts_counter(const std::string& actor);

} // namespace agentmem::actors
