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
  /// At least one shard this node owns serves (index_sync); a node is not
  /// ready to take client reads before (docs/operations.md).
  std::atomic<bool> shard_serving{false};
  /// This process committed its first batch (ingress). Shard warm-up
  /// waits for it (actors/index_sync.hpp), so that a restarted node's
  /// first commit does not queue behind its catch-up from Postgres.
  std::atomic<bool> first_commit{false};

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
    if (!shard_serving)
      return "no owned shard is serving yet";
    return {};
  }
};

} // namespace agentmem::actors
