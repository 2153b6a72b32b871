#pragma once

#include <cstdint>
#include <mutex>

#include <caf/expected.hpp>

#include "domain/tombstones.hpp"
#include "storage/governance_store.hpp"
#include "storage/hot_state.hpp"
#include "storage/keyword_index.hpp"
#include "storage/vector_index.hpp"

namespace agentmem::storage {

/// What applying deletion log entries removed from one node's derived state.
struct deletion_sync_result {
  size_t entries = 0;    ///< log entries read
  int64_t seq = 0;       ///< highest deletions.seq applied
  size_t vectors = 0;    ///< points removed from the vector index
  size_t keyword_docs = 0; ///< points removed from the keyword index
  hot_state::erase_counts hot; ///< RocksDB keys removed
};

/// Applies one deletion log entry (kind user / session / memories) to the
/// derived stores: `user` records the tombstone in `tombs` (when given) and
/// removes the user's points and docs with ts <= cutoff, buffered messages
/// and session states; `session` erases the session's buffer and state and
/// the listed points; `memories` the listed points. Idempotent. RocksDB is
/// touched only when `hot_too`; `compact` compacts RocksDB after a user
/// erase. The caller holds tombs->apply_mutex() if it shares the stores.
caf::expected<deletion_sync_result>
apply_deletion(const deletion_entry& e, vector_index& index,
               keyword_index& keywords, hot_state& hot,
               domain::tombstone_set* tombs, bool hot_too, bool compact);

/// Reads deletion log entries with seq > `after_seq` (pages of
/// `page_size`) and applies them, holding tombs->apply_mutex() (when
/// `tombs` is given) from reading to applying. The in-memory indexes get
/// every entry; RocksDB, which survives restarts, only entries above its
/// watermark `deletion_seq` (advanced after each page). Replaying the log
/// from 0 over an old index snapshot thus removes what was deleted after
/// the snapshot was written. A user entry compacts the user's RocksDB key
/// ranges, so their values also leave this node's SST files and WAL.
/// Errors: those of the stores.
caf::expected<deletion_sync_result>
sync_deletions(governance_store& gov, vector_index& index,
               keyword_index& keywords, hot_state& hot,
               domain::tombstone_set* tombs, int64_t after_seq,
               size_t page_size = 1000);

} // namespace agentmem::storage
