#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace agentmem::storage {
class shard_set;
} // namespace agentmem::storage

namespace agentmem::actors {

/// Liveness facts the actors publish and `/readyz` reads. Thread-safe once
/// `shards` is set (before any reader starts).
struct health {
  std::atomic<bool> migrated{false};    ///< migrations applied
  std::atomic<bool> postgres_ok{false}; ///< last Postgres commit succeeded
  std::atomic<bool> kafka_ok{false};    ///< consumer created and polling
  std::atomic<bool> stopping{false};    ///< shutdown under way
  /// This process committed its first batch (ingress). Shard warm-up
  /// waits for it (actors/index_sync.hpp), so that a restarted node's
  /// first commit does not queue behind its catch-up from Postgres.
  std::atomic<bool> first_commit{false};
  /// The node's shards (none when unset or gone). A node is not ready to
  /// take client reads before one of them is in phase serving
  /// (docs/operations.md); the phase is read from the shard set itself.
  /// Weak: the health object outlives the node in the metrics registry's
  /// agentmem_ready function, and must not keep the index alive there.
  std::weak_ptr<const storage::shard_set> shards;

  /// Empty when ready, else why not.
  std::string not_ready_reason() const;
};

} // namespace agentmem::actors
