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
  std::string postgres_url, std::shared_ptr<storage::vector_index> index,
  std::shared_ptr<storage::keyword_index> keywords,
  std::shared_ptr<storage::hot_state> hot,
  std::shared_ptr<domain::tombstone_set> tombstones)
  : postgres_url_(std::move(postgres_url)),
    index_(std::move(index)),
    keywords_(std::move(keywords)),
    hot_(std::move(hot)),
    tombstones_(std::move(tombstones)) {
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
  auto applied = storage::apply_deletion(e, *index_, *keywords_, *hot_,
                                         tombstones_.get(), true, true);
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
  // The previous snapshots still hold the user: replace them now.
  if (auto err = index_->save(index_->watermark()))
    return err;
  if (auto err = keywords_->save(keywords_->watermark()))
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
  return api::export_stream{
    [store, hot, user_id](const api::line_writer& write) -> caf::error {
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
      if (auto e = hot->for_each_user_message(
            user_id,
            [&](const std::string& session, const storage::buffer_entry& b) {
              if (!open)
                return;
              ojson row = ojson::object();
              row["user_id"] = user_id;
              row["session_id"] = session;
              row["event_id"] = b.event_id;
              row["ts"] = domain::format_rfc3339_ms(b.ts_ms);
              row["role"] = b.role;
              row["agent_name"] = b.agent_name;
              row["content"] = b.content;
              ojson line = ojson::object();
              line["source"] = "rocksdb";
              line["table"] = "conversation_buffer";
              line["row"] = std::move(row);
              ++lines;
              open = write(dump(line) + "\n");
            }))
        return e;
      if (open)
        write(dump(ojson{{"end", true}, {"lines", lines}}) + "\n");
      return caf::none;
    }};
}

} // namespace agentmem::pipeline
