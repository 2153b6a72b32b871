#pragma once

#include "actors/embedding.hpp"
#include "messages/batch.hpp"

namespace agentmem::actors {

/// The embedding stage's dedup step: for every episodic/document memory of
/// `b` with a vector, looks up the nearest stored memory of the same user
/// and type in the user's shards held here (cfg.shards; top 2, so a replayed memory that finds itself
/// still sees its nearest other one) and its text in cfg.hot's docs (one
/// MultiGet for the batch), then calls domain::mark_near_duplicates.
/// Throws std::runtime_error when RocksDB fails (the batch is replayed).
/// Returns how many memories were marked.
size_t mark_duplicates(batch& b, const embedding_config& cfg);

} // namespace agentmem::actors
