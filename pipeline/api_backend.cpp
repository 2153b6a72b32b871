#include "pipeline/api_backend.hpp"

#include <algorithm>
#include <unordered_map>

#include "messages/errc.hpp"
#include "metrics/registry.hpp"

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

constexpr double rrf_k = 60;

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
  f.tags = req.filter.tags;
  f.tags_all = req.filter.tags_all;
  auto k = static_cast<size_t>(req.top_k);
  auto dense = [&](size_t n) -> caf::expected<std::vector<storage::scored_point>> {
    std::vector<std::string_view> texts{req.query};
    std::vector<std::vector<float>> vecs;
    if (auto err = embedder_->embed(texts, vecs))
      return err;
    storage::search_info info;
    auto res = index_->search(vecs[0].data(), n, f, &info);
    metrics::global()
      .get_counter("agentmem_search_plan_total",
                   "Filtered vector searches by query plan: exact (brute "
                   "force over the filter's points), hnsw (oversampled "
                   "HNSW, post-filtered) or none (filter matches nothing)",
                   {{"plan", storage::to_string(info.plan)}})
      .inc();
    return res;
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
    auto depth = std::max<size_t>(50, 5 * k);
    auto d = dense(depth);
    if (!d)
      return d.error();
    points = fuse({{1.0, *d}, {1.0, keywords_->search(req.query, depth, f)}},
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
  std::vector<uint64_t> hit_points;
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
    hit_points.push_back(points[i].point_id);
  }
  if (req.neighbors > 0 && !out.empty()) {
    if (auto err = add_context(out, hit_points,
                               static_cast<size_t>(req.neighbors)))
      return err;
  }
  return out;
}

caf::error
api_backend::add_context(std::vector<api::search_hit>& hits,
                         const std::vector<uint64_t>& hit_points, size_t n) {
  // Turn ids of every hit first, then one batched doc read.
  std::vector<std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> ctx(
    hits.size());
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < hits.size(); ++i) {
    index_->session_turns(hit_points[i], n, ctx[i].first, ctx[i].second);
    ids.insert(ids.end(), ctx[i].first.begin(), ctx[i].first.end());
    ids.insert(ids.end(), ctx[i].second.begin(), ctx[i].second.end());
  }
  if (ids.empty())
    return caf::none;
  auto docs = hot_->get_docs(ids);
  if (!docs)
    return docs.error();
  size_t next = 0;
  auto take = [&](size_t count, std::vector<api::context_turn>& out) {
    for (size_t j = 0; j < count; ++j) {
      auto& d = (*docs)[next++];
      if (d) // indexed but doc not yet written: skip, never invent
        out.push_back({d->memory_id, d->event_id, d->ts_ms, d->text});
    }
  };
  for (size_t i = 0; i < hits.size(); ++i) {
    take(ctx[i].first.size(), hits[i].context_before);
    take(ctx[i].second.size(), hits[i].context_after);
  }
  return caf::none;
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
