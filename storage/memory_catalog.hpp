#pragma once

#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "domain/embedding.hpp"
#include "messages/memory.hpp"
#include "messages/rows.hpp"

namespace agentmem::storage {

/// Single memories and listings over PostgreSQL (docs/api.md, "Memories"):
/// read, change or delete one memory, list a user's memories and sessions
/// page by page. Changes keep the derived state of every node in step the
/// way the pipeline's do: a change in place draws a new `memories.seq`
/// (index_sync of every node re-indexes the point), a deletion appends a
/// `memories` entry to the `deletions` log (every node removes the point).
/// Every change writes a `memory_history` row. Owns ONE connection (not
/// thread-safe); errors are values (errc::postgres_error, errc::not_found,
/// errc::invalid_request); the store stays usable after them.
class memory_catalog {
public:
  /// Connects to `url`. errc::postgres_error (with the redacted URL).
  static caf::expected<std::unique_ptr<memory_catalog>>
  connect(const std::string& url);
  ~memory_catalog();

  /// The memory `memory_id` of `user_id`; errc::not_found when the user
  /// has no such memory.
  caf::expected<memory_record> get(const std::string& user_id,
                                   const std::string& memory_id);

  /// Applies `patch` in ONE transaction: text, importance and tags as
  /// given (a new text is embedded by `embed`, with the memory's retrieval
  /// context after it as the pipeline does, before the transaction),
  /// version + 1, updated_at = now(), a new seq (taken under the memories
  /// advisory lock, so seq order stays commit order), and an `UPDATE` row
  /// in memory_history (event_id NULL: the change came from the API).
  /// A patch that changes nothing changes nothing (same version). The row
  /// is locked; a concurrent change between the read and the lock makes
  /// it start over (at most 3 times, then errc::postgres_error).
  /// `stored` receives the memory as now stored, for the caller's own
  /// derived state (vector empty when the text did not change).
  /// Errors: errc::not_found, errc::invalid_request (empty patch),
  /// the embedder's error, errc::postgres_error.
  caf::expected<memory_record> update(const std::string& user_id,
                                      const std::string& memory_id,
                                      const memory_patch& patch,
                                      domain::embedder& embed,
                                      memory& stored);

  /// Deletes the memory (its memory_links row, a view, goes with it) in
  /// ONE transaction, records a `DELETE` row in memory_history (new_text
  /// NULL) and appends `('memories', [point_id])` to the deletions log.
  /// Returns the point id in `point_id` for the caller's own derived
  /// state. Errors: errc::not_found, errc::postgres_error.
  caf::expected<memory_deletion> remove(const std::string& user_id,
                                        const std::string& memory_id,
                                        uint64_t& point_id);

  /// One page of q.user_id's memories, newest first (ts, memory_id
  /// descending), filtered as q says; `next` is set when more may follow.
  caf::expected<memory_page> list(const memory_list_query& q);

  /// One page of q.user_id's sessions, newest first (started_at,
  /// session_id descending).
  caf::expected<session_page> sessions(const session_list_query& q);

  /// One page of q.user_id's projects (every project_id its sessions,
  /// memories or uploads carry), by project_id ascending, with the count
  /// of each and the newest activity (a session's last activity, a
  /// memory's or upload's time). Errors: errc::postgres_error.
  caf::expected<project_page> projects(const project_list_query& q);

private:
  struct impl;
  explicit memory_catalog(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
