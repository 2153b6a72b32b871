#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "actors/health.hpp"
#include "api/backend.hpp"
#include "domain/embedding.hpp"
#include "storage/hot_state.hpp"
#include "storage/keyword_index.hpp"
#include "storage/postgres_store.hpp"
#include "storage/vector_index.hpp"

namespace agentmem::pipeline {

/// The HTTP API's view of a running node: searches go to the embedder, the
/// vector and keyword indexes and RocksDB docs (no Postgres round trip).
/// Modes: `vector` (cosine), `keyword` (BM25), `hybrid` (default):
/// reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) of the
/// two rankings, score = sum over rankings of 1 / (rrf_k + rank), rank
/// 1-based, rrf_k = 60, each ranking cut at max(50, 5 * top_k). Filters
/// (user, session, types, time range, tags) apply to both rankings; vector
/// searches count their plan in agentmem_search_plan_total{plan}. With
/// `neighbors` n, each hit carries n turns of its session either side.
/// Usage reads
/// Postgres through its own connection (serialised by a mutex,
/// reconnecting after failures); readiness comes from actors::health.
class api_backend : public api::backend {
public:
  api_backend(std::shared_ptr<domain::embedder> embedder,
              std::shared_ptr<storage::vector_index> index,
              std::shared_ptr<storage::keyword_index> keywords,
              std::shared_ptr<storage::hot_state> hot,
              std::string postgres_url,
              std::shared_ptr<actors::health> status);

  caf::expected<std::vector<api::search_hit>>
  search(const api::search_request& req) override;
  caf::expected<std::vector<api::buffered_message>>
  session_messages(const std::string& user_id, const std::string& session_id,
                   int limit) override;
  caf::expected<std::vector<api::usage_row>>
  usage(const std::string& user_id, const std::string& from_day,
        const std::string& to_day) override;
  std::string not_ready_reason() override;

private:
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
  std::mutex pg_mtx_;
  std::unique_ptr<storage::postgres_store> pg_;
};

} // namespace agentmem::pipeline
