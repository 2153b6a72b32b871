#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "metrics/registry.hpp"
#include "storage/routing_store.hpp"
#include "storage/shard_set.hpp"

namespace agentmem::actors {

/// The routing table as this node last read it, shared by the membership
/// actor (writer), index_sync (hand-off) and the HTTP API (routing of
/// reads). Thread-safe.
class cluster_view {
public:
  /// `node_timeout`: a node whose heartbeat is older is not alive.
  explicit cluster_view(std::chrono::milliseconds node_timeout)
    : node_timeout_(node_timeout) {
  }

  /// Replaces the table (read just now).
  void update(storage::routing_table t);

  /// The last table read and when (nullptr before the first read).
  std::shared_ptr<const storage::routing_table> table() const;

  /// The owner row of `partition`, if any.
  std::optional<storage::partition_owner> owner(int32_t partition) const;

  /// The HTTP address of `node_id` when its heartbeat is within the
  /// liveness window (age at read + time since the read), else nullopt.
  std::optional<std::string> live_address(const std::string& node_id) const;

  /// Milliseconds since the table was read (a large value before the
  /// first read).
  int64_t age_ms() const;

  /// The liveness window.
  std::chrono::milliseconds node_timeout() const {
    return node_timeout_;
  }

private:
  std::chrono::milliseconds node_timeout_;
  mutable std::mutex mtx_;
  std::shared_ptr<const storage::routing_table> table_;
  std::chrono::steady_clock::time_point read_at_;
};

/// Configuration of the membership actor.
struct membership_config {
  std::string postgres_url; ///< secret: never logged
  std::string node_id;
  std::string http_address; ///< advertised host:port
  std::string group;        ///< consumer group
  std::string topic;
  std::chrono::milliseconds interval{1000}; ///< heartbeat period
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<cluster_view> view;
};

/// State of the membership actor.
struct membership_state {
  static inline const char* name = "membership";
  std::unique_ptr<storage::routing_store> store;
  metrics::counter* errors = nullptr;
  metrics::gauge* live_nodes = nullptr;
};

/// Membership (spawn detached: it blocks on Postgres): every `interval`
/// writes this node's heartbeat (address, shards and points held) to
/// `cluster_nodes` and reads the routing table into `view`, so routers
/// see owners and dead nodes within one interval. `stop_atom` (request)
/// deletes the node's row (clean shutdown: routers skip it at once) and
/// replies ok_atom. Postgres errors are counted
/// (agentmem_membership_errors_total) and retried on the next tick.
caf::behavior membership(caf::stateful_actor<membership_state>* self,
                         membership_config cfg);

} // namespace agentmem::actors
