#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/embedding.hpp"

namespace agentmem::actors {

/// Configuration of the embedding stage.
struct embedding_config {
  caf::actor next; ///< aggregation
  std::shared_ptr<domain::embedder> provider;
};

/// State of the embedding stage.
struct embedding_state {
  static inline const char* name = "embedding";
  stage_metrics metrics{"embedding"};
};

/// Embedding: fills `memory::vector` of every memory of the batch through
/// the configured provider (one call per batch). A provider error fails the
/// batch (throws; the supervisor restarts the chain and the batch is
/// replayed). Spawned detached by the topology: the HTTP provider blocks
/// on network I/O.
caf::behavior embedding(caf::stateful_actor<embedding_state>* self,
                        embedding_config cfg);

} // namespace agentmem::actors
