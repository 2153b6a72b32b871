#pragma once

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "storage/applied_seqs.hpp"
#include "storage/hot_state.hpp"
#include "storage/postgres_store.hpp"
#include "storage/shard_set.hpp"

namespace agentmem::storage {

/// What one sync pass applied.
struct sync_result {
  size_t memories = 0;   ///< memories read from Postgres
  size_t added = 0;      ///< points new to the shards
  int64_t watermark = 0; ///< highest memories.seq now contained
  bool reached_end = false; ///< the last page read was not full
};

/// The conversation-buffer entry of a `conversation` memory (its text
/// holds "<speaker>: <content>"; the buffer keeps the content alone, as
/// extraction wrote it).
buffer_entry buffer_entry_of(const memory& m);

/// Brings the shards of `partitions` up to canonical state: reads the
/// memories they hold (postgres_store::partition_memories_after) with
/// `seq > watermark` in pages of `page_size` (at most `max_pages` pages;
/// 0 = until none are left) and applies them to the held shards (vector
/// points, keyword postings; shard_set::upsert) and to RocksDB (search
/// docs, and conversation-buffer entries for `conversation` memories).
/// Idempotent: points and docs already present are left as they are, and
/// a row read again carries the memory as stored now. Because memories get
/// their seq in commit order (postgres_store), the returned watermark
/// means "every memory of these partitions up to here is applied" — also
/// for memories other nodes wrote before they handed a partition over;
/// once a pass reaches the end it is max(memories.seq) as read before the
/// last page, so an idle shard's watermark keeps up with other partitions.
/// Postgres is authoritative for tags (changed through the API): rows read
/// set them on points already present.
/// `applied` (may be null): seq ranges this node's pipeline already applied
/// to these shards (storage/applied_seqs.hpp); their rows are not read
/// again, the watermark moves over them, and ranges behind the new
/// watermark are forgotten; nothing at or beyond a range still pending
/// (committed, being indexed) is read yet. Pass it only for shards that
/// were held while those batches were applied (serving ones), never for a
/// warming shard catching up from its snapshot: pass that shard's
/// shard::applied_while_warming instead, with `wait_for_pending` false.
/// `wait_for_pending` false: read up to the end even past ranges still
/// pending in `applied` (their rows may then be applied twice, which is
/// idempotent).
/// Errors: those of the stores.
caf::expected<sync_result>
sync_shards(postgres_store& pg, shard_set& shards, hot_state& hot,
            const std::vector<int32_t>& partitions, int64_t watermark,
            size_t page_size = 5000, size_t max_pages = 0,
            applied_seqs* applied = nullptr, bool wait_for_pending = true);

} // namespace agentmem::storage
