#include "pipeline/api_backend.hpp"

#include <algorithm>
#include <unordered_map>

#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/deletion_sync.hpp"

namespace agentmem::pipeline {

api_backend::api_backend(std::shared_ptr<domain::embedder> embedder,
                         std::shared_ptr<storage::vector_index> index,
                         std::shared_ptr<storage::keyword_index> keywords,
                         std::shared_ptr<storage::hot_state> hot,
                         std::string postgres_url,
                         std::shared_ptr<actors::health> status,
                         std::shared_ptr<storage::working_memory> working,
                         fusion_params fusion,
                         std::shared_ptr<domain::reranker> reranker)
  : embedder_(std::move(embedder)),
    index_(std::move(index)),
    keywords_(std::move(keywords)),
    hot_(std::move(hot)),
    postgres_url_(std::move(postgres_url)),
    status_(std::move(status)),
    fusion_(fusion),
    retriever_(embedder_, index_, keywords_, fusion, std::move(reranker),
               [hot = hot_](const std::vector<uint64_t>& ids)
                 -> caf::expected<std::vector<std::optional<std::string>>> {
                 auto docs = hot->get_docs(ids);
                 if (!docs)
                   return docs.error();
                 std::vector<std::optional<std::string>> out;
                 out.reserve(docs->size());
                 for (auto& d : *docs)
                   out.push_back(d ? std::optional<std::string>{d->text}
                                   : std::nullopt);
                 return out;
               }),
    working_(std::move(working)) {
}

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
  storage::search_info info;
  auto ranked = retriever_.search(req.query, req.mode, k, f, fusion_, &info);
  if (!ranked)
    return ranked.error();
  auto& points = *ranked;
  if (req.mode != "keyword")
    metrics::global()
      .get_counter("agentmem_search_plan_total",
                   "Filtered vector searches by query plan: exact (brute "
                   "force over the filter's points), hnsw (oversampled "
                   "HNSW, post-filtered) or none (filter matches nothing)",
                   {{"plan", storage::to_string(info.plan)}})
      .inc();
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
  return with_postgres([&](storage::postgres_store& pg) {
    return pg.usage(user_id, from_day, to_day);
  });
}

template <class Store, class F>
std::invoke_result_t<F&, Store&>
api_backend::with_store(std::unique_ptr<Store>& store, F&& f) {
  std::lock_guard<std::mutex> guard{pg_mtx_};
  for (int attempt = 0;; ++attempt) {
    if (!store) {
      auto s = Store::connect(postgres_url_);
      if (!s)
        return s.error();
      store = std::move(*s);
    }
    auto res = f(*store);
    if (res || attempt == 1 || res.error().category() != errc_category
        || static_cast<errc>(res.error().code()) != errc::postgres_error)
      return res;
    store.reset(); // perhaps a broken connection: reconnect once
  }
}

template <class F>
std::invoke_result_t<F&, storage::postgres_store&>
api_backend::with_postgres(F&& f) {
  return with_store(pg_, std::forward<F>(f));
}

template <class F>
std::invoke_result_t<F&, storage::memory_catalog&>
api_backend::with_catalog(F&& f) {
  return with_store(catalog_, std::forward<F>(f));
}

caf::expected<std::vector<api::memory_version>>
api_backend::memory_history(const std::string& user_id,
                            const std::string& memory_id) {
  return with_postgres([&](storage::postgres_store& pg) {
    return pg.memory_history(user_id, memory_id);
  });
}

caf::expected<api::working_memory_view>
api_backend::working_memory(const std::string& user_id,
                            const std::string& session_id) {
  if (!working_)
    return api::backend::working_memory(user_id, session_id);
  auto v = working_->get(user_id, session_id);
  if (!v)
    return v.error();
  if (!*v)
    return make_error(errc::not_found,
                      "session " + session_id + " of user " + user_id
                        + " has no working memory (none yet, or expired)");
  api::working_memory_view out;
  out.expires_at_ms = (*v)->expires_at_ms;
  out.items.reserve((*v)->items.size());
  for (auto& it : (*v)->items)
    out.items.push_back({it.event_id, it.ts_ms, it.kind, it.name, it.content,
                         it.success});
  return out;
}

caf::expected<std::vector<api::fact_row>>
api_backend::facts(const api::fact_query& q) {
  return with_postgres([&](storage::postgres_store& pg) { return pg.facts(q); });
}

caf::expected<std::vector<api::entity_row>>
api_backend::entities(const std::string& user_id, const std::string& type,
                      int limit) {
  return with_postgres([&](storage::postgres_store& pg) {
    return pg.entities(user_id, type, limit);
  });
}

caf::expected<api::entity_neighbors>
api_backend::neighbors(const std::string& user_id,
                       const std::string& entity_id, int limit) {
  return with_postgres([&](storage::postgres_store& pg) {
    return pg.neighbors(user_id, entity_id, limit);
  });
}

caf::expected<api::memory_record>
api_backend::get_memory(const std::string& user_id,
                        const std::string& memory_id) {
  return with_catalog([&](storage::memory_catalog& c) {
    return c.get(user_id, memory_id);
  });
}

caf::expected<api::memory_record>
api_backend::update_memory(const std::string& user_id,
                           const std::string& memory_id,
                           const api::memory_patch& patch) {
  memory stored;
  auto rec = with_catalog([&](storage::memory_catalog& c) {
    return c.update(user_id, memory_id, patch, *embedder_, stored);
  });
  if (!rec || stored.memory_id.empty())
    return rec; // an error, or nothing changed
  // This node at once; the others (and this one again, idempotently)
  // through index_sync's tail of memories.seq.
  std::vector<memory> one{std::move(stored)};
  if (auto added = index_->upsert(one); !added)
    return added.error();
  index_->sync_tags(one);
  keywords_->upsert(one);
  keywords_->sync_tags(one);
  if (auto err = hot_->put_docs(one))
    return err;
  return rec;
}

caf::expected<api::memory_deletion>
api_backend::delete_memory(const std::string& user_id,
                           const std::string& memory_id) {
  uint64_t point = 0;
  auto del = with_catalog([&](storage::memory_catalog& c) {
    return c.remove(user_id, memory_id, point);
  });
  if (!del)
    return del;
  storage::deletion_entry e;
  e.seq = del->deletion_seq;
  e.kind = "memories";
  e.user_id = user_id;
  e.point_ids = {point};
  storage::derived_stores stores;
  stores.index = index_.get();
  stores.keywords = keywords_.get();
  stores.hot = hot_.get();
  stores.working = working_.get();
  auto applied = storage::apply_deletion(e, stores, nullptr, true, false);
  if (!applied)
    return applied.error(); // index_sync applies the log entry later
  return del;
}

caf::expected<api::memory_page>
api_backend::list_memories(const api::memory_list_query& q) {
  return with_catalog(
    [&](storage::memory_catalog& c) { return c.list(q); });
}

caf::expected<api::session_page>
api_backend::list_sessions(const api::session_list_query& q) {
  return with_catalog(
    [&](storage::memory_catalog& c) { return c.sessions(q); });
}

std::string api_backend::not_ready_reason() {
  return status_->not_ready_reason();
}

caf::expected<api::deletion_report>
api_backend::delete_user(const std::string& user_id) {
  if (!governance_)
    return api::backend::delete_user(user_id);
  return governance_->delete_user(user_id);
}

caf::expected<api::export_stream>
api_backend::open_export(const std::string& user_id) {
  if (!governance_)
    return api::backend::open_export(user_id);
  return governance_->open_export(user_id);
}

} // namespace agentmem::pipeline
