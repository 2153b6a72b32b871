#pragma once

#include <atomic>
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
  /// Full-scan threshold (Qdrant's `full_scan_threshold`, in points): a
  /// filter whose most selective condition has at most this many points is
  /// scored exactly over them instead of through HNSW. Default from
  /// bench/search_bench (docs/retrieval.md): below it, exact scoring of the
  /// candidates is faster than a filtered HNSW search of equal recall.
  size_t exact_threshold = 5'000;
  /// Filtered HNSW asks for k' = max(ef_search, oversample * k) /
  /// selectivity candidates.
  double oversample = 3.0;
  /// Distance computations a HNSW search makes per unit of ef (about M/2
  /// at M 16, measured by bench/search_bench): the planner's cost model.
  /// 0 disables the switch to exact scoring (tests force HNSW with it).
  size_t hnsw_visit_factor = 8;
  /// Threads that insert the new points of one upsert() call into the HNSW
  /// graph (the caller's thread plus insert_threads - 1 helpers; hnswlib's
  /// addPoint is thread-safe against itself). 1 inserts sequentially.
  /// Small calls (under 64 new points) always run on the caller's thread.
  size_t insert_threads = 2;
  /// A point updated in place (a memory changed by dedup or a rolling
  /// summary: same id, new vector) gets its own links rebuilt by an
  /// efConstruction search, as an insertion does; besides, each of its
  /// neighbours has its links rebuilt from the two-hop neighbourhood with
  /// this probability (hnswlib's updatePoint, `updateNeighborProbability`;
  /// hnswlib's addPoint uses 1.0). At 384 dims, M 16, rebuilding every
  /// neighbour made an update cost 311-784 µs against 63-184 µs without
  /// (20,000-100,000 points), at no better recall (docs/performance.md,
  /// "Fourteenth round"; bench/search_bench --update-fraction). In 0..1.
  float update_neighbor_probability = 0.0f;
  /// Incremented (release) after an upsert interned a user new to this
  /// index (see users_since); may be null. shard_set shares one counter
  /// among its shards to keep its user -> shards map (shard_set::holding).
  std::shared_ptr<std::atomic<uint64_t>> users_changed;
};

/// How a search was executed (for metrics and tests).
struct search_info {
  enum class plan_kind { none, exact, hnsw };
  plan_kind plan = plan_kind::none; ///< none: the filter matches nothing
  size_t upper_bound = 0; ///< primary condition's cardinality (points)
  double estimate = 0;    ///< estimated matching points
  size_t scored = 0;      ///< exact: points scored; hnsw: last k' asked
  size_t rounds = 0;      ///< hnsw: searches made (k' grows when short)
};

/// "exact", "hnsw" or "none".
const char* to_string(search_info::plan_kind k);

/// Qdrant-style collection `memories` over hnswlib 0.6.2 (Malkov &
/// Yashunin, "Efficient and robust approximate nearest neighbor search using
/// Hierarchical Navigable Small World graphs", 2016): points are
/// (point id, L2-normalised vector, payload {user_id, session_id,
/// memory_type, ts}); distance is inner product, so score = cosine.
///
/// Searches are planned like Qdrant's (docs/retrieval.md): the payload
/// indexes (payload_store) give each filter condition's cardinality; when
/// the most selective one has at most `exact_threshold` points, those are
/// checked against the whole filter and scored exactly (brute force, exact
/// results). Otherwise, since hnswlib 0.6.2 has no filter callback, HNSW is
/// searched for k' = max(ef_search, oversample * k) / selectivity
/// candidates (ef = k'), so about ef_search of them match,
/// where selectivity = estimated matches / all points, post-filtered; when
/// fewer than k hits survive, k' grows 4x, and once k' * hnsw_visit_factor
/// reaches the candidate count the exact path (cheaper by then) is taken.
///
/// Thread-safe: searches share a lock, upserts take it exclusively.
/// Payloads (and their indexes) hold user_id, session_id, memory_type, ts
/// and the source event's tags.
/// Persistence: save() writes a snapshot directory atomically
/// (`<dir>/snapshot`: hnswlib graph, payloads, meta with the watermark).
class vector_index {
public:
  /// Loads `<dir>/snapshot` when present and compatible (same dims and
  /// model), else starts empty (watermark 0). An empty `dir` makes an
  /// index in memory only (save() fails). errc::index_error on I/O
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
  /// (updates not counted). errc::index_error on a dims mismatch (checked
  /// before anything changes).
  ///
  /// Points new to the index are inserted by `insert_threads` threads.
  /// Each point's HNSW level is derived from its point id (not drawn from
  /// hnswlib's shared random generator), so a replay or a rebuild gives
  /// every point the same level and the index the same points, vectors and
  /// payloads; with more than one thread the neighbour lists depend on the
  /// interleaving (hnswlib's parallel build), which changes search results
  /// only within the graph's recall. `helper_cpu_s`, when given, receives
  /// the CPU seconds the helper threads used (the caller's own thread is
  /// not included).
  caf::expected<size_t> upsert(const std::vector<memory>& memories,
                               double* helper_cpu_s = nullptr);

  /// Sets the payload tags and importance of the memories' points that
  /// are present to the memories' (a change through the API, rows read
  /// back from Postgres; upsert() sets a present point's importance but
  /// leaves its tags alone because the pipeline's in-place updates do not
  /// carry them). Returns how many points changed.
  size_t sync_labels(const std::vector<memory>& memories);

  /// The scope (agent, project) and importance of a point's payload;
  /// nullopt when the point is absent.
  std::optional<point_scope> scope_of(uint64_t point_id) const;

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
  /// `info`, when given, receives the plan taken.
  std::vector<scored_point> search(const float* query, size_t k,
                                   const vector_filter& filter,
                                   search_info* info = nullptr) const;

  /// Context of a point: the ids of up to n conversation memories of its
  /// session before it and up to n after it, by (ts, point id), the point
  /// itself excluded. Empty for unknown points.
  void session_turns(uint64_t point_id, size_t n,
                     std::vector<uint64_t>& before,
                     std::vector<uint64_t>& after) const;

  /// Cosine of `query` (dims() floats, unit length) with each of the
  /// points; NaN for ids not in the index.
  std::vector<float> score_points(const float* query,
                                  const std::vector<uint64_t>& ids) const;

  /// Whether each point is in the index and matches `filter`.
  std::vector<bool> matching(const std::vector<uint64_t>& ids,
                             const vector_filter& filter) const;

  /// The conversation turns right before and after each point in its
  /// session (payload_store::adjacent_turns).
  std::vector<payload_store::adjacent>
  adjacent_turns(const std::vector<uint64_t>& ids) const;

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
  /// Oldest and newest ts (ms) of a user's points; nullopt without any.
  std::optional<std::pair<int64_t, int64_t>>
  user_time_span(const std::string& user_id) const;
  /// Ids of every point, unordered (freeing a shard's RocksDB docs).
  std::vector<uint64_t> point_ids() const;
  /// Users with at least one point, unordered.
  std::vector<std::string> users() const;
  /// Appends to `out` the users this index interned from position `from`
  /// of its interning order on, and returns the position after the last
  /// (pass it as `from` next time). A user is interned with its first
  /// point and never forgotten by this index object, so the positions stay
  /// valid; its points may be gone since (check user_size).
  size_t users_since(size_t from, std::vector<std::string>& out) const;

private:
  struct impl;
  explicit vector_index(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
