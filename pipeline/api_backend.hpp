#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <type_traits>

#include "actors/health.hpp"
#include "api/backend.hpp"
#include "domain/embedding.hpp"
#include "pipeline/governance.hpp"
#include "pipeline/read_router.hpp"
#include "pipeline/retriever.hpp"
#include "storage/hot_state.hpp"
#include "storage/memory_catalog.hpp"
#include "storage/postgres_store.hpp"
#include "storage/shard_set.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::pipeline {

/// The HTTP API's view of a running node: searches go to the embedder, the
/// vector and keyword indexes of this node's shards that hold the user
/// (serving or releasing; merged when the user spans several partitions)
/// and RocksDB docs (no Postgres round trip), ranked by pipeline::retriever
/// (modes `vector`, `keyword`, `hybrid`, the default; docs/retrieval.md).
/// Filters (user, session, types, time range,
/// tags) apply to both rankings; vector searches count their plan in
/// agentmem_search_plan_total{plan}. With `neighbors` n, each hit carries n
/// turns of its session either side. Usage reads
/// Postgres through its own connection (serialised by a mutex,
/// reconnecting after failures), so do memory histories; working memory
/// reads RocksDB; readiness comes from actors::health.
class api_backend : public api::backend {
public:
  /// Docs of points (std::nullopt where none is known), in order.
  using doc_lookup = std::function<
    caf::expected<std::vector<std::optional<storage::memory_doc>>>(
      const std::vector<uint64_t>&)>;

  api_backend(std::shared_ptr<domain::embedder> embedder,
              std::shared_ptr<storage::shard_set> shards,
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
  caf::expected<api::project_page>
  list_projects(const api::project_list_query& q) override;
  std::string not_ready_reason() override;
  /// User deletion and export go to `g` (docs/data-governance.md).
  void set_governance(std::shared_ptr<governance_service> g) {
    governance_ = std::move(g);
  }
  caf::expected<api::deletion_report>
  delete_user(const std::string& user_id) override;
  caf::expected<api::export_stream>
  open_export(const std::string& user_id) override;

  /// Routes reads to the nodes holding the user's shards (several nodes
  /// in a consumer group; docs/operations.md "Scaling out"). Without a
  /// router every read is answered from this node's shards.
  void set_router(std::shared_ptr<read_router> r) {
    router_ = std::move(r);
  }
  /// Relays a read to the one other node that holds every partition of
  /// the user it needs; working memory, which has no Postgres fallback,
  /// is an error (503) when no node serves it. Otherwise: answered here.
  caf::expected<std::optional<api::relayed_reply>>
  route_read(api::routed_read kind, const std::string& user_id,
             const api::read_context& ctx) override;
  /// Searches the user's partitions where they are: this node's shards,
  /// other nodes (forwarded with the partitions to answer from) and, for
  /// partitions no live node serves (or whose node failed), an exact scan
  /// of the user's memories read from Postgres (stale, with the lag);
  /// results merged by score. Errors when a partition cannot be answered
  /// at all (Postgres unreachable too): the caller answers 503.
  caf::expected<api::search_answer>
  routed_search(const api::search_request& req,
                const api::read_context& ctx) override;
  /// The session's buffer from this node, from the node holding the
  /// user's shard, or its conversation memories read from Postgres
  /// (stale).
  caf::expected<api::messages_answer>
  routed_session_messages(const std::string& user_id,
                          const std::string& session_id, int limit,
                          const api::read_context& ctx) override;

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
  std::shared_ptr<read_router> router_;
  /// The user's partitions this read covers: the forwarded ones, else all
  /// of the user's (routing table), else those of this node's shards
  /// holding the user (no router, or Postgres down).
  std::vector<int32_t> read_partitions(const std::string& user_id,
                                       const api::read_context& ctx);
  /// An exact search over the user's memories of `partitions` read from
  /// Postgres, in an index built for the request (stale).
  caf::expected<std::vector<api::search_hit>>
  search_postgres(const api::search_request& req,
                  const std::vector<int32_t>& partitions);
  /// The search of `req` over `shards` (their rankings merged by score
  /// before fusion), hits' docs and context turns from `docs`.
  caf::expected<std::vector<api::search_hit>>
  search_shards(const std::vector<std::shared_ptr<storage::shard>>& shards,
                const api::search_request& req, const doc_lookup& docs);

  /// Fills each hit's context with up to n conversation turns of its
  /// session on either side (vector_index::session_turns over `shards`,
  /// docs in one lookup).
  caf::error add_context(
    const std::vector<std::shared_ptr<storage::shard>>& shards,
    std::vector<api::search_hit>& hits,
    const std::vector<uint64_t>& hit_points, size_t n, const doc_lookup& docs);

  std::shared_ptr<domain::embedder> embedder_;
  std::shared_ptr<storage::shard_set> shards_;
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
