#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/memory.hpp"

namespace agentmem::storage {

/// One entry of a session's conversation buffer.
struct buffer_entry {
  std::string event_id;
  int64_t ts_ms = 0;
  std::string role;
  std::string agent_name;
  std::string content;
};

/// Per-session state kept hot (derived from Postgres `agent_sessions`).
struct session_state {
  int64_t started_at_ms = 0;
  int64_t last_activity_ms = 0;
  int64_t ended_at_ms = -1;
};

/// The fields of a memory that search results show (text, payload).
struct memory_doc {
  std::string memory_id;
  std::string memory_type;
  std::string user_id;
  std::string session_id;
  std::string event_id;
  int64_t ts_ms = 0;
  std::string text;
  std::string metadata_json;
};

/// RocksDB hot state (derived; rebuildable from Postgres):
/// - `m|user\0session\0<ts_ms BE 8 bytes><event_id>` -> buffered message:
///   each session keeps its newest `buffer_limit` messages, ordered by event
///   time then event_id, so a replayed event overwrites its own entry
///   (idempotent) instead of adding one;
/// - `s|user\0session` -> session_state (merged with min/max, idempotent);
/// - `d|<point_id BE 8 bytes>` -> memory_doc for search results;
/// - `w|<name>` -> watermarks (e.g. the memory seq applied).
/// Thread-safe; writes of one call are one atomic WriteBatch.
///
/// Conversation buffers are cached in memory in front of RocksDB (the
/// durable copy): a write-through cache of whole session buffers, loaded
/// from RocksDB on a miss and bounded by `buffer_cache_bytes` with LRU
/// eviction. Every write of buffered messages goes through this class and
/// updates the cache and RocksDB together (under the cache's mutex), so a
/// cached buffer always equals the stored one; appends then know the keys
/// to trim without scanning, and readers get the buffer without decoding.
/// The cache starts empty (after a restart, buffers load from RocksDB).
class hot_state {
public:
  /// Default bound of the conversation-buffer cache: 64 MiB (~1,000
  /// sessions of 50 messages of ~1 KB).
  static constexpr size_t default_buffer_cache_bytes = size_t{64} << 20;

  /// Opens or creates the database in `dir`; `buffer_cache_bytes` bounds
  /// the conversation-buffer cache (0: no caching). errc::rocksdb_error on
  /// failure.
  static caf::expected<std::unique_ptr<hot_state>>
  open(const std::string& dir, size_t buffer_limit = 50,
       size_t buffer_cache_bytes = default_buffer_cache_bytes);
  ~hot_state();

  /// Adds messages to their sessions' buffers, merges session states, and
  /// trims every touched session to the newest `buffer_limit` entries.
  /// With `keep_existing`, an entry already buffered is left as it is (the
  /// catch-up from Postgres only fills gaps: extraction wrote the event's
  /// exact content, the memory text it is rebuilt from is trimmed).
  struct message_write {
    std::string user_id;
    std::string session_id;
    buffer_entry entry;
  };
  caf::error append_messages(const std::vector<message_write>& msgs,
                             bool keep_existing = false);

  /// Merges session state (min start, max last activity, max end).
  caf::error merge_session(const std::string& user_id,
                           const std::string& session_id,
                           const session_state& delta);

  /// The newest `limit` buffered messages of a session, oldest first.
  caf::expected<std::vector<buffer_entry>>
  session_messages(const std::string& user_id, const std::string& session_id,
                   size_t limit) const;

  /// A session's whole buffer (at most buffer_limit() messages), oldest
  /// first, as an immutable snapshot shared with the cache (no copy of the
  /// entries; later writes do not change it). errc::rocksdb_error.
  using buffer_snapshot = std::shared_ptr<const std::vector<buffer_entry>>;
  caf::expected<buffer_snapshot>
  session_buffer(const std::string& user_id,
                 const std::string& session_id) const;

  /// Bytes the conversation-buffer cache holds (estimate) and the number of
  /// sessions cached (tests, metrics).
  std::pair<size_t, size_t> buffer_cache_usage() const;

  /// RocksDB's own memory (memtables, table readers, block cache), from
  /// its properties (pipeline_bench's memory breakdown).
  size_t rocksdb_memory_bytes() const;

  /// Session state, if known.
  caf::expected<std::optional<session_state>>
  session(const std::string& user_id, const std::string& session_id) const;

  /// Stores memory docs (keyed by point id) and, in the same WriteBatch,
  /// the watermark `name` = `value` when `name` is not empty.
  caf::error put_docs(const std::vector<memory>& docs,
                      const std::string& watermark_name = {},
                      int64_t watermark_value = 0);

  /// Docs by point id; missing ones come back as std::nullopt.
  caf::expected<std::vector<std::optional<memory_doc>>>
  get_docs(const std::vector<uint64_t>& point_ids) const;

  /// A watermark, or `fallback` when never written.
  caf::expected<int64_t> watermark(const std::string& name,
                                   int64_t fallback) const;

  /// What an erase removed: buffered messages, session states, memory docs.
  struct erase_counts {
    size_t messages = 0;
    size_t sessions = 0;
    size_t docs = 0;
  };

  /// User deletion: erases the user's buffered messages with ts <= cutoff,
  /// session states whose last activity is <= cutoff, and memory docs of
  /// the user with ts <= cutoff (a full scan of the docs, which are keyed by
  /// point id). With `compact`, the touched key ranges are then compacted
  /// so the values also leave the SST files on disk. errc::rocksdb_error.
  caf::expected<erase_counts> erase_user(const std::string& user_id,
                                         int64_t cutoff_ms, bool compact);

  /// Erases a session's buffered messages and state (retention).
  caf::expected<erase_counts> erase_session(const std::string& user_id,
                                            const std::string& session_id);

  /// Erases the conversation buffers and session states of `users` (a
  /// shard handed to another node). errc::rocksdb_error.
  caf::error erase_buffers(const std::vector<std::string>& users);

  /// Erases memory docs by point id; returns how many existed.
  caf::expected<size_t> erase_docs(const std::vector<uint64_t>& point_ids);

  /// Calls `f(session_id, entry)` for every buffered message of a user, in
  /// key order (session, time). errc::rocksdb_error.
  caf::error for_each_user_message(
    const std::string& user_id,
    const std::function<void(const std::string&, const buffer_entry&)>& f)
    const;

  /// Calls `f(key, value)` for every key of the database (diagnostics and
  /// tests: proving data is gone). errc::rocksdb_error.
  caf::error scan(
    const std::function<void(const std::string&, const std::string&)>& f)
    const;

  /// Forces memtables to disk (shutdown, snapshots).
  caf::error flush();

  size_t buffer_limit() const {
    return buffer_limit_;
  }

private:
  struct impl;
  hot_state(std::unique_ptr<impl> p, size_t limit);
  std::unique_ptr<impl> impl_;
  size_t buffer_limit_;
};

} // namespace agentmem::storage
