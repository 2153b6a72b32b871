#pragma once

#include <cstdint>

#include <caf/expected.hpp>

#include "storage/applied_seqs.hpp"
#include "storage/hot_state.hpp"
#include "storage/keyword_index.hpp"
#include "storage/postgres_store.hpp"
#include "storage/vector_index.hpp"

namespace agentmem::storage {

/// What one sync pass applied.
struct sync_result {
  size_t memories = 0;   ///< memories read from Postgres
  size_t added = 0;      ///< points new to the index
  int64_t watermark = 0; ///< highest memories.seq now contained
};

/// Brings derived state up to canonical state: reads memories with
/// `seq > watermark` from Postgres in pages of `page_size` (at most
/// `max_pages` pages; 0 = until none are left) and applies them to the
/// vector index (points), the keyword index (postings), RocksDB (search docs, and conversation-buffer
/// entries for `conversation` memories) and both watermarks. Idempotent:
/// points and docs already present are left as they are. Because memories
/// get their seq in commit order (postgres_store), a watermark means "every
/// memory up to here is applied" — also for memories other nodes wrote,
/// which is how every node's index comes to hold every user's memories.
/// `applied` (may be null): ranges this node's pipeline already applied;
/// their rows are not read again, the watermark moves over them, and
/// ranges behind the new watermark are forgotten; nothing at or beyond a
/// range still pending (committed, being indexed) is read yet.
/// Errors: those of the three stores.
caf::expected<sync_result> sync_derived_state(postgres_store& pg,
                                              vector_index& index,
                                              keyword_index& keywords,
                                              hot_state& hot, int64_t watermark,
                                              size_t page_size = 5000,
                                              size_t max_pages = 0,
                                              applied_seqs* applied = nullptr);

} // namespace agentmem::storage
