#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include <caf/all.hpp>

#include "actors/ack_tracker.hpp"
#include "actors/health.hpp"
#include "api/server.hpp"
#include "domain/embedding.hpp"
#include "domain/rollup.hpp"
#include "domain/tombstones.hpp"
#include "kafka/producer.hpp"
#include "pipeline/api_backend.hpp"
#include "pipeline/config.hpp"
#include "pipeline/lifecycle.hpp"
#include "actors/membership.hpp"
#include "storage/applied_seqs.hpp"
#include "storage/hot_state.hpp"
#include "storage/shard_set.hpp"

namespace agentmem::pipeline {

/// Points each partition's HNSW graph is created for (it grows by
/// doubling); pipeline_bench builds its shard-layout measurement with it.
inline constexpr size_t shard_initial_capacity = 16384;

/// One running agentmem node: storage facades, the actor tree and the HTTP
/// server, wired in dependency order (storage -> catch-up of derived state
/// -> writer-side actors -> HTTP -> ingress and the supervised stage chain
/// -> membership) and stopped in reverse by one lifecycle stack
/// (pipeline/lifecycle.hpp; the order is in docs/architecture.md).
class topology {
public:
  /// Starts a node. Applies migrations, catches the vector index and
  /// RocksDB up with Postgres (memories after the snapshot watermark), then
  /// starts consuming. Errors name the component that failed; what had
  /// started by then is stopped again, in reverse order.
  static caf::expected<std::unique_ptr<topology>>
  start(caf::actor_system& sys, const pipeline_config& cfg);

  ~topology();

  /// Graceful stop: stop fetching, drain in-flight batches, commit, snapshot
  /// the index, stop the actors, stop HTTP, flush RocksDB. Draining is
  /// bounded by cfg.shutdown_timeout; returns an error if it did not finish
  /// in time. Later calls do nothing.
  caf::error stop();

  /// True once the supervisor gave up (restart intensity exceeded) or
  /// ingress died; the process should exit non-zero.
  bool failed() const {
    return failed_;
  }

  /// The bound HTTP port.
  uint16_t http_port() const {
    return http_port_;
  }

  /// The bound port of the separate ops listener, 0 when there is none.
  uint16_t ops_port() const {
    return http_ ? http_->ops_port() : 0;
  }

  /// Points in this node's shards.
  size_t index_size() const {
    return shards_->size();
  }

  /// Memory of the node's parts that report it (pipeline_bench's breakdown).
  struct memory_usage {
    size_t rocksdb_hot = 0;     ///< hot_state: memtables, readers, cache
    size_t rocksdb_working = 0; ///< working_memory: the same
    size_t buffer_cache = 0;    ///< conversation-buffer cache (estimate)
  };
  memory_usage memory() const;

  /// Shards open on this node (one per assigned partition).
  size_t shard_count() const {
    return shards_->partitions().size();
  }

  /// Whether a point is in the shard of `partition` on this node, i.e.
  /// searchable here (one hash lookup; the benchmark polls it).
  bool index_contains(int32_t partition, uint64_t point_id) const {
    auto s = shards_->find(partition);
    return s && s->vectors->contains(point_id);
  }

private:
  topology(caf::actor_system& sys, pipeline_config cfg);
  caf::error catch_up();
  /// Starts the components in order, each pushing its stop on lifecycle_.
  caf::error start_components(api::auth_config auth);
  /// Starts the HTTP server (API backend, router) and pushes its stop.
  caf::error start_http(api::auth_config auth);
  /// Spawns the ingress actor (the consumer) and pushes its stop.
  void start_ingress();
  /// Spawns the supervisor (which owns the stage chain) and its watcher,
  /// and pushes their stop.
  void start_stage_chain();
  /// Pushes the stop of an actor that only needs to exit: exit message,
  /// then wait until it is gone.
  void push_actor(std::string name, caf::actor hdl);
  /// cfg.shutdown_timeout, bounding each shutdown request.
  std::chrono::milliseconds shutdown_deadline() const;

  caf::actor_system& sys_;
  pipeline_config cfg_;
  std::shared_ptr<actors::health> status_;
  std::shared_ptr<actors::ack_tracker> acks_
    = std::make_shared<actors::ack_tracker>();
  std::shared_ptr<domain::embedder> embedder_;
  std::shared_ptr<storage::hot_state> hot_;
  std::shared_ptr<storage::shard_set> shards_;
  /// Shared by vector linking and index_sync (storage/applied_seqs.hpp).
  std::shared_ptr<storage::applied_seqs> applied_
    = std::make_shared<storage::applied_seqs>();
  std::shared_ptr<actors::cluster_view> view_;
  std::string node_id_;
  caf::actor membership_;
  std::shared_ptr<storage::working_memory> working_;
  std::shared_ptr<domain::tombstone_set> tombstones_
    = std::make_shared<domain::tombstone_set>();
  int64_t deletion_seq_ = 0; ///< deletions.seq applied by catch_up()
  caf::actor retention_;
  caf::actor analytics_publisher_;
  caf::actor memory_publisher_;
  caf::actor webhook_dispatcher_;
  std::shared_ptr<kafka::producer> dlq_producer_;
  std::shared_ptr<const domain::pricing_table> pricing_;
  std::unique_ptr<api_backend> backend_;
  std::unique_ptr<api::http_server> http_;
  caf::actor ingress_;
  caf::actor supervisor_;
  caf::actor watcher_;
  caf::actor index_sync_;
  caf::actor working_sweeper_;
  std::atomic<bool> failed_{false};
  uint16_t http_port_ = 0;
  /// Declared last: destroyed first, after stop() ran every step.
  lifecycle lifecycle_;
};

} // namespace agentmem::pipeline
