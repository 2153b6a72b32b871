#include "pipeline/retriever.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "domain/temporal_query.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::pipeline {

using storage::scored_point;

double default_vector_weight(const domain::embedder& e) {
  return e.semantic() ? 1.0 : 0.2;
}

namespace {

using score_map = std::unordered_map<uint64_t, float>;

bool better(const scored_point& a, const scored_point& b) {
  return a.score > b.score || (a.score == b.score && a.point_id < b.point_id);
}

void keep_top(std::vector<scored_point>& v, size_t n) {
  n = std::min(n, v.size());
  std::partial_sort(v.begin(), v.begin() + n, v.end(), better);
  v.resize(n);
}

// Weighted reciprocal rank fusion of rankings (best first), cut to k.
std::vector<scored_point>
fuse(const std::vector<std::pair<double, const std::vector<scored_point>*>>&
       rankings,
     size_t k, double rrf_k) {
  std::unordered_map<uint64_t, double> score;
  for (auto& [w, r] : rankings)
    if (w > 0)
      for (size_t i = 0; i < r->size(); ++i)
        score[(*r)[i].point_id] += w / (rrf_k + static_cast<double>(i + 1));
  std::vector<scored_point> out;
  out.reserve(score.size());
  for (auto& [id, s] : score)
    out.push_back({id, static_cast<float>(s)});
  keep_top(out, k);
  return out;
}

score_map to_map(const std::vector<scored_point>& v) {
  score_map m;
  m.reserve(v.size());
  for (auto& p : v)
    m.emplace(p.point_id, p.score);
  return m;
}

} // namespace

retriever::retriever(std::shared_ptr<domain::embedder> embedder,
                     std::shared_ptr<storage::vector_index> index,
                     std::shared_ptr<storage::keyword_index> keywords,
                     fusion_params defaults,
                     std::shared_ptr<domain::reranker> reranker,
                     text_lookup texts)
  : embedder_(std::move(embedder)),
    defaults_(defaults),
    reranker_(std::move(reranker)),
    texts_(std::move(texts)) {
  if (index && keywords) {
    auto s = std::make_shared<storage::shard>();
    s->vectors = std::move(index);
    s->keywords = std::move(keywords);
    own_.push_back(std::move(s));
  }
}

namespace {

// The indexes of the shards a search covers, read as one: rankings merged
// by score, per-point reads answered by the shard holding the point (a
// session's turns share their shard: the user's partition).
class index_group {
public:
  explicit index_group(const std::vector<std::shared_ptr<storage::shard>>& s)
    : shards_(s) {
  }

  std::vector<scored_point> score_all(const std::string& query,
                                      const storage::vector_filter& f,
                                      const storage::prf_params& prf) const {
    if (shards_.size() == 1)
      return shards_[0]->keywords->score_all(query, f, prf);
    std::vector<scored_point> out;
    for (auto& s : shards_) {
      auto part = s->keywords->score_all(query, f, prf);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

  std::vector<scored_point> search(const float* q, size_t n,
                                   const storage::vector_filter& f,
                                   storage::search_info* plan = nullptr) const {
    if (shards_.size() == 1)
      return shards_[0]->vectors->search(q, n, f, plan);
    std::vector<scored_point> out;
    for (size_t i = 0; i < shards_.size(); ++i) {
      auto part = shards_[i]->vectors->search(q, n, f, i == 0 ? plan : nullptr);
      out.insert(out.end(), part.begin(), part.end());
    }
    keep_top(out, n);
    return out;
  }

  std::vector<float> score_points(const float* q,
                                  const std::vector<uint64_t>& ids) const {
    auto out = shards_[0]->vectors->score_points(q, ids);
    for (size_t i = 1; i < shards_.size(); ++i) {
      auto more = shards_[i]->vectors->score_points(q, ids);
      for (size_t j = 0; j < out.size(); ++j)
        if (std::isnan(out[j]))
          out[j] = more[j];
    }
    return out;
  }

  std::vector<storage::payload_store::adjacent>
  adjacent_turns(const std::vector<uint64_t>& ids) const {
    auto out = shards_[0]->vectors->adjacent_turns(ids);
    for (size_t i = 1; i < shards_.size(); ++i) {
      auto more = shards_[i]->vectors->adjacent_turns(ids);
      for (size_t j = 0; j < out.size(); ++j)
        if (!out[j].has_prev && !out[j].has_next)
          out[j] = more[j];
    }
    return out;
  }

  std::vector<bool> matching(const std::vector<uint64_t>& ids,
                             const storage::vector_filter& f) const {
    auto out = shards_[0]->vectors->matching(ids, f);
    for (size_t i = 1; i < shards_.size(); ++i) {
      auto more = shards_[i]->vectors->matching(ids, f);
      for (size_t j = 0; j < out.size(); ++j)
        out[j] = out[j] || more[j];
    }
    return out;
  }

  std::optional<std::pair<int64_t, int64_t>>
  user_time_span(const std::string& user_id) const {
    std::optional<std::pair<int64_t, int64_t>> out;
    for (auto& s : shards_)
      if (auto span = s->vectors->user_time_span(user_id))
        out = out ? std::pair{std::min(out->first, span->first),
                              std::max(out->second, span->second)}
                  : *span;
    return out;
  }

  std::vector<uint64_t> speaker_points(const std::string& query,
                                       const storage::vector_filter& f) const {
    std::vector<uint64_t> out;
    for (auto& s : shards_) {
      auto part = s->keywords->speaker_points(query, f);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

private:
  const std::vector<std::shared_ptr<storage::shard>>& shards_;
};

// Session smoothing (docs/retrieval.md): s'(p) = s(p) + w * max(s(prev),
// s(next)) over the ranking's top `depth` points and the turns adjacent to
// them (those that match the filter), where s of a turn the ranking did
// not score comes from `fetch` (0 for BM25, the cosine for vectors).
template <class Fetch>
std::vector<scored_point>
smooth(std::vector<scored_point> ranked, score_map& known, Fetch&& fetch,
       const index_group& index, const storage::vector_filter& f,
       double w, size_t depth) {
  keep_top(ranked, depth);
  if (w <= 0 || ranked.empty())
    return ranked;
  std::vector<uint64_t> cands;
  cands.reserve(ranked.size() * 3);
  std::unordered_set<uint64_t> in_cands;
  for (auto& p : ranked)
    if (in_cands.insert(p.point_id).second)
      cands.push_back(p.point_id);
  auto adj = index.adjacent_turns(cands);
  // Neighbours become candidates when they match the filter.
  std::vector<uint64_t> extra;
  for (auto& a : adj) {
    for (auto [has, id] : {std::pair{a.has_prev, a.prev}, {a.has_next, a.next}})
      if (has && !in_cands.count(id)) {
        in_cands.insert(id);
        extra.push_back(id);
      }
  }
  if (!extra.empty()) {
    auto ok = index.matching(extra, f);
    auto extra_adj = index.adjacent_turns(extra);
    for (size_t i = 0; i < extra.size(); ++i)
      if (ok[i]) {
        cands.push_back(extra[i]);
        adj.push_back(extra_adj[i]);
      }
  }
  // Scores of every candidate and neighbour not known yet.
  std::vector<uint64_t> missing;
  auto want = [&](bool has, uint64_t id) {
    if (has && !known.count(id)) {
      known.emplace(id, 0.0f); // placeholder, filled below
      missing.push_back(id);
    }
  };
  for (size_t i = 0; i < cands.size(); ++i) {
    want(true, cands[i]);
    want(adj[i].has_prev, adj[i].prev);
    want(adj[i].has_next, adj[i].next);
  }
  if (!missing.empty()) {
    auto got = fetch(missing);
    for (size_t i = 0; i < missing.size(); ++i)
      known[missing[i]] = std::isnan(got[i]) ? 0.0f : got[i];
  }
  std::vector<scored_point> out;
  out.reserve(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) {
    float nb = 0;
    bool any = false;
    for (auto [has, id] :
         {std::pair{adj[i].has_prev, adj[i].prev}, {adj[i].has_next, adj[i].next}})
      if (has) {
        nb = any ? std::max(nb, known[id]) : known[id];
        any = true;
      }
    out.push_back({cands[i], known[cands[i]] + static_cast<float>(w) * nb});
  }
  keep_top(out, depth);
  return out;
}

} // namespace

caf::expected<std::vector<scored_point>>
retriever::search(const std::string& query, const std::string& mode, size_t k,
                  const storage::vector_filter& f, const fusion_params& params,
                  storage::search_info* plan) const {
  return search(own_, query, mode, k, f, params, plan);
}

caf::expected<std::vector<scored_point>>
retriever::search(const std::vector<std::shared_ptr<storage::shard>>& shards,
                  const std::string& query, const std::string& mode, size_t k,
                  const storage::vector_filter& f, const fusion_params& params,
                  storage::search_info* plan,
                  const text_lookup& texts_override) const {
  if (shards.empty())
    return std::vector<scored_point>{};
  index_group group{shards};
  auto& text_of = texts_override ? texts_override : texts_;
  // Every ranking is smoothed and cut at this depth; single modes then
  // return their top k.
  const size_t depth = std::max<size_t>(params.min_depth, 5 * k);
  // Keyword ranking: BM25 (+ feedback) over every matching point.
  score_map kw_known;
  std::vector<scored_point> kw;
  if (mode != "vector") {
    kw = group.score_all(query, f, params.prf);
    kw_known = to_map(kw);
    kw = smooth(std::move(kw), kw_known,
                [](const std::vector<uint64_t>& ids) {
                  return std::vector<float>(ids.size(), 0.0f);
                },
                group, f, params.neighbor_weight, depth);
    if (mode == "keyword") {
      keep_top(kw, k);
      return kw;
    }
  }
  // Vector ranking.
  std::vector<float> qv;
  {
    std::vector<std::string_view> texts{query};
    std::vector<std::vector<float>> vecs;
    if (auto err = embedder_->embed_queries(texts, vecs))
      return err;
    qv = std::move(vecs[0]);
  }
  auto cosine = [&](const std::vector<uint64_t>& ids) {
    return group.score_points(qv.data(), ids);
  };
  auto raw = group.search(qv.data(), depth, f, plan);
  score_map vec_known = to_map(raw);
  auto vec = smooth(std::move(raw), vec_known, cosine, group, f,
                    params.neighbor_weight, depth);
  if (mode == "vector") {
    keep_top(vec, k);
    return vec;
  }
  // Hybrid: the two rankings, plus the temporal and speaker rankings when
  // the query asks for them. Those rank their candidates by
  // keyword score / best keyword score + cosine.
  auto kw_sm = to_map(kw), vec_sm = to_map(vec);
  float kw_max = 0;
  for (auto& p : kw)
    kw_max = std::max(kw_max, p.score);
  auto by_base = [&](std::vector<uint64_t> ids) {
    std::vector<uint64_t> need;
    for (auto id : ids)
      if (!vec_sm.count(id) && !vec_known.count(id))
        need.push_back(id);
    auto got = cosine(need);
    for (size_t i = 0; i < need.size(); ++i)
      vec_known[need[i]] = std::isnan(got[i]) ? 0.0f : got[i];
    std::vector<scored_point> out;
    out.reserve(ids.size());
    for (auto id : ids) {
      auto ks = kw_sm.count(id)      ? kw_sm[id]
                : kw_known.count(id) ? kw_known[id]
                                     : 0.0f;
      auto vs = vec_sm.count(id) ? vec_sm[id] : vec_known[id];
      out.push_back({id, (kw_max > 0 ? ks / kw_max : 0.0f) + vs});
    }
    keep_top(out, depth);
    return out;
  };
  std::vector<scored_point> temporal, speaker;
  if (params.temporal_weight > 0) {
    domain::timeline tl;
    if (auto span = group.user_time_span(f.user_id)) {
      tl.now_ms = span->second;
      tl.first_year =
        static_cast<int>(domain::civil_from_days(span->first / 86'400'000).year);
      tl.last_year = static_cast<int>(
        domain::civil_from_days(span->second / 86'400'000).year);
    }
    std::vector<uint64_t> ids;
    std::unordered_set<uint64_t> seen;
    for (auto& r : domain::resolve_query_time(query, tl)) {
      auto fr = f;
      fr.since_ms = std::max(f.since_ms.value_or(r.since_ms), r.since_ms);
      fr.until_ms = std::min(f.until_ms.value_or(r.until_ms - 1), r.until_ms - 1);
      if (*fr.since_ms > *fr.until_ms)
        continue;
      auto kr = group.score_all(query, fr, params.prf);
      for (auto& p : kr)
        kw_known.emplace(p.point_id, p.score);
      for (auto& p : kr)
        if (seen.insert(p.point_id).second)
          ids.push_back(p.point_id);
      for (auto& p : group.search(qv.data(), depth, fr))
        if (seen.insert(p.point_id).second)
          ids.push_back(p.point_id);
    }
    if (!ids.empty())
      temporal = by_base(std::move(ids));
  }
  if (params.speaker_weight > 0) {
    auto sp = group.speaker_points(query, f);
    if (!sp.empty()) {
      std::unordered_set<uint64_t> spoken(sp.begin(), sp.end());
      std::vector<uint64_t> ids;
      std::unordered_set<uint64_t> seen;
      for (auto* list : {&kw, &vec})
        for (auto& p : *list)
          if (spoken.count(p.point_id) && seen.insert(p.point_id).second)
            ids.push_back(p.point_id);
      if (!ids.empty())
        speaker = by_base(std::move(ids));
    }
  }
  const bool rerank = reranker_ && text_of && params.rerank_depth > 0;
  auto fused = fuse({{params.vector_weight, &vec},
                     {params.keyword_weight, &kw},
                     {params.temporal_weight, &temporal},
                     {params.speaker_weight, &speaker}},
                    rerank ? std::max(k, params.rerank_depth) : k,
                    params.rrf_k);
  if (!rerank || fused.empty())
    return fused;
  std::vector<uint64_t> ids;
  ids.reserve(fused.size());
  for (auto& p : fused)
    ids.push_back(p.point_id);
  auto texts = text_of(ids);
  if (!texts)
    return texts.error();
  std::vector<std::string_view> docs;
  std::vector<scored_point> reranked;
  for (size_t i = 0; i < ids.size(); ++i)
    if ((*texts)[i]) {
      docs.emplace_back(*(*texts)[i]);
      reranked.push_back({ids[i], 0});
    }
  auto scores = reranker_->score(query, docs);
  if (!scores)
    return scores.error();
  for (size_t i = 0; i < reranked.size(); ++i)
    reranked[i].score = static_cast<float>((*scores)[i]);
  std::stable_sort(reranked.begin(), reranked.end(),
                   [](auto& a, auto& b) { return a.score > b.score; });
  if (params.rerank_weight > 0)
    return fuse({{1.0, &fused}, {params.rerank_weight, &reranked}}, k,
                params.rrf_k);
  reranked.resize(std::min(k, reranked.size()));
  return reranked;
}

} // namespace agentmem::pipeline
