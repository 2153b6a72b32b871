#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <caf/all.hpp>

#include "actors/health.hpp"
#include "actors/membership.hpp"
#include "domain/tombstones.hpp"
#include "metrics/registry.hpp"
#include "storage/applied_seqs.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/governance_store.hpp"
#include "storage/hot_state.hpp"
#include "storage/postgres_store.hpp"
#include "storage/routing_store.hpp"
#include "storage/shard_set.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::actors {

/// Configuration of index_sync.
struct index_sync_config {
  std::string postgres_url; ///< secret: never logged
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<storage::hot_state> hot;
  /// Working memory (may be null): rebuilt for a shard that moved here,
  /// erased by deletions.
  std::shared_ptr<storage::working_memory> working;
  /// Its caches are dropped when a user deletion is applied (may be null).
  std::shared_ptr<domain::embedder> embedder;
  std::chrono::milliseconds interval{1000};           ///< tail period
  std::chrono::milliseconds snapshot_interval{30000}; ///< snapshot period
  /// Deleted users, filled from `user` entries of the deletions log.
  std::shared_ptr<domain::tombstone_set> tombstones;
  /// deletions.seq already applied to RocksDB (topology's catch-up).
  int64_t deletion_seq = 0;
  /// The routing table rows this node writes (set_serving) and the view
  /// it reads to know when a released shard's new owner serves.
  std::string group;
  std::string topic;
  std::string node_id;
  std::shared_ptr<cluster_view> view;
  /// The process's first commit (may be null: no hold, see
  /// warm_after_first_commit).
  std::shared_ptr<health> status;
  /// Memories read per catch-up page, and pages per tick for all warming
  /// shards together (bounds a tick, so the tail keeps its pace). A page
  /// is inserted under the shard's write lock, which vector linking waits
  /// for: small pages keep a warming shard's live batches flowing.
  size_t page_size = 500;
  size_t warm_pages_per_tick = 32;
  /// Catch-up of warming shards from Postgres waits until this process
  /// committed its first batch (status->first_commit), at most this long
  /// after the first assignment: on 2 cores a restarted node's first
  /// commit otherwise queues behind that CPU and I/O (docs/performance.md,
  /// "Scaling out"). Snapshots are loaded at once (dedup lookups use them).
  std::chrono::milliseconds warm_after_first_commit{5000};
  /// memories.seq ranges this node's vector linking applied: the tail of
  /// serving shards does not read them again (may be null).
  std::shared_ptr<storage::applied_seqs> applied;
};

/// What index_sync tracks about one held shard.
struct shard_track {
  int64_t generation = 0; ///< ownership epoch (routing table)
  int64_t applied = 0;    ///< memories.seq applied (the shard's watermark)
  int64_t saved = 0;      ///< watermark of its last snapshot
  /// Where the consumer resumed the partition at its latest assignment
  /// (-1: no stored offset), and user_activities' size in blocks at that
  /// claim (-1 unknown): the working-memory rebuild's bounds.
  int64_t start_offset = -1;
  int64_t activity_blocks = -1;
  std::chrono::steady_clock::time_point since; ///< assigned / revoked at
};

/// State of index_sync.
struct index_sync_state {
  static inline const char* name = "index_sync";
  std::unique_ptr<storage::postgres_store> store;
  std::unique_ptr<storage::governance_store> gov;
  std::unique_ptr<storage::routing_store> routing;
  std::map<int32_t, shard_track> tracks;
  /// When this process was first assigned partitions (warm-up hold).
  std::optional<std::chrono::steady_clock::time_point> first_assigned;
  int64_t deletion_seq = 0;
  int64_t saved_deletion_seq = 0;
  int64_t committed_seq = 0; ///< max(memories.seq) at the last pass
  std::chrono::steady_clock::time_point last_snapshot;
  metrics::gauge* deletion_gauge = nullptr;
  metrics::gauge* watermark_gauge = nullptr;
  metrics::gauge* vectors_gauge = nullptr; ///< agentmem_index_vectors
  metrics::counter* errors = nullptr;
  metrics::histogram* warmup = nullptr;
};

/// index_sync (spawn detached: it blocks on Postgres) owns the life of
/// this node's shards (storage::shard_set) after the consumer group hands
/// partitions over (docs/operations.md, "Scaling out"):
///   - `(assign_atom, partitions, generations, start_offsets,
///     activity_blocks)`: a partition not held is opened warming (its
///     snapshot loaded, the deletions log replayed over it and the
///     snapshot rewritten when that removed anything); one still held
///     (released and handed back) serves again at once. start_offsets
///     (one per partition, -1 when none was stored) are where this node's
///     consumer resumes them, activity_blocks user_activities' size when
///     the routing table recorded the claim (-1 unknown,
///     storage::partition_claim): together they bound the working-memory
///     rebuild below;
///   - each tick, warming shards catch up from Postgres, their partition
///     only (storage::sync_shards, bounded pages per tick; after the
///     process's first commit, see warm_after_first_commit); a caught-up
///     shard gets its working memory rebuilt from the activities within
///     the TTL that do not pass through this node's extraction (which
///     appends them itself): those below the partition's start offset,
///     stored before the claim (with no stored offset the consumer starts
///     at the log's beginning, and only the second bound applies). It then
///     turns serving and is marked serving in the routing table (fenced by
///     its generation); agentmem_shard_warmup_seconds;
///   - `(revoke_atom, partitions)`: the shard turns releasing: still
///     tailed and serving reads, read-only for the pipeline, until the
///     routing table shows the partition's new owner serving; then it is
///     dropped (memory returned, its snapshot, RocksDB docs and the
///     buffers of users no longer held removed);
///   - serving and releasing shards are tailed together every `interval`
///     (memories of other nodes' partitions are never read, nor the rows
///     this node's vector linking applied itself: cfg.applied), and the
///     deletions log is applied to every shard and RocksDB;
///   - shards whose watermark moved are snapshotted every
///     snapshot_interval (and right after deletions), each with its own
///     watermark (RocksDB keeps `memory_seq/p<N>` beside it).
/// `flush_atom` (request) syncs every shard to the end and snapshots,
/// replying `ok_atom` (shutdown). Postgres errors are counted
/// (agentmem_index_sync_errors_total) and retried on the next tick.
/// Metrics: agentmem_shards{phase}, agentmem_shard_points{partition},
/// agentmem_index_vectors (points held), agentmem_index_watermark_seq
/// (lowest watermark of the serving and releasing shards),
/// agentmem_shard_handoffs_total{event}.
/// Adds what a deletion pass removed to agentmem_deleted_items_total{store}
/// and agentmem_deletion_log_applied_total (also used by the API's user
/// deletion); an empty result just registers the metrics.
void count_deleted(const storage::deletion_sync_result& r);

/// The stores of `cfg` as storage::derived_stores (pointers into cfg).
storage::derived_stores derived_stores_of(const index_sync_config& cfg);

caf::behavior index_sync(caf::stateful_actor<index_sync_state>* self,
                         index_sync_config cfg);

/// RocksDB watermark name of a shard's docs: "memory_seq/p<partition>".
std::string shard_watermark_name(int32_t partition);

} // namespace agentmem::actors
