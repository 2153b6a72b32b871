#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/extraction.hpp"
#include "storage/hot_state.hpp"

namespace agentmem::actors {

/// Configuration of memory extraction.
struct extraction_config {
  caf::actor next; ///< embedding
  std::shared_ptr<storage::hot_state> hot;
  domain::extraction_config rules;
};

/// State of memory extraction.
struct extraction_state {
  static inline const char* name = "extraction";
  stage_metrics metrics{"extraction"};
};

/// Memory extraction: appends the batch's `message` events to the
/// conversation buffer in RocksDB (idempotent keys), derives the memories
/// of each activity (domain/extraction.hpp), and for each `session_end`
/// summarises the session's buffered messages. Fails the batch (throws,
/// so the supervisor restarts the chain and ingress replays it) when the hot
/// state cannot be written.
caf::behavior extraction(caf::stateful_actor<extraction_state>* self,
                         extraction_config cfg);

} // namespace agentmem::actors
