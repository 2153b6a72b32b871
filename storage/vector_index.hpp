#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/memory.hpp"
#include "storage/payload_store.hpp"

namespace agentmem::storage {

/// Tunables of the `memories` collection.
struct vector_index_config {
  size_t dims = 384;
  std::string model;           ///< embedding model the vectors come from
  size_t initial_capacity = 100'000;
  size_t m = 16;               ///< HNSW M
  size_t ef_construction = 100;
  size_t ef_search = 64;
  /// A filter matching at most this many points is scored exactly (brute
  /// force over the user's points) instead of through HNSW.
  size_t exact_threshold = 20'000;
};

/// Qdrant-style collection `memories` over hnswlib 0.6.2 (Malkov &
/// Yashunin, "Efficient and robust approximate nearest neighbor search using
/// Hierarchical Navigable Small World graphs", 2016): points are
/// (point id, L2-normalised vector, payload {user_id, session_id,
/// memory_type, ts}); distance is inner product, so score = cosine.
///
/// hnswlib 0.6.2 has no filter callback, so searches are planned from the
/// filter's cardinality (the user's point count, kept per user): a
/// selective filter is scored exactly over that user's points; otherwise
/// HNSW is searched with k' = k * total / matching * 2 candidates (at least
/// ef_search), post-filtered, and k' doubled until k hits are found or the
/// exact path is cheaper.
///
/// Thread-safe: searches share a lock, upserts take it exclusively.
/// Persistence: save() writes a snapshot directory atomically
/// (`<dir>/snapshot`: hnswlib graph, payloads, meta with the watermark).
class vector_index {
public:
  /// Loads `<dir>/snapshot` when present and compatible (same dims and
  /// model), else starts empty (watermark 0). errc::index_error on I/O
  /// failure; a dims/model mismatch is errc::invalid_config.
  static caf::expected<std::unique_ptr<vector_index>>
  open(const std::string& dir, const vector_index_config& cfg);
  ~vector_index();

  /// Adds points for memories not yet in the index. A point id already
  /// present is skipped when its vector and ts are unchanged (ids are
  /// deterministic, so a replay brings the same point); otherwise the point
  /// is updated in place (a memory updated by dedup or a rolling summary:
  /// new vector and ts, same payload). A memory without a vector is
  /// skipped when its point exists. Returns the number of points added
  /// (updates not counted). errc::index_error on a dims mismatch.
  caf::expected<size_t> upsert(const std::vector<memory>& memories);

  /// Removes points (hnswlib markDelete; the stored vector is zeroed so
  /// that neither memory nor the next snapshot keeps it). Returns the ids
  /// removed (those present). A removed id may be upserted again later.
  /// errc::index_error on an hnswlib failure.
  caf::expected<std::vector<uint64_t>>
  remove(const std::vector<uint64_t>& point_ids);

  /// Removes every point of `user_id` with ts <= cutoff_ms (user deletion,
  /// docs/data-governance.md). Returns the ids removed.
  caf::expected<std::vector<uint64_t>> remove_user(const std::string& user_id,
                                                   int64_t cutoff_ms);

  /// Top-k points matching `filter`, best first. `query` has dims() floats.
  std::vector<scored_point> search(const float* query, size_t k,
                                   const vector_filter& filter) const;

  /// Writes the snapshot with `watermark` (the highest Postgres memory seq
  /// contained). errc::index_error on I/O failure.
  caf::error save(int64_t watermark);

  /// Watermark of the loaded or last saved snapshot, or the value passed to
  /// set_watermark since.
  int64_t watermark() const;
  void set_watermark(int64_t w);

  size_t size() const;
  size_t dims() const;
  bool contains(uint64_t point_id) const;
  /// Number of points of one user.
  size_t user_size(const std::string& user_id) const;

private:
  struct impl;
  explicit vector_index(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
