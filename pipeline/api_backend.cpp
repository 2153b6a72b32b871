#include "pipeline/api_backend.hpp"

#include <algorithm>
#include <unordered_map>

#include "messages/errc.hpp"

namespace agentmem::pipeline {

api_backend::api_backend(std::shared_ptr<domain::embedder> embedder,
                         std::shared_ptr<storage::vector_index> index,
                         std::shared_ptr<storage::keyword_index> keywords,
                         std::shared_ptr<storage::hot_state> hot,
                         std::string postgres_url,
                         std::shared_ptr<actors::health> status)
  : embedder_(std::move(embedder)),
    index_(std::move(index)),
    keywords_(std::move(keywords)),
    hot_(std::move(hot)),
    postgres_url_(std::move(postgres_url)),
    status_(std::move(status)) {
}

namespace {

// Hybrid fusion: weighted reciprocal rank fusion (Cormack, Clarke &
// Buettcher, SIGIR 2009): score = sum over rankings of w / (rrf_k + rank),
// rank 1-based, each ranking cut at max(hybrid_depth, 2 * top_k).
// rrf_k = 10 rather than the paper's 60: our rankings are short and
// per-user, and a small k lets a ranking's top hits count (k = 60 scored
// worse with both embedders, docs/retrieval.md). Weights: dense 1 and BM25
// 1 for semantic embedders; dense 0.2 for the hashing embedder, whose
// vectors repeat BM25's lexical evidence less well.
constexpr double rrf_k = 10;
constexpr double dense_weight_semantic = 1.0;
constexpr double dense_weight_lexical = 0.2;
constexpr size_t hybrid_depth = 100;

// Weighted reciprocal rank fusion of rankings (best first), cut to k.
std::vector<storage::scored_point>
fuse(const std::vector<std::pair<double, std::vector<storage::scored_point>>>&
       rankings,
     size_t k) {
  std::unordered_map<uint64_t, double> score;
  for (auto& [w, r] : rankings)
    for (size_t i = 0; i < r.size(); ++i)
      score[r[i].point_id] += w / (rrf_k + static_cast<double>(i + 1));
  std::vector<storage::scored_point> out;
  out.reserve(score.size());
  for (auto& [id, s] : score)
    out.push_back({id, static_cast<float>(s)});
  auto n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + n, out.end(),
                    [](auto& a, auto& b) {
                      return a.score > b.score
                             || (a.score == b.score && a.point_id < b.point_id);
                    });
  out.resize(n);
  return out;
}

} // namespace

caf::expected<std::vector<api::search_hit>>
api_backend::search(const api::search_request& req) {
  storage::vector_filter f;
  f.user_id = req.user_id;
  f.memory_types = req.filter.memory_types;
  f.session_id = req.filter.session_id;
  f.since_ms = req.filter.since_ms;
  f.until_ms = req.filter.until_ms;
  auto k = static_cast<size_t>(req.top_k);
  auto dense = [&](size_t n) -> caf::expected<std::vector<storage::scored_point>> {
    std::vector<std::string_view> texts{req.query};
    std::vector<std::vector<float>> vecs;
    if (auto err = embedder_->embed(texts, vecs))
      return err;
    return index_->search(vecs[0].data(), n, f);
  };
  std::vector<storage::scored_point> points;
  if (req.mode == "keyword") {
    points = keywords_->search(req.query, k, f);
  } else if (req.mode == "vector") {
    auto d = dense(k);
    if (!d)
      return d.error();
    points = std::move(*d);
  } else { // hybrid: fuse two deeper rankings
    auto depth = std::max<size_t>(hybrid_depth, 2 * k);
    auto d = dense(depth);
    if (!d)
      return d.error();
    auto w = embedder_->semantic() ? dense_weight_semantic
                                   : dense_weight_lexical;
    points = fuse({{w, *d}, {1.0, keywords_->search(req.query, depth, f)}},
                  k);
  }
  std::vector<uint64_t> ids;
  ids.reserve(points.size());
  for (auto& p : points)
    ids.push_back(p.point_id);
  auto docs = hot_->get_docs(ids);
  if (!docs)
    return docs.error();
  std::vector<api::search_hit> out;
  out.reserve(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    auto& d = (*docs)[i];
    if (!d)
      continue; // indexed but doc not yet written: skip, never invent
    api::search_hit h;
    h.memory_id = d->memory_id;
    h.score = points[i].score;
    h.memory_type = d->memory_type;
    h.text = d->text;
    h.user_id = d->user_id;
    h.session_id = d->session_id;
    h.event_id = d->event_id;
    h.ts_ms = d->ts_ms;
    h.metadata_json = d->metadata_json;
    out.push_back(std::move(h));
  }
  return out;
}

caf::expected<std::vector<api::buffered_message>>
api_backend::session_messages(const std::string& user_id,
                              const std::string& session_id, int limit) {
  auto msgs = hot_->session_messages(user_id, session_id,
                                     static_cast<size_t>(limit));
  if (!msgs)
    return msgs.error();
  std::vector<api::buffered_message> out;
  out.reserve(msgs->size());
  for (auto& m : *msgs)
    out.push_back({m.event_id, m.ts_ms, m.role, m.agent_name, m.content});
  return out;
}

caf::expected<std::vector<api::usage_row>>
api_backend::usage(const std::string& user_id, const std::string& from_day,
                   const std::string& to_day) {
  std::lock_guard<std::mutex> guard{pg_mtx_};
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!pg_) {
      auto s = storage::postgres_store::connect(postgres_url_);
      if (!s)
        return s.error();
      pg_ = std::move(*s);
    }
    auto rows = pg_->usage(user_id, from_day, to_day);
    if (rows)
      return rows;
    pg_.reset(); // a broken connection: reconnect once
    if (attempt == 1)
      return rows.error();
  }
  return make_error(errc::postgres_error, "unreachable");
}

std::string api_backend::not_ready_reason() {
  return status_->not_ready_reason();
}

} // namespace agentmem::pipeline
