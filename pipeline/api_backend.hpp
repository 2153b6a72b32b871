#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

#include "actors/health.hpp"
#include "api/backend.hpp"
#include "domain/embedding.hpp"
#include "pipeline/governance.hpp"
#include "pipeline/retriever.hpp"
#include "storage/hot_state.hpp"
#include "storage/keyword_index.hpp"
#include "storage/memory_catalog.hpp"
#include "storage/postgres_store.hpp"
#include "storage/vector_index.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::pipeline {

/// The HTTP API's view of a running node: searches go to the embedder, the
/// vector and keyword indexes and RocksDB docs (no Postgres round trip),
/// ranked by pipeline::retriever (modes `vector`, `keyword`, `hybrid`, the
/// default; docs/retrieval.md). Filters (user, session, types, time range,
/// tags) apply to both rankings; vector searches count their plan in
/// agentmem_search_plan_total{plan}. With `neighbors` n, each hit carries n
/// turns of its session either side. Usage reads
/// Postgres through its own connection (serialised by a mutex,
/// reconnecting after failures), so do memory histories; working memory
/// reads RocksDB; readiness comes from actors::health.
class api_backend : public api::backend {
public:
  api_backend(std::shared_ptr<domain::embedder> embedder,
              std::shared_ptr<storage::vector_index> index,
              std::shared_ptr<storage::keyword_index> keywords,
              std::shared_ptr<storage::hot_state> hot,
              std::string postgres_url,
              std::shared_ptr<actors::health> status,
              std::shared_ptr<storage::working_memory> working = nullptr,
              fusion_params fusion = {},
              std::shared_ptr<domain::reranker> reranker = nullptr);

  caf::expected<std::vector<api::search_hit>>
  search(const api::search_request& req) override;
  caf::expected<std::vector<api::buffered_message>>
  session_messages(const std::string& user_id, const std::string& session_id,
                   int limit) override;
  caf::expected<std::vector<api::usage_row>>
  usage(const std::string& user_id, const std::string& from_day,
        const std::string& to_day) override;
  caf::expected<std::vector<api::memory_version>>
  memory_history(const std::string& user_id,
                 const std::string& memory_id) override;
  caf::expected<api::working_memory_view>
  working_memory(const std::string& user_id,
                 const std::string& session_id) override;
  caf::expected<std::vector<api::fact_row>>
  facts(const api::fact_query& q) override;
  caf::expected<std::vector<api::entity_row>>
  entities(const std::string& user_id, const std::string& type,
           int limit) override;
  caf::expected<api::entity_neighbors>
  neighbors(const std::string& user_id, const std::string& entity_id,
            int limit) override;
  caf::expected<api::memory_record>
  get_memory(const std::string& user_id,
             const std::string& memory_id) override;
  /// Postgres first (storage::memory_catalog::update), then this node's
  /// indexes and RocksDB doc at once; other nodes follow through
  /// index_sync (the change has a new memories.seq).
  caf::expected<api::memory_record>
  update_memory(const std::string& user_id, const std::string& memory_id,
                const api::memory_patch& patch) override;
  /// Postgres first (row, history, deletions-log entry), then this node's
  /// indexes and RocksDB doc (storage::apply_deletion); other nodes follow
  /// the deletions log.
  caf::expected<api::memory_deletion>
  delete_memory(const std::string& user_id,
                const std::string& memory_id) override;
  caf::expected<api::memory_page>
  list_memories(const api::memory_list_query& q) override;
  caf::expected<api::session_page>
  list_sessions(const api::session_list_query& q) override;
  std::string not_ready_reason() override;
  /// User deletion and export go to `g` (docs/data-governance.md).
  void set_governance(std::shared_ptr<governance_service> g) {
    governance_ = std::move(g);
  }
  caf::expected<api::deletion_report>
  delete_user(const std::string& user_id) override;
  caf::expected<api::export_stream>
  open_export(const std::string& user_id) override;

private:
  /// Runs `f(postgres_store&)` on the shared connection under pg_mtx_,
  /// reconnecting and retrying once when it fails with postgres_error.
  template <class F>
  std::invoke_result_t<F&, storage::postgres_store&> with_postgres(F&& f);
  /// The same on the memory catalog's connection.
  template <class F>
  std::invoke_result_t<F&, storage::memory_catalog&> with_catalog(F&& f);
  /// Runs `f(*store)` under pg_mtx_, connecting `store` first when it is
  /// not, and again once when `f` fails with errc::postgres_error.
  template <class Store, class F>
  std::invoke_result_t<F&, Store&> with_store(std::unique_ptr<Store>& store,
                                              F&& f);

  std::shared_ptr<governance_service> governance_;
  /// Fills each hit's context with up to n conversation turns of its
  /// session on either side (vector_index::session_turns, docs from
  /// RocksDB in one read).
  caf::error add_context(std::vector<api::search_hit>& hits,
                         const std::vector<uint64_t>& hit_points, size_t n);

  std::shared_ptr<domain::embedder> embedder_;
  std::shared_ptr<storage::vector_index> index_;
  std::shared_ptr<storage::keyword_index> keywords_;
  std::shared_ptr<storage::hot_state> hot_;
  std::string postgres_url_;
  std::shared_ptr<actors::health> status_;
  fusion_params fusion_;
  retriever retriever_;
  std::shared_ptr<storage::working_memory> working_;
  std::mutex pg_mtx_;
  std::unique_ptr<storage::postgres_store> pg_;
  std::unique_ptr<storage::memory_catalog> catalog_;
};

} // namespace agentmem::pipeline
