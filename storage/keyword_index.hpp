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
/// Relevance Framework: BM25 and Beyond", 2009). The defaults are not the
/// textbook 1.2 / 0.75: memories are short (a conversation turn), so term
/// frequency saturates early (small k1) and length matters less (small
/// b). Chosen by the k1 x b grid of docs/retrieval.md on three embedding
/// providers: k1 0.4, b 0.4 is within 0.3 points of every provider's best
/// hybrid R@10, where 1.2 / 0.75 was 1.4 under the hashing provider's.
struct bm25_params {
  float k1 = 0.4f;
  float b = 0.4f;
};

/// Pseudo-relevance feedback for BM25 (RM3-style query expansion: Lavrenko
/// & Croft, "Relevance-Based Language Models", SIGIR 2001; Abdul-Jaleel et
/// al., "UMass at TREC 2004"). The first pass's top `docs` points are taken
/// as relevant; every term t of them gets
///   fb(t) = sum over those points p of tf(t,p) / len(p) * idf(t),
/// the `terms` terms with the highest fb join the query with weight
/// `weight * fb(t) / max fb` (added to 1 for an original query term), and
/// the expanded query is scored again. `docs` 0 disables it.
struct prf_params {
  size_t docs = 0;
  size_t terms = 20;
  double weight = 0.5;
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
/// The speaker of a conversation memory (`memory::speaker`) is indexed as
/// its own field, so that speaker_points() can list the memories of a
/// person the query names.
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

  /// Sets the payload tags and importance of present points, like
  /// vector_index::sync_labels. Returns how many points changed.
  size_t sync_labels(const std::vector<memory>& memories);

  /// Removes points (their postings and statistics). Returns how many
  /// were present.
  size_t remove(const std::vector<uint64_t>& point_ids);

  /// Removes every point of `user_id` with ts <= cutoff_ms (user
  /// deletion). Returns how many.
  size_t remove_user(const std::string& user_id, int64_t cutoff_ms);

  /// Top-k points by BM25 for `query` among points matching `filter`.
  std::vector<scored_point> search(const std::string& query, size_t k,
                                   const vector_filter& filter) const;

  /// Every point matching `filter` that holds a term of the (expanded)
  /// query, with its BM25 score, unsorted. `prf` expands the query first
  /// (prf_params; docs 0: plain BM25, the scores search() ranks).
  std::vector<scored_point> score_all(const std::string& query,
                                      const vector_filter& filter,
                                      const prf_params& prf = {}) const;

  /// Points matching `filter` spoken by the one speaker whose name the
  /// query contains (a query token equal to a token of a speaker name of
  /// the filter's user, after the tokenizer's stemming). Empty when the
  /// query names no speaker or several.
  std::vector<uint64_t> speaker_points(const std::string& query,
                                       const vector_filter& filter) const;

  /// Snapshot with the watermark (highest memories.seq contained). Only
  /// terms still used by some point are written, so the terms of removed
  /// points leave the disk with the next snapshot.
  caf::error save(int64_t watermark);
  int64_t watermark() const;
  size_t size() const;

private:
  struct impl;
  struct scorer;
  explicit keyword_index(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
