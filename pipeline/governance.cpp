#include "pipeline/governance.hpp"

#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/index_sync.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/governance_store.hpp"

namespace agentmem::pipeline {

namespace {

using ojson = nlohmann::ordered_json;

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

} // namespace

governance_service::governance_service(
  std::string postgres_url, std::shared_ptr<storage::shard_set> shards,
  std::shared_ptr<storage::hot_state> hot,
  std::shared_ptr<domain::tombstone_set> tombstones,
  std::shared_ptr<storage::working_memory> working,
  std::shared_ptr<domain::embedder> embedder)
  : postgres_url_(std::move(postgres_url)),
    shards_(std::move(shards)),
    hot_(std::move(hot)),
    tombstones_(std::move(tombstones)),
    working_(std::move(working)),
    embedder_(std::move(embedder)) {
  metrics::global().get_counter("agentmem_user_deletions_total",
                                "Users deleted through the API on this node.");
}

caf::expected<api::deletion_report>
governance_service::delete_user(const std::string& user_id) {
  auto gov = storage::governance_store::connect(postgres_url_);
  if (!gov)
    return gov.error();
  std::lock_guard<std::mutex> guard{tombstones_->apply_mutex()};
  auto del = (*gov)->delete_user(user_id);
  if (!del)
    return del.error();
  metrics::global()
    .get_counter("agentmem_user_deletions_total",
                 "Users deleted through the API on this node.")
    .inc();
  api::deletion_report rep;
  rep.user_id = del->user_id;
  rep.deleted_at_ms = del->deleted_at_ms;
  rep.cutoff_ms = del->cutoff_ms;
  rep.deletion_seq = del->deletion_seq;
  rep.postgres = del->tables;
  storage::deletion_entry e;
  e.seq = del->deletion_seq;
  e.kind = "user";
  e.user_id = user_id;
  e.cutoff_ms = del->cutoff_ms;
  // The shards that hold the user now are the snapshots to replace.
  auto holding = shards_->holding(user_id);
  storage::derived_stores stores{shards_.get(), hot_.get(), working_.get(),
                                 embedder_.get()};
  auto applied = storage::apply_deletion(e, stores, tombstones_.get(), true,
                                         true);
  if (!applied) {
    spdlog::error("[governance] user deleted in Postgres (deletion seq {}) "
                  "but not yet from this node's derived state: {}",
                  e.seq, describe(applied.error()));
    return applied.error();
  }
  actors::count_deleted(*applied);
  rep.vectors = static_cast<int64_t>(applied->vectors);
  rep.keyword_docs = static_cast<int64_t>(applied->keyword_docs);
  rep.hot_messages = static_cast<int64_t>(applied->hot.messages);
  rep.hot_sessions = static_cast<int64_t>(applied->hot.sessions);
  rep.hot_docs = static_cast<int64_t>(applied->hot.docs);
  rep.working_items = static_cast<int64_t>(applied->working.items);
  rep.working_sessions = static_cast<int64_t>(applied->working.sessions);
  rep.embedding_caches_cleared = static_cast<int64_t>(applied->caches_cleared);
  // The previous snapshots still hold the user: replace them now.
  for (auto& s : holding)
    if (auto err = shards_->save(s->partition, s->watermark()))
      return err;
  if (auto err = hot_->flush())
    return err;
  return rep;
}

caf::expected<api::export_stream>
governance_service::open_export(const std::string& user_id) {
  auto gov = storage::governance_store::connect(postgres_url_);
  if (!gov)
    return gov.error();
  std::shared_ptr<storage::governance_store> store{std::move(*gov)};
  auto hot = hot_;
  auto working = working_;
  return api::export_stream{
    [store, hot, working, user_id](const api::line_writer& write)
      -> caf::error {
      int64_t lines = 0;
      bool open = true;
      auto err = store->export_user(
        user_id, 500,
        [&](const std::string& table, const std::string& row) {
          // row is row_to_json's text: spliced in, not re-parsed.
          std::string line = R"({"source":"postgres","table":)"
                             + dump(ojson(table)) + R"(,"row":)" + row
                             + "}\n";
          ++lines;
          open = write(line);
          return open;
        });
      if (err)
        return err;
      if (!open)
        return caf::none;
      // One line of a RocksDB store: user, session, event and ts, then
      // the store's own fields.
      auto emit = [&](const char* table, const std::string& session,
                      const std::string& event_id, int64_t ts_ms,
                      const ojson& fields) {
        if (!open)
          return;
        ojson row = {{"user_id", user_id},
                     {"session_id", session},
                     {"event_id", event_id},
                     {"ts", domain::format_rfc3339_ms(ts_ms)}};
        for (auto& [k, v] : fields.items())
          row[k] = v;
        ojson line = ojson::object();
        line["source"] = "rocksdb";
        line["table"] = table;
        line["row"] = std::move(row);
        ++lines;
        open = write(dump(line) + "\n");
      };
      if (auto e = hot->for_each_user_message(
            user_id,
            [&](const std::string& session, const storage::buffer_entry& b) {
              emit("conversation_buffer", session, b.event_id, b.ts_ms,
                   ojson{{"role", b.role},
                         {"agent_name", b.agent_name},
                         {"content", b.content}});
            }))
        return e;
      // Working memory: items not yet expired or swept (a session's
      // short-term context, docs/memory.md).
      if (working)
        if (auto e = working->for_each_user_item(
              user_id, [&](const std::string& session,
                           const storage::working_memory::item& it) {
                emit("working_memory", session, it.event_id, it.ts_ms,
                     ojson{{"kind", it.kind},
                           {"name", it.name},
                           {"content", it.content},
                           {"success", it.success}});
              }))
          return e;
      if (open)
        write(dump(ojson{{"end", true}, {"lines", lines}}) + "\n");
      return caf::none;
    }};
}

} // namespace agentmem::pipeline
