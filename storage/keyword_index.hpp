#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/memory.hpp"
#include "storage/payload_store.hpp"

namespace agentmem::storage {

/// Okapi BM25 parameters (Robertson & Zaragoza, "The Probabilistic
/// Relevance Framework: BM25 and Beyond", 2009).
struct bm25_params {
  float k1 = 1.2f;
  float b = 0.75f;
};

/// Inverted index over memory texts for keyword search, beside the vector
/// index and over the same points and payloads. Terms are the tokenizer's
/// stemmed content tokens (domain/text.hpp), the same the hashing embedder
/// uses. Postings are kept per user and BM25 statistics (N, df, average
/// length) are per user too: every search is scoped to one user, so each
/// user's memories form their own corpus and IDF is exact for it.
///
/// Score of a point p for query terms Q (distinct):
///   sum over t in Q of idf(t) * tf(t,p) * (k1 + 1)
///                     / (tf(t,p) + k1 * (1 - b + b * len(p) / avglen)),
///   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)).
/// A memory's document is its `text` plus its retrieval `context` at half
/// weight (BM25F-style field weighting, Robertson et al., "Simple BM25
/// extension to multiple weighted fields", CIKM 2004): tf(t,p) and len(p)
/// count a context token as 0.5.
///
/// Thread-safe (searches share a lock, upserts take it exclusively).
/// Persistence: save() writes `<dir>/keywords/` atomically with a
/// watermark, like vector_index.
class keyword_index {
public:
  /// Loads `<dir>/keywords` when present, else starts empty. An empty
  /// `dir` makes an index in memory only (save() fails).
  /// errc::index_error on an unusable directory.
  static caf::expected<std::unique_ptr<keyword_index>>
  open(const std::string& dir, bm25_params params = {});
  ~keyword_index();

  /// Indexes memories not yet present (by point id). A present point whose
  /// text changed (a memory updated in place) has its postings replaced.
  /// Returns how many points were added (replacements not counted).
  size_t upsert(const std::vector<memory>& memories);

  /// Removes points (their postings and statistics). Returns how many
  /// were present.
  size_t remove(const std::vector<uint64_t>& point_ids);

  /// Removes every point of `user_id` with ts <= cutoff_ms (user
  /// deletion). Returns how many.
  size_t remove_user(const std::string& user_id, int64_t cutoff_ms);

  /// Top-k points by BM25 for `query` among points matching `filter`.
  std::vector<scored_point> search(const std::string& query, size_t k,
                                   const vector_filter& filter) const;

  /// Snapshot with the watermark (highest memories.seq contained). Only
  /// terms still used by some point are written, so the terms of removed
  /// points leave the disk with the next snapshot.
  caf::error save(int64_t watermark);
  int64_t watermark() const;
  size_t size() const;

private:
  struct impl;
  explicit keyword_index(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
