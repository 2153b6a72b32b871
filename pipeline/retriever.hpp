#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "domain/embedding.hpp"
#include "domain/reranker.hpp"
#include "storage/keyword_index.hpp"
#include "storage/shard_set.hpp"
#include "storage/vector_index.hpp"

namespace agentmem::pipeline {

/// Ranking settings of search (`[search]` in the config; per request the
/// API may override them, docs/api.md). Defaults chosen by the sweeps in
/// docs/retrieval.md.
struct fusion_params {
  double rrf_k = 10;          ///< rank offset k of w / (k + rank)
  double vector_weight = 1.0; ///< weight of the vector ranking
  double keyword_weight = 1.0; ///< weight of the BM25 ranking
  size_t min_depth = 50;      ///< each ranking is cut at max(this, 5 top_k)
  /// Session smoothing: a conversation turn's score in each ranking gains
  /// this share of the better score of the turns right before and after it
  /// in its session. 0 disables it.
  double neighbor_weight = 0.5;
  /// BM25 pseudo-relevance feedback (storage::prf_params; docs 0: off).
  storage::prf_params prf{5, 20, 0.5};
  /// Weight of the temporal ranking: the memories whose ts falls in the
  /// time ranges the query names (domain::resolve_query_time), ranked by
  /// their keyword and vector scores. 0 disables it.
  double temporal_weight = 0.5;
  /// Weight of the speaker ranking: the candidates spoken by the one
  /// person the query names (keyword_index::speaker_points), ranked the
  /// same way. 0 disables it.
  double speaker_weight = 0.5;
  /// Re-ranking (hybrid mode, when a reranker is configured): the top
  /// max(top_k, rerank_depth) fused candidates are scored by the reranker.
  /// 0 disables it.
  size_t rerank_depth = 0;
  /// 0: the reranker's order replaces the fused order of those candidates;
  /// > 0: the reranker's ranking joins the fused ranking in a second
  /// reciprocal rank fusion with this weight (the fused one weighs 1).
  double rerank_weight = 0;
};

/// The default vector weight for an embedder: 0.2 for a non-semantic one
/// (the built-in hashing embedder hashes the same stemmed terms BM25
/// scores, so its ranking is a weaker copy of the keyword ranking and
/// mainly breaks ties; measured on LoCoMo in docs/retrieval.md), 1.0 for
/// models that carry meaning beyond the words.
double default_vector_weight(const domain::embedder& e);

/// Query-time ranking over vector and keyword indexes (docs/retrieval.md):
/// one pair given at construction, or the shards of a node holding the
/// user (a user spanning several partitions: each ranking is the shards'
/// rankings merged by score, session neighbours and cosines read from the
/// shard holding the point). Modes:
///  - `keyword`: BM25 with pseudo-relevance feedback, session-smoothed;
///  - `vector`: cosine of the query embedding, session-smoothed;
///  - `hybrid`: weighted reciprocal rank fusion (Cormack, Clarke &
///    Büttcher, SIGIR 2009), score = sum over rankings of w / (rrf_k +
///    rank), of the two rankings above (each cut at max(min_depth, 5 k))
///    plus, when the query asks for them, a temporal ranking and a speaker
///    ranking; then, with a reranker and rerank_depth > 0, the top
///    candidates re-ranked by it.
/// Thread-safe (the indexes and the embedder are).
class retriever {
public:
  /// Texts of points for the reranker (nullopt: unknown point, dropped).
  using text_lookup = std::function<
    caf::expected<std::vector<std::optional<std::string>>>(
      const std::vector<uint64_t>&)>;

  /// Over `index` and `keywords` (both may be null when only the shards
  /// overload of search() is used).
  retriever(std::shared_ptr<domain::embedder> embedder,
            std::shared_ptr<storage::vector_index> index,
            std::shared_ptr<storage::keyword_index> keywords,
            fusion_params defaults,
            std::shared_ptr<domain::reranker> reranker = nullptr,
            text_lookup texts = nullptr);

  /// Top-k points for `query` among those matching `filter`, best first,
  /// with `params`. `mode` is "vector", "keyword" or "hybrid". Errors: the
  /// embedder's (vector and hybrid modes). `plan` receives the vector
  /// search's plan when given.
  caf::expected<std::vector<storage::scored_point>>
  search(const std::string& query, const std::string& mode, size_t k,
         const storage::vector_filter& filter, const fusion_params& params,
         storage::search_info* plan = nullptr) const;

  /// The same over `shards` (no shard: no point). `texts` (may be null)
  /// replaces the constructor's text lookup for the reranker; `plan`
  /// receives the first shard's plan.
  caf::expected<std::vector<storage::scored_point>>
  search(const std::vector<std::shared_ptr<storage::shard>>& shards,
         const std::string& query, const std::string& mode, size_t k,
         const storage::vector_filter& filter, const fusion_params& params,
         storage::search_info* plan = nullptr,
         const text_lookup& texts = nullptr) const;

  const fusion_params& defaults() const {
    return defaults_;
  }

private:
  std::shared_ptr<domain::embedder> embedder_;
  /// The constructor's indexes as one shard (none when not given).
  std::vector<std::shared_ptr<storage::shard>> own_;
  fusion_params defaults_;
  std::shared_ptr<domain::reranker> reranker_;
  text_lookup texts_;
};

} // namespace agentmem::pipeline
