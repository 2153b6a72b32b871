#pragma once

#include <atomic>
#include <mutex>
#include <string>

namespace agentmem::actors {

/// Liveness facts the actors publish and `/readyz` reads. Thread-safe.
struct health {
  std::atomic<bool> migrated{false};    ///< migrations applied
  std::atomic<bool> postgres_ok{false}; ///< last Postgres commit succeeded
  std::atomic<bool> kafka_ok{false};    ///< consumer created and polling
  std::atomic<bool> stopping{false};    ///< shutdown under way

  /// Empty when ready, else why not.
  std::string not_ready_reason() const {
    if (stopping)
      return "shutting down";
    if (!migrated)
      return "migrations not applied";
    if (!postgres_ok)
      return "postgres unreachable";
    if (!kafka_ok)
      return "kafka consumer not running";
    return {};
  }
};

} // namespace agentmem::actors
