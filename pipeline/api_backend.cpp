#include "pipeline/api_backend.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <unordered_map>

#include "domain/importance.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/derived_sync.hpp"

namespace agentmem::pipeline {

api_backend::api_backend(std::shared_ptr<domain::embedder> embedder,
                         std::shared_ptr<storage::shard_set> shards,
                         std::shared_ptr<storage::hot_state> hot,
                         std::string postgres_url,
                         std::shared_ptr<actors::health> status,
                         std::shared_ptr<storage::working_memory> working,
                         fusion_params fusion,
                         std::shared_ptr<domain::reranker> reranker)
  : embedder_(std::move(embedder)),
    shards_(std::move(shards)),
    hot_(std::move(hot)),
    postgres_url_(std::move(postgres_url)),
    status_(std::move(status)),
    fusion_(fusion),
    retriever_(embedder_, nullptr, nullptr, fusion, std::move(reranker)),
    working_(std::move(working)) {
}

namespace {

// Texts of points for the reranker, from the docs a search reads.
retriever::text_lookup texts_of(api_backend::doc_lookup docs_of) {
  return [docs_of = std::move(docs_of)](const std::vector<uint64_t>& ids)
           -> caf::expected<std::vector<std::optional<std::string>>> {
    auto docs = docs_of(ids);
    if (!docs)
      return docs.error();
    std::vector<std::optional<std::string>> out;
    out.reserve(docs->size());
    for (auto& d : *docs)
      out.push_back(d ? std::optional<std::string>{d->text} : std::nullopt);
    return out;
  };
}

// A stored float importance as the double that prints like it (0.55f ->
// 0.55, not 0.550000011920929), as Postgres prints a real.
double shortest_double(float f) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

storage::vector_filter filter_of(const api::search_request& req) {
  storage::vector_filter f;
  f.user_id = req.user_id;
  f.memory_types = req.filter.memory_types;
  f.session_id = req.filter.session_id;
  f.since_ms = req.filter.since_ms;
  f.until_ms = req.filter.until_ms;
  f.tags = req.filter.tags;
  f.tags_all = req.filter.tags_all;
  f.agent_type = req.filter.agent_type;
  f.agent_name = req.filter.agent_name;
  f.project_id = req.filter.project_id;
  if (req.filter.min_importance) // compared as stored, like the list's
    f.min_importance = domain::stored_importance(*req.filter.min_importance);
  return f;
}

} // namespace

caf::expected<std::vector<api::search_hit>>
api_backend::search(const api::search_request& req) {
  // This node's shards holding the user, unless they are still warming.
  std::vector<std::shared_ptr<storage::shard>> shards;
  for (auto& s : shards_->holding(req.user_id))
    if (shards_->phase(s->partition) != storage::shard_phase::warming)
      shards.push_back(s);
  return search_shards(shards, req, [this](const std::vector<uint64_t>& ids) {
    return hot_->get_docs(ids);
  });
}

caf::expected<std::vector<api::search_hit>>
api_backend::search_shards(
  const std::vector<std::shared_ptr<storage::shard>>& shards,
  const api::search_request& req, const doc_lookup& docs_of) {
  if (shards.empty())
    return std::vector<api::search_hit>{};
  auto f = filter_of(req);
  auto k = static_cast<size_t>(req.top_k);
  storage::search_info info;
  auto ranked = retriever_.search(shards, req.query, req.mode, k, f, fusion_,
                                  &info, texts_of(docs_of));
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
  auto docs = docs_of(ids);
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
    for (auto& s : shards) // the shard holding the point has its payload
      if (auto scope = s->vectors->scope_of(points[i].point_id)) {
        h.importance = shortest_double(scope->importance);
        h.agent_type = std::move(scope->agent_type);
        h.agent_name = std::move(scope->agent_name);
        h.project_id = std::move(scope->project_id);
        break;
      }
    out.push_back(std::move(h));
    hit_points.push_back(points[i].point_id);
  }
  if (req.neighbors > 0 && !out.empty()) {
    if (auto err = add_context(shards, out, hit_points,
                               static_cast<size_t>(req.neighbors), docs_of))
      return err;
  }
  return out;
}

caf::error api_backend::add_context(
  const std::vector<std::shared_ptr<storage::shard>>& shards,
  std::vector<api::search_hit>& hits, const std::vector<uint64_t>& hit_points,
  size_t n, const doc_lookup& docs_of) {
  // Turn ids of every hit first, then one batched doc read.
  std::vector<std::pair<std::vector<uint64_t>, std::vector<uint64_t>>> ctx(
    hits.size());
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < hits.size(); ++i) {
    for (auto& s : shards) // the shard holding the point answers
      if (s->vectors->contains(hit_points[i])) {
        s->vectors->session_turns(hit_points[i], n, ctx[i].first,
                                  ctx[i].second);
        break;
      }
    ids.insert(ids.end(), ctx[i].first.begin(), ctx[i].first.end());
    ids.insert(ids.end(), ctx[i].second.begin(), ctx[i].second.end());
  }
  if (ids.empty())
    return caf::none;
  auto docs = docs_of(ids);
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

// --- routed reads -----------------------------------------------------------

std::vector<int32_t>
api_backend::read_partitions(const std::string& user_id,
                             const api::read_context& ctx) {
  if (!ctx.partitions.empty())
    return ctx.partitions;
  if (router_) {
    auto parts = router_->partitions_of(user_id);
    if (parts)
      return *parts;
  }
  std::vector<int32_t> out;
  for (auto& s : shards_->holding(user_id))
    out.push_back(s->partition);
  return out;
}

caf::expected<std::optional<api::relayed_reply>>
api_backend::route_read(api::routed_read kind, const std::string& user_id,
                        const api::read_context& ctx) {
  using reply = std::optional<api::relayed_reply>;
  if (!router_)
    return reply{};
  auto parts = read_partitions(user_id, ctx);
  if (parts.empty())
    return reply{}; // a user never seen: nothing anywhere
  auto plan = router_->plan(parts, ctx.hops);
  bool local = plan.count(shard_source{shard_source::kind::local, {}, {}}) > 0;
  bool wm = kind == api::routed_read::working_memory;
  if (local && (wm || plan.size() == 1))
    return reply{};
  // One other node holds everything the read needs (the usual case), or
  // working memory lives on one of several: relay that node's answer.
  std::optional<api::relayed_reply> not_found;
  for (auto& [src, ps] : plan) {
    if (src.where != shard_source::kind::remote
        || (!wm && plan.size() > 1))
      continue;
    auto r = router_->forward(src.address, ctx, ps);
    if (!r || r->status >= 500) {
      router_->mark_failed(src.node_id);
      continue;
    }
    api::relayed_reply out{r->status, std::move(r->body), r->content_type,
                           r->retry_after};
    if (wm && r->status == 404) {
      not_found = std::move(out);
      continue; // the session may be on another of the user's partitions
    }
    return reply{std::move(out)};
  }
  if (!wm)
    return reply{}; // answered here: local shards, Postgres, merging
  if (not_found)
    return not_found;
  return make_error(errc::timeout,
                    "the working memory of user " + user_id
                      + " is moving between nodes; retry shortly");
}

caf::expected<std::vector<api::search_hit>>
api_backend::search_postgres(const api::search_request& req,
                             const std::vector<int32_t>& partitions) {
  auto rows = with_postgres([&](storage::postgres_store& pg) {
    return pg.user_memories(req.user_id, partitions, 1'000'000);
  });
  if (!rows)
    return rows.error();
  // An index of the user's memories only, scored exactly: the ranking the
  // live shard gives when it plans an exact search (docs/retrieval.md).
  auto vcfg = shards_->config().vectors;
  vcfg.initial_capacity = rows->size() + 1;
  vcfg.exact_threshold = std::numeric_limits<size_t>::max();
  auto vectors = storage::vector_index::open("", vcfg);
  auto keywords = storage::keyword_index::open("", shards_->config().bm25);
  if (!vectors)
    return vectors.error();
  if (!keywords)
    return keywords.error();
  auto s = std::make_shared<storage::shard>();
  s->vectors = std::move(*vectors);
  s->keywords = std::move(*keywords);
  std::vector<memory> ms;
  ms.reserve(rows->size());
  std::unordered_map<uint64_t, storage::memory_doc> docs;
  for (auto& r : *rows) {
    auto& m = r.m;
    docs[m.point_id] = {m.memory_id, m.memory_type, m.user_id, m.session_id,
                        m.event_id,  m.ts_ms,       m.text,    m.metadata_json};
    if (m.vector.size() == vcfg.dims)
      ms.push_back(std::move(m));
  }
  auto added = s->vectors->upsert(ms);
  if (!added)
    return added.error();
  s->keywords->upsert(ms);
  return search_shards({s}, req, [&docs](const std::vector<uint64_t>& ids) {
    std::vector<std::optional<storage::memory_doc>> out;
    out.reserve(ids.size());
    for (auto id : ids) {
      auto it = docs.find(id);
      out.push_back(it == docs.end()
                      ? std::nullopt
                      : std::optional<storage::memory_doc>{it->second});
    }
    return caf::expected<std::vector<std::optional<storage::memory_doc>>>{
      std::move(out)};
  });
}

caf::expected<api::search_answer>
api_backend::routed_search(const api::search_request& req,
                           const api::read_context& ctx) {
  if (!router_) {
    auto hits = search(req);
    if (!hits)
      return hits.error();
    return api::search_answer{std::move(*hits), {}};
  }
  auto parts = read_partitions(req.user_id, ctx);
  api::search_answer out;
  if (parts.empty())
    return out; // a user never seen: nothing anywhere
  std::vector<int32_t> from_postgres;
  std::vector<std::shared_ptr<storage::shard>> local;
  for (auto& [src, ps] : router_->plan(parts, ctx.hops)) {
    switch (src.where) {
      case shard_source::kind::local:
        for (auto p : ps)
          if (auto s = shards_->find(p))
            local.push_back(s);
        break;
      case shard_source::kind::remote: {
        auto r = router_->forward(src.address, ctx, ps);
        auto a = r && r->status == 200 ? parse_search_reply(r->body)
                                       : caf::expected<api::search_answer>{
                                         make_error(errc::io_error, "")};
        if (!a) {
          router_->mark_failed(src.node_id);
          from_postgres.insert(from_postgres.end(), ps.begin(), ps.end());
          break;
        }
        out.hits.insert(out.hits.end(), a->hits.begin(), a->hits.end());
        out.freshness.stale = out.freshness.stale || a->freshness.stale;
        out.freshness.lag_ms =
          std::max(out.freshness.lag_ms, a->freshness.lag_ms);
        break;
      }
      case shard_source::kind::postgres:
        from_postgres.insert(from_postgres.end(), ps.begin(), ps.end());
        break;
    }
  }
  auto add = [&out](std::vector<api::search_hit> hits) {
    out.hits.insert(out.hits.end(), std::make_move_iterator(hits.begin()),
                    std::make_move_iterator(hits.end()));
  };
  if (!local.empty()) {
    auto hits = search_shards(local, req,
                              [this](const std::vector<uint64_t>& ids) {
                                return hot_->get_docs(ids);
                              });
    if (!hits)
      return hits.error();
    add(std::move(*hits));
  }
  if (!from_postgres.empty()) {
    auto hits = search_postgres(req, from_postgres);
    if (!hits)
      return hits.error();
    add(std::move(*hits));
    out.freshness.stale = true;
    out.freshness.lag_ms = std::max(out.freshness.lag_ms,
                                    router_->commit_age_ms(from_postgres));
    metrics::global()
      .get_counter("agentmem_search_stale_total",
                   "Searches answered (partly) from Postgres alone because "
                   "no node could serve a shard; marked stale.")
      .inc();
  }
  // Several sources: one ranking by score (the same scale in each mode).
  std::stable_sort(out.hits.begin(), out.hits.end(),
                   [](const api::search_hit& a, const api::search_hit& b) {
                     return a.score > b.score;
                   });
  if (out.hits.size() > static_cast<size_t>(req.top_k))
    out.hits.resize(static_cast<size_t>(req.top_k));
  return out;
}

caf::expected<api::messages_answer>
api_backend::routed_session_messages(const std::string& user_id,
                                     const std::string& session_id, int limit,
                                     const api::read_context& ctx) {
  if (router_) {
    auto parts = read_partitions(user_id, ctx);
    bool local = false;
    for (auto& [src, ps] : router_->plan(parts, ctx.hops))
      local = local || src.where == shard_source::kind::local;
    if (!parts.empty() && !local) {
      // No node could answer (route_read relays when one can): the
      // session's conversation memories, read from Postgres.
      auto rows = with_postgres([&](storage::postgres_store& pg) {
        return pg.session_memories(user_id, session_id,
                                   memory_types::conversation,
                                   static_cast<size_t>(limit));
      });
      if (!rows)
        return rows.error();
      api::messages_answer out;
      for (auto& r : *rows) {
        auto e = storage::buffer_entry_of(r.m);
        out.messages.push_back(
          {e.event_id, e.ts_ms, e.role, e.agent_name, e.content});
      }
      out.freshness.stale = true;
      out.freshness.lag_ms = router_->commit_age_ms(parts);
      return out;
    }
  }
  auto msgs = session_messages(user_id, session_id, limit);
  if (!msgs)
    return msgs.error();
  return api::messages_answer{std::move(*msgs), {}};
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
  if (auto added = shards_->upsert(one); !added)
    return added.error();
  shards_->sync_labels(one);
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
  stores.shards = shards_.get();
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

caf::expected<api::project_page>
api_backend::list_projects(const api::project_list_query& q) {
  return with_catalog(
    [&](storage::memory_catalog& c) { return c.projects(q); });
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
