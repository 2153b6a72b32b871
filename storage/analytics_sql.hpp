#pragma once

// Internal to storage/: the SQL of the event-time analytics rollups, used
// by postgres_store::commit_batch. pqxx types appear here, so this header
// must not be included outside storage/.

#include <string>
#include <unordered_set>
#include <vector>

#include <pqxx/pqxx>

#include "messages/activity.hpp"
#include "messages/rollup.hpp"
#include "storage/pg_common.hpp"
#include "storage/postgres_store.hpp"

namespace agentmem::storage::analytics_sql {

/// The statement of write()'s step 2 after the stream times: closes every
/// open hourly window of `quoted_group` (an SQL literal) whose end is <= the
/// watermark, folds it into its day row and writes its `final` record;
/// returns one row per closed window. Found through the partial index of
/// open hours (analytics_rollups_open_idx), not a scan of every open
/// window (tests/storage/analytics_test.cpp reads its plan).
std::string close_windows_sql(const std::string& quoted_group,
                              const analytics_window_options& opt);

/// Whether close_windows_sql would close anything now: true when the
/// oldest open hourly window ends at or before the watermark; false, or
/// NULL when no window is open or no partition is active. Prepared by
/// write() (its plan does not depend on the rows, even when made on an
/// empty table: the first entry of the open hours' partial index and the
/// group's stream-time rows).
std::string close_due_sql(const std::string& quoted_group,
                          const analytics_window_options& opt);

/// Writes one batch's analytics inside `tx` with two statements
/// (storage/migrations/040_analytics.sql; docs/operations.md
/// "Analytics"):
///   1. one statement takes `deltas` (hourly windows) as array parameters
///      (staged_rows.hpp: no temp table) and upserts them into
///      analytics_rollups' hour rows (counters
///      +=, sketches merged; keys must be unique, as analytics_deltas makes
///      them); a closed hourly window that grows gets revision + 1, a
///      `correction` record in analytics_outbox, and the same increment
///      in its day row; it also reads the stream times of the batch's
///      partitions and the watermark as they were before this batch;
///   2. the stream time of each (topic, partition) of `seen` advanced to
///      its greatest event time (GREATEST: replays change nothing), then
///      when close_due_sql says a window is due, every open hourly window
///      whose end is <= the watermark is closed,
///      its sums added into its UTC day's row, and its `final` record
///      written to analytics_outbox. So a day row is always the sum of its
///      closed hours, and the view analytics_windows (migration 043) adds
///      the open ones: one upserted row per event and group instead of
///      two (hour and day). Watermark =
///      min over the group's partitions that had a batch within
///      `opt.idle_partition_ms` of their stream time, minus `opt.grace_ms`.
/// `fresh` holds the event_ids of `seen` inserted by this transaction (all
/// of them when `all_fresh`): those are classified into `late` (an event
/// whose hour had closed before this batch is after_grace; one older than
/// its partition's stream time otherwise within_grace). Step 1 and the
/// stream times run as prepared statements of `statements` (the
/// connection's), and so does the close_due_sql probe; the close
/// statement itself is planned in every batch that closes a window (a plan
/// cached while the tables were small ran 4x slower: docs/performance.md,
/// third round). Throws pqxx exceptions (the caller's run() turns them
/// into errors).
void write(pqxx::work& tx, const std::vector<analytics_delta>& deltas,
           const std::vector<const activity*>& seen,
           const std::unordered_set<std::string>& fresh,
           bool all_fresh,
           const std::string& consumer_group,
           const analytics_window_options& opt, commit_result& late,
           detail::prepared_statements& statements);

} // namespace agentmem::storage::analytics_sql
