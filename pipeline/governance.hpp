#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "api/backend.hpp"
#include "domain/embedding.hpp"
#include "domain/tombstones.hpp"
#include "storage/hot_state.hpp"
#include "storage/shard_set.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::pipeline {

/// The API's data-governance operations on one node
/// (docs/data-governance.md). Thread-safe: every call opens its own
/// Postgres connection (deletions and exports are rare and may be long).
class governance_service {
public:
  governance_service(std::string postgres_url,
                     std::shared_ptr<storage::shard_set> shards,
                     std::shared_ptr<storage::hot_state> hot,
                     std::shared_ptr<domain::tombstone_set> tombstones,
                     std::shared_ptr<storage::working_memory> working,
                     std::shared_ptr<domain::embedder> embedder);

  /// Under the tombstone set's apply mutex (vector linking of this node
  /// waits): deletes the user in Postgres (storage::governance_store::
  /// delete_user: rows, tombstone, deletions-log entry), applies the entry
  /// to this node's shards, RocksDB and working memory (compacted) and
  /// drops the embedding caches (storage::apply_deletion), and snapshots
  /// the shards that held the user so their on-disk snapshots no longer
  /// do. Other nodes
  /// apply the log entry through index_sync. Errors: errc::postgres_error
  /// (nothing deleted), or the derived store's error after Postgres was
  /// deleted (index_sync retries from the log).
  caf::expected<api::deletion_report> delete_user(const std::string& user_id);

  /// Connects, then returns a stream writing JSON Lines:
  ///   {"source":"postgres","table":T,"row":{...row_to_json...}}
  ///   {"source":"rocksdb","table":"conversation_buffer","row":{...}}
  ///   {"source":"rocksdb","table":"working_memory","row":{...}}
  ///   {"end":true,"lines":N}   (last line; absent if the export failed)
  caf::expected<api::export_stream> open_export(const std::string& user_id);

private:
  std::string postgres_url_;
  std::shared_ptr<storage::shard_set> shards_;
  std::shared_ptr<storage::hot_state> hot_;
  std::shared_ptr<domain::tombstone_set> tombstones_;
  std::shared_ptr<storage::working_memory> working_;
  std::shared_ptr<domain::embedder> embedder_;
};

} // namespace agentmem::pipeline
