#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/ack_tracker.hpp"
#include "actors/stage_metrics.hpp"
#include "domain/tombstones.hpp"
#include "storage/applied_seqs.hpp"
#include "storage/hot_state.hpp"
#include "storage/shard_set.hpp"

namespace agentmem::actors {

/// Configuration of vector linking.
struct vector_linking_config {
  caf::actor ingress; ///< receives the batch_ack
  /// This node's shards: a memory goes to the shard of its partition if
  /// held (warming shards too), else it is left to its partition's owner.
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<storage::hot_state> hot;
  std::shared_ptr<ack_tracker> acks; ///< advanced with every batch_ack
  /// Deleted users (may be null): their memories with ts <= cutoff are not
  /// indexed; checked and indexed under the set's apply mutex so that a
  /// concurrent deletion cannot be undone (docs/data-governance.md).
  std::shared_ptr<domain::tombstone_set> tombstones;
  /// Receives the batch's memories.seq range once it is applied, so that
  /// index_sync does not read those rows back (may be null).
  std::shared_ptr<storage::applied_seqs> applied;
};

/// State of vector linking.
struct vector_linking_state {
  static inline const char* name = "vector_linking";
  stage_metrics metrics{"vector_linking"};
  metrics::gauge* vectors = nullptr;
};

/// Vector linking: after the batch is committed to Postgres (where the
/// `memory_links` view links its points to their activities), adds its
/// points to the shards of the `memories` collection (vectors and keyword
/// postings of the partitions held here) and their docs to RocksDB, then
/// acknowledges the batch to ingress — so a search right after the ack
/// sees the batch. Watermarks and snapshots belong to index_sync, which
/// also brings in memories that other nodes committed.
caf::behavior vector_linking(caf::stateful_actor<vector_linking_state>* self,
                             vector_linking_config cfg);

} // namespace agentmem::actors
