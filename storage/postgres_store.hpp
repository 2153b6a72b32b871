#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/rows.hpp"
#include "messages/batch.hpp"
#include "messages/memory.hpp"
#include "messages/record.hpp"

namespace agentmem::storage {

/// mem0's memory operations (Chhikara et al., "Mem0: Building
/// Production-Ready AI Agents with Scalable Long-Term Memory", 2025). The
/// writer produces ADD, UPDATE and NOOP; DELETE is part of the history
/// format for deletions.
enum class memory_event { add, update, noop };

/// "ADD", "UPDATE", "NOOP": the spelling in memory_history and the API.
const char* to_string(memory_event e);

/// What commit_batch decided for one versioned memory of the batch: a
/// memory with `update_of` set (a near-duplicate found by dedup) or a
/// `session_summary` (one memory per session, updated in place).
struct memory_change {
  size_t index = 0; ///< position in the committed batch's memories (as
                    ///< passed to commit_batch, before tombstone filtering)
  memory_event event = memory_event::add;
  int32_t version = 1; ///< the memory's version after the change
  /// The memory as stored now: for add the batch's memory; for update the
  /// existing memory (its memory_id, point_id, user/session/event ids,
  /// metadata) with the new text, vector, importance and ts; for noop the
  /// existing memory unchanged (vector empty: nothing to re-index).
  memory stored;
};

/// Makes `b.memories` what commit_batch stored, for the derived state
/// (vector linking): each changed memory is replaced by its `stored` form
/// (an update re-indexes the existing point with the new vector and text)
/// and NOOPs are removed (nothing changed). `changes` as returned for `b`.
void apply_memory_changes(batch& b, const std::vector<memory_change>& changes);

/// What one commit_batch() wrote.
struct commit_result {
  size_t new_activities = 0;       ///< activities inserted (first sighting)
  size_t duplicate_activities = 0; ///< already stored, or repeated in batch
  size_t memories_written = 0;     ///< memories inserted (not yet stored)
  std::vector<memory_change> changes; ///< one per versioned memory, in order
  /// Activities dropped because their user is tombstoned (ts <= cutoff;
  /// docs/data-governance.md), and the tombstones that matched
  /// (user_id -> cutoff ms; only users with something dropped) so the
  /// caller can drop the same rows from its copy of the batch.
  size_t tombstoned = 0;
  std::vector<std::pair<std::string, int64_t>> tombstones;
  /// memories.seq values this transaction allocated: [seq_first, seq_last]
  /// (every seq is allocated under the memories advisory lock, so the
  /// range holds this transaction's inserted and updated memories only);
  /// seq_first > seq_last when it wrote none.
  int64_t seq_first = 0;
  int64_t seq_last = -1;
  /// Event-time analytics (storage/analytics_sql.hpp): new events older
  /// than their partition's stream time whose hour was still open
  /// (within_grace) or had closed (after_grace: counted, and corrected);
  /// hourly windows closed and corrections written to the outbox.
  size_t late_within_grace = 0;
  size_t late_after_grace = 0;
  size_t windows_closed = 0;
  size_t corrections_emitted = 0;
};

/// Event-time windowing of analytics_rollups (docs/operations.md,
/// "Analytics"), Kafka Streams / Flink semantics: stream time of a
/// partition = greatest event time seen; watermark = min stream time over
/// the consumer group's active partitions - grace; an hourly window closes
/// once the watermark reaches its end.
struct analytics_window_options {
  /// `[analytics] enabled`: false skips the event-time rollups, their
  /// stream times and window closing in commit_batch entirely.
  bool enabled = true;
  int64_t grace_ms = 3'600'000; ///< `[analytics] grace_s`
  /// A partition without a batch for this long (wall clock) stops holding
  /// the watermark back (Flink's source idleness); `[analytics]
  /// idle_partition_s`.
  int64_t idle_partition_ms = 300'000;
};

/// True when `err` is errc::data_rejected (see commit_batch).
bool is_data_rejection(const caf::error& err);

/// The SQLSTATE of a data_rejected error ("23514"), "" when its detail
/// names none (a NUL byte found before sending).
std::string rejected_sqlstate(const caf::error& err);

/// A memory as stored, with its position in the `memories.seq` watermark.
struct stored_memory {
  memory m;        ///< as written by commit_batch (see memories_after)
  int64_t seq = 0; ///< memories.seq, strictly increasing in commit order
};

/// An activity as stored, with the time it was stored.
struct stored_activity {
  activity a;                 ///< the fields working memory uses
  int64_t ingested_at_ms = 0; ///< when its batch committed, ms since epoch
};

/// The canonical PostgreSQL store (schema: storage/migrations/*.sql).
/// Owns ONE connection: not thread-safe, use one instance per thread.
/// Every call returns errors as values; pqxx exceptions become
/// errc::postgres_error with the server's message as detail. After a failed
/// call the store stays usable: failed transactions are rolled back, and a
/// broken connection is re-established at the start of the next call.
class postgres_store {
public:
  /// Connects to `url` (libpq URI or conninfo string). Errors:
  /// errc::postgres_error (the detail carries the redacted URL).
  static caf::expected<std::unique_ptr<postgres_store>>
  connect(const std::string& url);

  /// Closes the connection (an open transaction cannot exist between calls).
  ~postgres_store();

  postgres_store(const postgres_store&) = delete;
  postgres_store& operator=(const postgres_store&) = delete;

  /// Drops the current connection and opens a new one to the same URL.
  /// Errors: errc::postgres_error.
  caf::error reconnect();

  /// The URL this store connects to, password replaced by `***`.
  std::string redacted_url() const;

  /// Applies the compiled-in migrations (storage/migrations/NNN_name.sql)
  /// that are not yet in `schema_migrations(version, name, applied_at)`,
  /// in version order, one transaction each, serialised across processes
  /// by pg_advisory_xact_lock so that several nodes may start at once.
  /// Returns how many were applied (0 when the schema is current).
  caf::expected<int> migrate();

  /// Writes one batch in ONE transaction (COPY straight into the tables
  /// or into ON COMMIT DELETE ROWS temp tables, array parameters, then
  /// set-based statements; a fixed number of round trips):
  ///   - user_activities, once per event_id: a batch of new events by COPY
  ///     with ids drawn from the identity sequence beforehand, inside a
  ///     savepoint; a batch holding a stored event (the COPY's unique
  ///     violation rolls the savepoint back) by INSERT .. ON CONFLICT
  ///     (event_id) DO NOTHING; an event_id repeated inside the batch
  ///     counts as a duplicate;
  ///   - file_uploads for `file_upload` activities, written with their
  ///     activity (stored ones: ON CONFLICT DO NOTHING);
  ///   - agent_sessions / usage_analytics upserts from b.sessions / b.usage
  ///     when every activity was new, else from domain::session_deltas /
  ///     domain::usage_deltas over the new activities only, so rollups stay
  ///     exact under redelivery (sessions: started_at = least,
  ///     last_activity_at / ended_at = greatest, total_interactions +=;
  ///     usage: counters +=);
  ///   - analytics_rollups from b.analytics (likewise recomputed over the
  ///     new activities when some were redelivered), stream times, closed
  ///     windows and corrections in analytics_outbox
  ///     (storage/analytics_sql.hpp; two statements);
  ///   - kafka_offsets upsert of b.offsets for `consumer_group` (max wins);
  ///   - user_partitions: every (user_id, partition) the batch's events
  ///     arrived on, and (user_id, 0) for users of memories without a
  ///     Kafka partition (routing of reads to shard owners);
  ///   - b.knowledge: facts with validity intervals, entities, mentions and
  ///     relationships, idempotent on replay (storage/knowledge_sql.hpp);
  ///   - memories (those of events this transaction inserted by COPY in a
  ///     savepoint, the rest and a savepoint that failed by INSERT .. ON
  ///     CONFLICT DO NOTHING; memory::partition as
  ///     source_partition, NULL when < 0; vectors as float32 LE bytea,
  ///     `embedding_model` and dims recorded; an empty vector is NULL;
  ///     their links to their activities are the memory_links view,
  ///     036_memory_links_view.sql). Memories are inserted under a
  ///     transaction-level advisory lock so that `seq` order equals commit
  ///     order across writers and memories_after() never skips a row;
  ///   - versioned memories (see memory_change; storage/memory_versions.hpp):
  ///     their targets are locked (SELECT .. FOR UPDATE) and each gets ADD,
  ///     UPDATE (in place: same memory_id and point, version + 1, a new
  ///     `seq` so derived state re-indexes it) or NOOP (same text, an older
  ///     ts than the stored one, or a replay: its change is already in
  ///     memory_history); every ADD/UPDATE of a non-conversation memory is
  ///     recorded in memory_history. Replaying a batch changes nothing.
  /// First, under a shared advisory lock that user deletion takes
  /// exclusively, the batch's users are looked up in `user_tombstones` (one
  /// statement) and activities/memories of tombstoned users with
  /// ts <= cutoff are left out (rollups recomputed; offsets still
  /// committed), see commit_result::tombstoned.
  /// Empty optional strings are stored as NULL; raw_json empty -> `{}`.
  /// Errors (rolled back, nothing written): errc::data_rejected when the
  /// rows themselves are refused, i.e. a string holds a NUL byte or the
  /// server answered SQLSTATE class 22 (data exception), 23 (integrity
  /// constraint violation) or 54 (program limit exceeded); the detail is
  /// "commit_batch: SQLSTATE <code>: <primary message>" (no DETAIL line:
  /// it may quote row content; see rejected_sqlstate()) and the same rows
  /// fail again. errc::postgres_error otherwise (connection, serialization
  /// failure, deadlock, shutdown, resources, lock timeout, ...): transient,
  /// the batch can be retried as is.
  caf::expected<commit_result> commit_batch(const batch& b,
                                            const std::string& consumer_group,
                                            const std::string& embedding_model);

  /// Windowing used by commit_batch from now on (default: 1 h grace,
  /// 5 min idleness).
  void set_analytics_options(const analytics_window_options& opt);

  /// Stored next offsets of `group` for `topic` (all topics when empty),
  /// ordered by topic, partition. Errors: errc::postgres_error.
  caf::expected<std::vector<partition_offset>>
  load_offsets(const std::string& group, const std::string& topic);

  /// usage_analytics rows of `user_id` with day in [from_day, to_day]
  /// (inclusive, YYYY-MM-DD), ordered by day, agent_type. Errors:
  /// errc::invalid_request (malformed day), errc::postgres_error.
  caf::expected<std::vector<usage_row>>
  usage(const std::string& user_id, const std::string& from_day,
        const std::string& to_day);

  /// Up to `limit` memories with seq > `seq`, ordered by seq, vectors
  /// decoded (empty when none was stored). turn_ts_ms is set to ts_ms;
  /// metadata_json comes back in jsonb's canonical text form ("" if NULL);
  /// importance went through `real` (float32). Errors: postgres_error.
  caf::expected<std::vector<stored_memory>> memories_after(int64_t seq,
                                                           size_t limit);

  /// The same, leaving out the rows whose seq lies in one of `skip`'s
  /// inclusive ranges (already applied by this node: applied_seqs.hpp)
  /// and those with seq > `upto`.
  caf::expected<std::vector<stored_memory>>
  memories_after(int64_t seq, size_t limit,
                 const std::vector<std::pair<int64_t, int64_t>>& skip,
                 int64_t upto = std::numeric_limits<int64_t>::max());

  /// Like memories_after, restricted to the memories held by the shards of
  /// `partitions` (source_partition, NULL counting as 0): what a node's
  /// shards catch up from; `skip` and `upto` as above. Empty
  /// `partitions`: nothing. Errors: postgres_error.
  caf::expected<std::vector<stored_memory>>
  partition_memories_after(
    const std::vector<int32_t>& partitions, int64_t seq, size_t limit,
    const std::vector<std::pair<int64_t, int64_t>>& skip = {},
    int64_t upto = std::numeric_limits<int64_t>::max());

  /// The newest `limit` memories of `memory_type` in one session of
  /// `user_id`, oldest first (by ts, event_id): a session's conversation
  /// read from Postgres while no node can serve its buffer. Errors:
  /// postgres_error.
  caf::expected<std::vector<stored_memory>>
  session_memories(const std::string& user_id, const std::string& session_id,
                   const std::string& memory_type, size_t limit);

  /// Up to `limit` activities of `partitions` (source_partition) stored
  /// at or after `since_ms` (ingestion time) whose class feeds working
  /// memory (message, tool_call, task), at most the newest `per_session`
  /// (by event time) of each session, oldest first, with event_id, ts,
  /// user, session, agent type and name, class, role, content, output
  /// (jsonb text), tool name, success, error message and source partition
  /// set. One statement for all the partitions: the scan of the recent
  /// rows (BRIN on ingested_at) is shared by every shard that finished
  /// warming in the same tick.
  /// `below_offsets` (empty, or one per partition): only rows of that
  /// partition with source_offset below it (rows without an offset too);
  /// an entry < 0 bounds nothing. `below_block` >= 0: only rows stored in
  /// user_activities' blocks below it (a TID range scan: the read is
  /// bounded by what existed then, not by the TTL window); 0 reads
  /// nothing. The per-session limit counts the rows left after the
  /// bounds. Errors: postgres_error; invalid_request when below_offsets
  /// is neither empty nor as long as partitions.
  caf::expected<std::vector<stored_activity>>
  recent_activities(const std::vector<int32_t>& partitions, int64_t since_ms,
                    size_t per_session, size_t limit,
                    const std::vector<int64_t>& below_offsets = {},
                    int64_t below_block = -1);

  /// Up to `limit` memories of `user_id` held by the shards of
  /// `partitions`, in seq order, vectors decoded: the input of an exact
  /// search answered from Postgres while a shard has no serving owner.
  /// Errors: postgres_error.
  caf::expected<std::vector<stored_memory>>
  user_memories(const std::string& user_id,
                const std::vector<int32_t>& partitions, size_t limit);

  /// The versions of one memory of `user_id`, oldest first (memory_history
  /// rows). Errors: errc::not_found when the user has no such memory (or
  /// its history is empty), errc::postgres_error.
  caf::expected<std::vector<memory_version>>
  memory_history(const std::string& user_id, const std::string& memory_id);
  /// Facts valid at q.as_of_ms (current when absent), positive only,
  /// newest valid_at first (storage/knowledge_sql.hpp). Errors:
  /// errc::postgres_error.
  caf::expected<std::vector<fact_row>> facts(const fact_query& q);

  /// Entities of `user_id` (of `type` unless empty), most mentioned first.
  /// Errors: errc::postgres_error.
  caf::expected<std::vector<entity_row>>
  entities(const std::string& user_id, const std::string& type, int limit);

  /// An entity and up to `limit` edges, heaviest first. Errors:
  /// errc::not_found (no such entity), errc::postgres_error.
  caf::expected<entity_neighbors>
  neighbors(const std::string& user_id, const std::string& entity_id,
            int limit);

  /// Highest memories.seq, 0 when there are no memories.
  /// Errors: errc::postgres_error.
  caf::expected<int64_t> max_memory_seq();

  /// Runs `sql` in a read-only transaction; it must return exactly one row
  /// with one non-NULL integer column (e.g. `SELECT count(*) FROM ...`).
  /// Errors: errc::invalid_request (not 1x1 or NULL), errc::postgres_error.
  caf::expected<int64_t> scalar(const std::string& sql);

private:
  struct impl;
  explicit postgres_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
