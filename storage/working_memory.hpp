#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/activity.hpp"

namespace agentmem::storage {

/// Tunables of working memory (`[memory]` working_memory_* keys).
struct working_memory_config {
  int64_t ttl_ms = 30 * 60 * 1000; ///< expiry after this much inactivity
  size_t max_items = 20;           ///< newest items kept per session
  size_t max_item_chars = 2000;    ///< content bytes kept per item (+ "…")
};

/// Short-term memory of one (user, session): the most recent turns, tool
/// results and task states, in its own RocksDB database (derived state: not
/// in Postgres, not rebuilt; it simply starts empty).
///
/// Expiry is by inactivity on the node's wall clock (injectable): every
/// write to a session sets the session header's expiry to now + ttl_ms, and
/// the header decides for the whole session (a session expires as a
/// whole). Invariant: every item of a live session has a stored expiry >=
/// its header's. New items are written with the header's expiry + a slack
/// of ttl_ms / 2, and a write rewrites (in the same WriteBatch) only the
/// old items whose stored expiry is below the new header expiry — so an
/// item is rewritten at most once per slack, not on every write to its
/// session. Expired data is
///   - invisible at once: reads decide by the header's expiry (lazy expiry;
///     an expired session found by a read is deleted, items included);
///   - removed by sweep() (called periodically by the sweeper actor): the
///     expired headers and every item of a session whose header is expired
///     or missing;
///   - dropped by a RocksDB CompactionFilter that reads the expiry stored in
///     the first 8 bytes of every value, so compactions never carry it on
///     (an expired session's items at most a slack after its header, when
///     no sweep or read deleted them first).
/// RocksDB's DBWithTTL does not fit: its TTL is per key from the write time
/// in whole seconds on the Env clock, expired keys stay readable until a
/// compaction, and a session's items would expire one by one instead of
/// after the session's inactivity.
///
/// Keys: `h|user\0session` -> header (expiry, last write ms, an upper
/// bound of the session's stored items and a lower bound of their
/// expiries: an append that the bounds show can neither trim nor need a
/// rewrite writes its items without reading the session's);
/// `i|user\0session\0<ts_ms BE, sign flipped><event_id>` -> item, so a
/// replayed event overwrites its own item. Thread-safe (RocksDB is).
class working_memory {
public:
  /// One item (tool results and tasks carry `success`).
  struct item {
    std::string event_id;
    int64_t ts_ms = 0;    ///< event time, ms since epoch (ordering)
    std::string kind;     ///< "message", "tool_result" or "task"
    std::string name;     ///< speaker, or tool/task name
    std::string content;
    bool success = true;
  };

  /// A session's live working memory.
  struct view {
    std::vector<item> items;   ///< oldest first
    int64_t expires_at_ms = 0; ///< wall clock, ms since epoch
  };

  /// ms since the epoch; std::chrono::system_clock by default.
  using clock = std::function<int64_t()>;

  /// Opens or creates the database in `dir`. errc::invalid_config when
  /// ttl_ms < 1 or max_items < 1; errc::rocksdb_error when RocksDB fails.
  static caf::expected<std::unique_ptr<working_memory>>
  open(const std::string& dir, working_memory_config cfg, clock now = {});
  ~working_memory();

  /// RocksDB's own memory (memtables, table readers, block cache), from
  /// its properties (pipeline_bench's memory breakdown).
  size_t rocksdb_memory_bytes() const;

  /// The item an activity contributes, if any: `message` (kind "message",
  /// name = agent_name or role, content), `tool_call` (kind "tool_result",
  /// name = tool_name, content = output, else content, else error) and
  /// `task` (kind "task", name = tool_name or agent_type, content = content,
  /// else output; plus the error when it failed). Content longer than
  /// `max_chars` bytes is cut at a UTF-8 boundary and ends with "…".
  /// Other events: none.
  static std::optional<item> item_of(const activity& a, size_t max_chars);

  /// Appends the items of `acts` (item_of) to their sessions, refreshes
  /// those sessions' expiry and trims each to max_items newest (by event
  /// time, then event id). One WriteBatch. errc::rocksdb_error.
  caf::error append(const std::vector<activity>& acts);

  /// Like append(acts), as if written at `written_at_ms` (wall clock, ms
  /// since epoch): the sessions expire at written_at_ms + ttl_ms. A new
  /// owner of a partition rebuilds working memory this way from the
  /// activities still within the TTL (their ingestion time), so moving a
  /// session to another node does not extend its life. Items that would
  /// already be expired are not written. errc::rocksdb_error.
  caf::error append(const std::vector<activity>& acts, int64_t written_at_ms);

  /// The live working memory of a session; std::nullopt when it has none
  /// (never written or expired — an expired one is deleted now).
  /// errc::rocksdb_error.
  caf::expected<std::optional<view>> get(const std::string& user_id,
                                         const std::string& session_id);

  /// Deletes every expired session (header and items) and items left
  /// without a live header; returns how many sessions. errc::rocksdb_error.
  caf::expected<size_t> sweep();

  /// What an erase removed.
  struct erase_counts {
    size_t items = 0;    ///< working-memory items
    size_t sessions = 0; ///< session headers (sessions left with no item)
  };

  /// User deletion (docs/data-governance.md): removes every item of
  /// `user_id` with event time <= `cutoff_ms`, in every session, expired
  /// or not, and the header of each session left without items. With
  /// `compact`, the user's key ranges are then flushed and compacted, so
  /// the values also leave the memtable, the WAL and the SST files (no
  /// snapshots are held). Idempotent. errc::rocksdb_error.
  caf::expected<erase_counts> erase_user(const std::string& user_id,
                                         int64_t cutoff_ms, bool compact);

  /// Session deletion: removes the session's header and every item.
  /// Idempotent. errc::rocksdb_error.
  caf::expected<erase_counts> erase_session(const std::string& user_id,
                                            const std::string& session_id);

  /// Calls `fn(session_id, item)` for every stored item of `user_id`
  /// (live or not yet swept), ordered by session then event time: the
  /// export's view. errc::rocksdb_error.
  caf::error for_each_user_item(
    const std::string& user_id,
    const std::function<void(const std::string& session_id, const item&)>&
      fn) const;

  /// Runs a full manual compaction (tests: the compaction filter drops
  /// expired entries). errc::rocksdb_error.
  caf::error compact();

  /// Number of keys stored, live or not (tests, metrics).
  size_t raw_key_count() const;

  /// Calls `f(key, value)` for every key of the database, live or not
  /// (diagnostics and tests: proving data is gone, auditing which key
  /// kinds exist). errc::rocksdb_error.
  caf::error scan(
    const std::function<void(const std::string&, const std::string&)>& f)
    const;

  const working_memory_config& config() const {
    return cfg_;
  }

private:
  struct impl;
  working_memory(std::unique_ptr<impl> p, working_memory_config cfg);
  std::unique_ptr<impl> impl_;
  working_memory_config cfg_;
};

} // namespace agentmem::storage
