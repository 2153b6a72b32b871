#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "metrics/registry.hpp"
#include "domain/tombstones.hpp"
#include "storage/applied_seqs.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/governance_store.hpp"
#include "storage/hot_state.hpp"
#include "storage/keyword_index.hpp"
#include "storage/postgres_store.hpp"
#include "storage/vector_index.hpp"

namespace agentmem::actors {

/// Configuration of index_sync.
struct index_sync_config {
  std::string postgres_url; ///< secret: never logged
  std::shared_ptr<storage::vector_index> index;
  std::shared_ptr<storage::keyword_index> keywords;
  std::shared_ptr<storage::hot_state> hot;
  std::shared_ptr<storage::working_memory> working; ///< may be null
  /// Its caches are dropped when a user deletion is applied (may be null).
  std::shared_ptr<domain::embedder> embedder;
  std::chrono::milliseconds interval{1000};           ///< tail period
  std::chrono::milliseconds snapshot_interval{30000}; ///< snapshot period
  /// Deleted users, filled from `user` entries of the deletions log.
  std::shared_ptr<domain::tombstone_set> tombstones;
  /// deletions.seq already applied to the indexes (topology's catch-up).
  int64_t deletion_seq = 0;
  /// memories.seq ranges this node's vector linking applied: not read
  /// again (may be null).
  std::shared_ptr<storage::applied_seqs> applied;
};

/// State of index_sync.
struct index_sync_state {
  static inline const char* name = "index_sync";
  std::unique_ptr<storage::postgres_store> store;
  int64_t watermark = 0;
  int64_t saved_watermark = 0;
  std::unique_ptr<storage::governance_store> gov;
  int64_t deletion_seq = 0;
  int64_t saved_deletion_seq = 0;
  metrics::gauge* deletion_gauge = nullptr;
  std::chrono::steady_clock::time_point last_snapshot;
  metrics::gauge* watermark_gauge = nullptr;
  metrics::gauge* vectors_gauge = nullptr; ///< agentmem_index_vectors
  metrics::counter* errors = nullptr;
};

/// index_sync (spawn detached: it blocks on Postgres): tails the
/// `memories` table by seq every `interval` and applies what is new to the
/// vector index and RocksDB (storage::sync_derived_state) — memories of
/// every node of the consumer group, so each node can search every user —
/// and owns the derived state's watermark: it snapshots the index (and
/// flushes RocksDB) every snapshot_interval when the watermark moved.
/// It also tails the `deletions` log (storage::sync_deletions) after the
/// memories, so user deletions and retention made on any node reach this
/// node's indexes and RocksDB; it snapshots right after applying
/// deletions, so the deleted data leaves the on-disk snapshot too.
/// `flush_atom` (request) syncs to the end and snapshots, replying
/// `ok_atom` (used at shutdown). Postgres errors are counted and retried on
/// the next tick.
/// Adds what a deletion pass removed to agentmem_deleted_items_total{store}
/// and agentmem_deletion_log_applied_total (also used by the API's user
/// deletion); an empty result just registers the metrics.
void count_deleted(const storage::deletion_sync_result& r);

/// The stores of `cfg` as storage::derived_stores (pointers into cfg).
storage::derived_stores derived_stores_of(const index_sync_config& cfg);

caf::behavior index_sync(caf::stateful_actor<index_sync_state>* self,
                         index_sync_config cfg);

} // namespace agentmem::actors
