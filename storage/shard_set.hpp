#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/memory.hpp"
#include "storage/applied_seqs.hpp"
#include "storage/keyword_index.hpp"
#include "storage/vector_index.hpp"

namespace agentmem::storage {

/// Where a shard is in its life on this node (docs/operations.md,
/// "Scaling out"):
///   warming   -> assigned; its snapshot is loaded and it catches up from
///                Postgres; new batches are applied to it already;
///   serving   -> caught up; answers reads;
///   releasing -> revoked; answers reads read-only (still tailed from
///                Postgres) until the new owner serves, then it is dropped.
enum class shard_phase { warming, serving, releasing };

/// "warming", "serving" or "releasing".
const char* to_string(shard_phase p);

/// One partition's derived indexes on this node: the vector index (HNSW
/// points) and the keyword index (BM25 postings) of the memories whose
/// source event arrived on that partition, each with its own snapshot and
/// watermark in `<dir>/p<partition>/`.
struct shard {
  int32_t partition = -1;
  std::shared_ptr<vector_index> vectors;
  std::shared_ptr<keyword_index> keywords;
  /// Seq ranges of this node's batches that vector linking applied to this
  /// shard while it was warming (shard_set::upsert): the shard holds their
  /// rows already, so its catch-up from Postgres leaves them out
  /// (sync_shards). Ranges applied before the shard was opened are not
  /// here: the catch-up reads those.
  applied_seqs applied_while_warming;

  /// The lower of the two indexes' watermarks (memories.seq contained).
  int64_t watermark() const {
    return std::min(vectors->watermark(), keywords->watermark());
  }
};

/// A shard's phase and size, for metrics and the routing table.
struct shard_info {
  int32_t partition = -1;
  shard_phase phase = shard_phase::warming;
  size_t points = 0;
  int64_t watermark = 0;
};

/// Settings of a shard set.
struct shard_set_config {
  std::string dir; ///< shards live in <dir>/p<partition>/
  vector_index_config vectors;
  bm25_params bm25;
};

/// The shards this node holds, by partition. A node keeps derived indexes
/// only for the partitions it owns (or is handing over), so HNSW
/// insertion and index memory are split across the nodes of a consumer
/// group instead of repeated on each. Memories are routed to the shard of
/// shard_partition(m); a memory whose shard is not held here is skipped
/// (its owner indexes it).
///
/// Thread-safe: the set is guarded by a shared mutex; each shard's indexes
/// lock themselves. A shard handed out by find()/held() stays alive while
/// the caller holds it, also when it is dropped meanwhile.
class shard_set {
public:
  explicit shard_set(shard_set_config cfg);

  /// Opens the shard of `partition` in phase warming, loading its
  /// snapshot when `<dir>/p<partition>` has a compatible one (else empty,
  /// watermark 0), or returns the shard already held (its phase unchanged).
  /// Errors: those of vector_index::open / keyword_index::open.
  caf::expected<std::shared_ptr<shard>> open(int32_t partition);

  /// Sets the phase of a held shard; false when it is not held. Leaving
  /// warming forgets its shard::applied_while_warming.
  bool set_phase(int32_t partition, shard_phase phase);

  /// The phase of a held shard.
  std::optional<shard_phase> phase(int32_t partition) const;

  /// The shard of `partition`, or nullptr.
  std::shared_ptr<shard> find(int32_t partition) const;

  /// Forgets the shard of `partition` and deletes its snapshot directory
  /// (its memory is returned once no reader holds it any more; the data
  /// must not outlive ownership on disk, see docs/data-governance.md).
  /// Returns the dropped shard (nullptr when none was held), so the caller
  /// can free what else it derived from it (RocksDB docs, buffers).
  std::shared_ptr<shard> drop(int32_t partition);

  /// Every held shard, by partition.
  std::vector<shard_info> list() const;

  /// Held partitions in `phase` (any phase when not given), ascending.
  std::vector<int32_t> partitions(std::optional<shard_phase> phase = {}) const;

  /// Shards holding points of `user_id` (any phase), by partition. Looks
  /// at the shards that ever interned the user (a map kept from the
  /// shards' interning logs, caught up when a shard interned a new user or
  /// was opened), not at every held shard: dedup asks this for most new
  /// memories, every search for its user.
  std::vector<std::shared_ptr<shard>> holding(const std::string& user_id) const;

  /// Adds/updates the points and postings of memories whose shard is held
  /// (vector_index::upsert, keyword_index::upsert). Returns the points
  /// added; `helper_cpu_seconds` (may be null): the CPU seconds of
  /// vector_index::upsert's helper threads, summed over the shards.
  /// `seq_first`..`seq_last` (inclusive; 0 = none): the memories.seq range
  /// of the batch transaction that wrote exactly `memories`; it is noted
  /// in every shard that was held and warming when the call began (also
  /// those that got no memory of it: the range has none of theirs), as
  /// shard::applied_while_warming. `memories` is taken by value and moved
  /// into the per-shard groups: pass an rvalue when the caller is done
  /// with them (vector linking), so no memory (vector, text) is copied.
  /// Errors: errc::index_error.
  caf::expected<size_t> upsert(std::vector<memory> memories,
                               double* helper_cpu_seconds = nullptr,
                               int64_t seq_first = 0, int64_t seq_last = 0);

  /// Sets the tags and importance of points already present in held
  /// shards to those of `memories` (vector_index::sync_labels,
  /// keyword_index::sync_labels). Returns how many points changed.
  size_t sync_labels(const std::vector<memory>& memories);

  /// What a removal took out of the shards.
  struct removed_counts {
    size_t vectors = 0;
    size_t keyword_docs = 0;
  };

  /// Removes points from every shard (deletions). Errors: index_error.
  caf::expected<removed_counts> remove(const std::vector<uint64_t>& ids);

  /// Removes a user's points with ts <= cutoff_ms from every shard.
  caf::expected<removed_counts> remove_user(const std::string& user_id,
                                            int64_t cutoff_ms);

  /// Snapshots one shard with `watermark`. Errors: index_error.
  caf::error save(int32_t partition, int64_t watermark);

  /// Points held, over every shard.
  size_t size() const;

  /// Vector dims of every shard.
  size_t dims() const {
    return cfg_.vectors.dims;
  }

  const shard_set_config& config() const {
    return cfg_;
  }

private:
  struct entry {
    std::shared_ptr<shard> s;
    shard_phase phase = shard_phase::warming;
  };
  std::string shard_dir(int32_t partition) const;
  /// A copy of the held shards now (one lock, then used without it).
  std::map<int32_t, entry> held_now() const;
  /// `ms` moved into groups by the shards of `held`, batch order kept within each
  /// (memories of shards not in `held` are left out: their owner indexes
  /// them).
  static std::vector<std::pair<std::shared_ptr<shard>, std::vector<memory>>>
  group_held(std::vector<memory> ms, const std::map<int32_t, entry>& held);

  /// Brings users_ up to the shards' interning logs when users_changed_
  /// moved since the last catch-up.
  void catch_up_users() const;

  shard_set_config cfg_;
  mutable std::shared_mutex mtx_;
  std::map<int32_t, entry> shards_;
  /// Bumped by every shard's vector_index when it interns a new user
  /// (vector_index_config::users_changed) and by open().
  std::shared_ptr<std::atomic<uint64_t>> users_changed_;
  /// Partitions whose shard interned a user, by the user id's hash: a
  /// superset of those holding its points now (points removed, shards
  /// dropped, hash collisions), which holding() narrows down per shard.
  /// Guarded by users_mtx_; taken after mtx_ where both are.
  struct user_shards {
    uint64_t caught_up_to = ~uint64_t{0}; ///< users_changed_ at the last catch-up
    std::unordered_map<uint64_t, std::vector<int32_t>> partitions;
    /// Per held partition: how far its index's interning log was read
    /// (users_since); drop() forgets the partition's position.
    std::map<int32_t, size_t> read;
  };
  mutable std::shared_mutex users_mtx_;
  mutable user_shards users_;
};

} // namespace agentmem::storage
