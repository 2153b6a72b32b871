#pragma once

#include <cstdint>
#include <mutex>

#include <caf/expected.hpp>

#include "domain/embedding.hpp"
#include "domain/tombstones.hpp"
#include "storage/governance_store.hpp"
#include "storage/hot_state.hpp"
#include "storage/shard_set.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::storage {

/// Every store of one node that holds user data derived from Postgres or
/// from the events (docs/data-governance.md lists them): what deletions
/// are applied to. `shards` (every shard held: vector and keyword
/// indexes) and `hot` are required; a node without working memory or
/// without an embedding cache passes nullptr.
struct derived_stores {
  shard_set* shards = nullptr;
  hot_state* hot = nullptr;
  working_memory* working = nullptr;
  /// Its caches (embedding_cache and the LRU) are dropped on user deletion.
  domain::embedder* embedder = nullptr;
};

/// What applying deletion log entries removed from one node's derived state.
struct deletion_sync_result {
  size_t entries = 0;    ///< log entries read
  int64_t seq = 0;       ///< highest deletions.seq applied
  size_t vectors = 0;    ///< points removed from the shards' vector indexes
  size_t keyword_docs = 0; ///< points removed from their keyword indexes
  hot_state::erase_counts hot; ///< RocksDB keys removed
  working_memory::erase_counts working; ///< working-memory keys removed
  size_t caches_cleared = 0; ///< embedding caches dropped (user entries)
};

/// Applies one deletion log entry (kind user / session / memories) to the
/// derived stores: `user` records the tombstone in `tombs` (when given) and
/// removes the user's points and docs with ts <= cutoff, buffered messages,
/// session states and working-memory items, and drops the embedder's
/// caches; `session` erases the session's buffer, state and working
/// memory and the listed points; `memories` the listed points. Idempotent.
/// The stores that survive a restart on disk (RocksDB hot state, working
/// memory, embedding cache) are touched only when `hot_too`; `compact`
/// compacts the user's RocksDB key ranges after a user erase. The caller
/// holds tombs->apply_mutex() if it shares the stores.
caf::expected<deletion_sync_result>
apply_deletion(const deletion_entry& e, const derived_stores& stores,
               domain::tombstone_set* tombs, bool hot_too, bool compact);

/// Reads deletion log entries with seq > `after_seq` (pages of
/// `page_size`) and applies them, holding tombs->apply_mutex() (when
/// `tombs` is given) from reading to applying. The in-memory indexes get
/// every entry; the on-disk stores (hot state, working memory, embedding
/// cache), which survive restarts, only entries above hot state's
/// watermark `deletion_seq` (advanced after each page, once all of them
/// applied it). Replaying the log from 0 over an old index snapshot thus
/// removes what was deleted after the snapshot was written, and a node
/// that was down during a deletion applies it when it starts. A user entry
/// compacts the user's RocksDB key ranges, so their values also leave this
/// node's SST files and WAL. Errors: those of the stores.
caf::expected<deletion_sync_result>
sync_deletions(governance_store& gov, const derived_stores& stores,
               domain::tombstone_set* tombs, int64_t after_seq,
               size_t page_size = 1000);

/// Applies every deletion log entry (from seq 0) to one shard only, e.g.
/// one just loaded from a snapshot that may predate deletions (RocksDB,
/// working memory and the tombstones are left alone: the node-wide pass
/// covers them). Errors: those of the stores.
caf::expected<deletion_sync_result>
replay_deletions(governance_store& gov, shard& s, size_t page_size = 1000);

} // namespace agentmem::storage
