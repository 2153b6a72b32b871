#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "domain/embedding.hpp"

namespace agentmem::storage {

/// What DELETE /v1/users/{id} removed from Postgres.
struct user_deletion {
  std::string user_id;
  int64_t deleted_at_ms = 0; ///< transaction time, ms since epoch
  /// Events of the user with ts <= cutoff_ms are tombstoned:
  /// max(deleted_at_ms, newest stored ts of the user).
  int64_t cutoff_ms = 0;
  int64_t deletion_seq = 0; ///< the `deletions` row derived state applies
  /// Rows deleted per table (every table that had rows of the user or
  /// linked to them), in deletion order.
  std::vector<std::pair<std::string, int64_t>> tables;
};

/// One row of the `deletions` log (storage/migrations/002_data_governance).
struct deletion_entry {
  int64_t seq = 0;
  std::string kind; ///< "user", "session" or "memories"
  std::string user_id;
  std::string session_id;
  int64_t cutoff_ms = -1; ///< kind "user"
  std::vector<uint64_t> point_ids;
};

/// Retention policies; a duration of 0 disables its policy. Ages are
/// measured against the database clock (now()).
struct retention_policy {
  /// Sessions with ended_at NULL and last activity older than this get
  /// ended_at = last_activity_at.
  int64_t close_idle_sessions_ms = 0;
  /// Sessions whose last activity is older than this are deleted with
  /// every row carrying their (user_id, session_id) (activities, memories,
  /// file uploads, ...) and rows linked to those memories/activities.
  int64_t delete_sessions_after_ms = 0;
  /// Memories with importance < min_importance and ts older than
  /// delete_memories_after_ms are deleted (with their links).
  double min_importance = 0.0;
  int64_t delete_memories_after_ms = 0;
  /// At most this many sessions / memories per policy and pass (bounds one
  /// transaction; the next pass continues).
  int64_t max_rows_per_pass = 10000;
  /// Memories committed less than this long ago (memories.created_at) are
  /// left, and so are sessions holding such memories, until a later pass:
  /// their batch may still be on its way to the vector index (vector
  /// linking runs after the commit), which would re-add deleted points.
  int64_t grace_ms = 10000;
};

/// What one retention pass changed.
struct retention_result {
  int64_t sessions_closed = 0;
  int64_t sessions_deleted = 0;
  int64_t activities_deleted = 0;
  int64_t memories_deleted = 0; ///< of deleted sessions and low-importance
  int64_t rows_deleted = 0;     ///< all rows of all tables
  /// Turns whose retrieval context quoted a deleted memory: context cleared
  /// (and re-embedded when apply_retention was given an embedder).
  int64_t contexts_cleared = 0;
};

/// Data governance over PostgreSQL (docs/data-governance.md): per-user
/// deletion with tombstone, streaming export, retention, and the
/// `deletions` log that derived state follows. Tables are discovered in
/// pg_catalog (current schema): every table with a `user_id` column is
/// user data, except the governance tables user_tombstones and deletions;
/// tables without `user_id` but with `memory_id` / `activity_id` columns
/// hold rows linked to a user's memories / activities. Identifiers are
/// quoted, values are parameters. Owns ONE connection (not thread-safe);
/// errors are errc::postgres_error values, the store stays usable after
/// them (reconnecting when the connection broke).
class governance_store {
public:
  /// Connects to `url`. errc::postgres_error (with the redacted URL).
  static caf::expected<std::unique_ptr<governance_store>>
  connect(const std::string& url);
  ~governance_store();

  /// Deletes every row of `user_id` (and linked rows) in ONE transaction,
  /// records the tombstone and appends a `user` entry to the deletions log.
  /// Serialised against batch commits (advisory lock: commits hold it
  /// shared, deletion exclusively), so no batch can commit data of the user
  /// between the deletion and the tombstone becoming visible. Deleting an
  /// unknown user succeeds (it only records the tombstone).
  caf::expected<user_deletion> delete_user(const std::string& user_id);

  /// Streams every stored row of `user_id` as (table, row_to_json text),
  /// table by table in name order, from one REPEATABLE READ snapshot,
  /// through a server-side cursor fetching `page_rows` at a time (memory
  /// stays bounded). Linked tables follow the user tables. Stops early and
  /// returns none when `sink` returns false.
  caf::error export_user(
    const std::string& user_id, size_t page_rows,
    const std::function<bool(const std::string& table,
                             const std::string& row_json)>& sink);

  /// Up to `limit` deletion log entries with seq > `seq`, ordered by seq
  /// (commit order: writers of the log serialise on an advisory lock).
  caf::expected<std::vector<deletion_entry>> deletions_after(int64_t seq,
                                                             size_t limit);

  /// Runs the enabled policies, one transaction each, appending `session` /
  /// `memories` entries to the deletions log. A conversation turn whose
  /// retrieval context quoted a deleted memory loses that context and gets
  /// a new seq (so every node re-indexes it); with `reembed` its vector is
  /// recomputed from its own text in the same transaction, so no vector
  /// derived from deleted text survives. An embedding error fails the pass
  /// (nothing of that policy is committed; the next pass retries).
  caf::expected<retention_result>
  apply_retention(const retention_policy& p,
                  domain::embedder* reembed = nullptr);

  /// Names of the user-data tables (with a user_id column) in deletion order
  /// (tables referencing others first).
  caf::expected<std::vector<std::string>> user_tables();

private:
  struct impl;
  explicit governance_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
