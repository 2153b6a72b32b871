#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/dedup.hpp"
#include "domain/embedding.hpp"
#include "storage/hot_state.hpp"
#include "storage/shard_set.hpp"

namespace agentmem::actors {

/// Configuration of the embedding stage.
struct embedding_config {
  caf::actor next; ///< aggregation
  std::shared_ptr<domain::embedder> provider;
  /// Near-duplicate lookup (actors/dedup_lookup.hpp); without an index no
  /// stored candidates are looked up (within-batch dedup still applies).
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<storage::hot_state> hot; ///< docs: candidate texts
  domain::dedup_config dedup;
};

/// State of the embedding stage.
struct embedding_state {
  static inline const char* name = "embedding";
  stage_metrics metrics{"embedding"};
};

/// Embedding: fills `memory::vector` of every memory of the batch through
/// the configured provider (one call per batch; a memory with a retrieval
/// `context` is embedded as text + "\n" + context), then marks
/// near-duplicate episodic/document memories (`update_of`,
/// domain::mark_near_duplicates) against the nearest stored memory of the
/// same user and type and the batch itself; the writer makes the final
/// ADD/UPDATE/NOOP decision. A provider or RocksDB error fails the batch
/// (throws; the supervisor restarts the chain and the batch is replayed).
/// Spawned detached by the topology: the HTTP provider blocks on network
/// I/O.
caf::behavior embedding(caf::stateful_actor<embedding_state>* self,
                        embedding_config cfg);

} // namespace agentmem::actors
