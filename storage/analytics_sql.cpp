#include "storage/analytics_sql.hpp"

#include <iterator>
#include <map>
#include <utility>

#include "domain/rollup.hpp"
#include "storage/memory_versions.hpp"
#include "storage/pg_common.hpp"
#include "storage/staged_rows.hpp"

namespace agentmem::storage::analytics_sql {

namespace {

constexpr int64_t hour_ms = 3'600'000;

// The deltas' columns, sent as array parameters $3... (staged_rows.hpp)
// in the order write() appends them.
const std::vector<detail::staged_rows::column> delta_columns = {
  {"bucket_ms", "bigint"},      {"kind", "text"},
  {"user_id", "text"},          {"agent_type", "text"},
  {"agent_name", "text"},       {"tool_name", "text"},
  {"tool_category", "text"},    {"model", "text"},
  {"events", "bigint"},         {"errors", "bigint"},
  {"processing_ms", "bigint"},  {"tokens", "bigint"},
  {"files", "bigint"},          {"sessions_started", "bigint"},
  {"sessions_ended", "bigint"}, {"cost_nano", "bigint"},
  {"priced", "bigint"},         {"unpriced", "bigint"},
  {"sketch", "jsonb"},          {"last_ms", "bigint"}};

// Watermark (ms) of the group's active partitions, NULL when none.
std::string watermark_sql(const std::string& quoted_group,
                          const analytics_window_options& opt) {
  return "SELECT min(max_event_at) - " + std::to_string(opt.grace_ms)
         + " * interval '1 millisecond' AS wm FROM analytics_stream_time"
           " WHERE consumer_group = " + quoted_group
         + " AND updated_at >= now() - "
         + std::to_string(opt.idle_partition_ms)
         + " * interval '1 millisecond'";
}

// analytics_sketch_add(r.latency_sketch, EXCLUDED.latency_sketch) written
// out: the same bucket-wise sum (migration 042), without a SQL function
// call per updated row. In a steady stream nearly every delta row updates
// an existing window (one row per event and kind in pipeline_bench's
// steady run), and the call's overhead was a third of the upsert's time
// per row (a 2,100-row upsert into hot windows: 35-45 -> 28-31 µs per row;
// docs/performance.md, "Steady state taken apart").
constexpr const char* sketch_add_inline =
  "r.latency_sketch || coalesce((SELECT jsonb_object_agg(key,"
  " coalesce((r.latency_sketch ->> key)::bigint, 0) + value::bigint)"
  " FROM jsonb_each_text(EXCLUDED.latency_sketch)), '{}')";

constexpr const char* key_columns =
  "grain, bucket_start, kind, user_id, agent_type, agent_name, tool_name,"
  " tool_category, model";

// INSERT of `select` (the key columns, then the measures in the order
// below) into analytics_rollups, adding to the window when it exists. A
// closed (hourly) window that grows counts a revision; day rows are never
// closed.
std::string rollup_upsert_sql(const std::string& select) {
  return std::string{"INSERT INTO analytics_rollups AS r ("} + key_columns
         + ", events, errors, processing_time_ms, latency_sketch, tokens,"
           " files, sessions_started, sessions_ended, cost_usd,"
           " priced_events, unpriced_events, last_event_at) " + select
         + " ON CONFLICT (" + key_columns + ") DO UPDATE SET"
           " events = r.events + EXCLUDED.events,"
           " errors = r.errors + EXCLUDED.errors,"
           " processing_time_ms = r.processing_time_ms"
           " + EXCLUDED.processing_time_ms,"
           " latency_sketch = " + sketch_add_inline + ","
           " tokens = r.tokens + EXCLUDED.tokens,"
           " files = r.files + EXCLUDED.files,"
           " sessions_started = r.sessions_started"
           " + EXCLUDED.sessions_started,"
           " sessions_ended = r.sessions_ended + EXCLUDED.sessions_ended,"
           " cost_usd = r.cost_usd + EXCLUDED.cost_usd,"
           " priced_events = r.priced_events + EXCLUDED.priced_events,"
           " unpriced_events = r.unpriced_events + EXCLUDED.unpriced_events,"
           " last_event_at = GREATEST(r.last_event_at,"
           " EXCLUDED.last_event_at),"
           " revision = r.revision + r.closed::integer, updated_at = now()";
}

// SELECT summing the rows of `from` (columns named like analytics_rollups)
// into their UTC day's window, grouped by the day and the group. Sorted by
// the key, the order the upserts lock rows in.
std::string day_fold_select(const std::string& from) {
  return "SELECT 'day', date_trunc('day', bucket_start, 'UTC'), kind,"
         " user_id, agent_type, agent_name, tool_name, tool_category, model,"
         " sum(events), sum(errors), sum(processing_time_ms),"
         " analytics_sketch_merge(latency_sketch), sum(tokens), sum(files),"
         " sum(sessions_started), sum(sessions_ended), sum(cost_usd),"
         " sum(priced_events), sum(unpriced_events), max(last_event_at)"
         " FROM " + from
         + " GROUP BY 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 2, 3, 4, 5, 6, 7, 8, 9";
}

} // namespace

// The statement that closes the windows the watermark passed (write(),
// step 2).
std::string close_windows_sql(const std::string& quoted_group,
                              const analytics_window_options& opt) {
  // Rows are locked in key order, like the upsert takes them, so that two
  // writers closing and updating the same windows rarely deadlock (a
  // deadlock is a transient error: the batch is retried).
  // "bucket_start <= wm - 1 hour", not "bucket_start + 1 hour <= wm": a
  // bound on the column itself is a range scan of the partial index of
  // open hours (analytics_rollups_open_idx), which finds the few windows
  // to close; the other form read every open window in every batch (a
  // per-batch cost growing with users x agents x tools: 2-8 ms at 4,600
  // open windows, 0.1-0.3 ms with the index).
  return "WITH w AS (" + watermark_sql(quoted_group, opt) + "),"
         " todo AS (SELECT r.ctid AS id FROM analytics_rollups r, w WHERE"
         " r.grain = 'hour' AND NOT r.closed AND r.bucket_start"
         " <= w.wm - interval '1 hour' ORDER BY " + std::string{key_columns}
         + " FOR UPDATE OF r),"
           " c AS (UPDATE analytics_rollups r SET closed = true,"
           " updated_at = now() FROM todo WHERE r.ctid = todo.id AND NOT"
           " r.closed RETURNING r.*),"
           " fold AS (" + rollup_upsert_sql(day_fold_select("c"))
         + " RETURNING 1)"
         " INSERT INTO analytics_outbox (user_id, record_key, payload)"
         " SELECT c.user_id, analytics_record_key(c::analytics_rollups),"
         " analytics_window_record(c::analytics_rollups, 'final') FROM c"
         " ORDER BY c.bucket_start, c.kind, c.user_id RETURNING 1";
}

std::string close_due_sql(const std::string& quoted_group,
                          const analytics_window_options& opt) {
  // The oldest open hour is one step into analytics_rollups_open_idx,
  // the watermark a scan of the group's stream-time rows. ORDER BY ...
  // LIMIT 1, not min(): the statement is prepared, and min() planned on
  // an empty table (a fresh database) became an aggregate over the whole
  // index, kept until autovacuum analysed the table (9 ms at 20,000 open
  // windows, 0.1 ms this way).
  return "SELECT (SELECT bucket_start FROM analytics_rollups WHERE"
         " grain = 'hour' AND NOT closed ORDER BY bucket_start LIMIT 1)"
         " <= (SELECT wm FROM (" + watermark_sql(quoted_group, opt)
         + ") w) - interval '1 hour'";
}

void write(pqxx::work& tx, const std::vector<analytics_delta>& deltas,
           const std::vector<const activity*>& seen,
           const std::unordered_set<std::string>& fresh,
           bool all_fresh,
           const std::string& consumer_group,
           const analytics_window_options& opt, commit_result& late,
           detail::prepared_statements& statements) {
  if (seen.empty())
    return;
  const auto group = tx.quote(consumer_group);
  // Stream time of this batch per (topic, partition).
  std::map<std::pair<std::string, int32_t>, int64_t> stream;
  for (auto* a : seen) {
    if (a->source.partition < 0)
      continue;
    auto [it, added] = stream.try_emplace({a->source.topic, a->source.partition},
                                          a->ts_ms);
    if (!added)
      it->second = std::max(it->second, a->ts_ms);
  }
  // The batch's partitions as arrays, in key order (step 1 reads their
  // stream times, step 2 advances them).
  std::vector<std::string> topics;
  std::vector<int32_t> partitions;
  std::vector<int64_t> max_ms;
  for (auto& [tp, ms] : stream) {
    topics.push_back(tp.first);
    partitions.push_back(tp.second);
    max_ms.push_back(ms);
  }
  const auto topics_array = detail::text_array_literal(topics);
  const auto partitions_array = detail::int_array_literal(partitions);
  // 1. rollups, corrections, and the stream times before this batch.
  if (!deltas.empty()) {
    detail::staged_rows staged{delta_columns};
    for (auto& d : deltas)
      staged.row(d.bucket_start_ms, d.kind, d.user_id, d.agent_type,
                 d.agent_name, d.tool_name, d.tool_category, d.model,
                 d.events, d.errors, d.processing_time_ms, d.tokens, d.files,
                 d.sessions_started, d.sessions_ended, d.cost_nanousd,
                 d.priced_events, d.unpriced_events, d.latency_sketch_json,
                 d.last_ts_ms);
    // `up` returns the whole row only for closed windows (the corrections
    // it feeds): RETURNING r.* copied every updated row, sketch included.
    // A closed hour's day row holds its sum (the fold below), so the late
    // deltas of closed hours are added to their days too (`corr_day`).
    // The staged deltas as hour rows, named like analytics_rollups: `d`,
    // materialized once, read by the upsert and by `late`.
    const std::string delta_select =
      "SELECT 'hour' AS grain, " + detail::ts_of("bucket_ms")
      + " AS bucket_start, kind, user_id, agent_type, agent_name, tool_name,"
        " tool_category, model, events, errors, processing_ms AS"
        " processing_time_ms, sketch AS latency_sketch, tokens, files,"
        " sessions_started, sessions_ended, cost_nano / 1e9 AS cost_usd,"
        " priced AS priced_events, unpriced AS unpriced_events, "
      + detail::ts_of("last_ms") + " AS last_event_at FROM "
      + staged.from("t", 3);
    // Its text depends only on the group and the options: prepared once
    // per connection, which saves parsing and planning it (≈ 2 ms) in
    // every batch.
    auto r = statements.exec(tx,
      "WITH d AS MATERIALIZED (" + delta_select + "),"
      " st AS (SELECT partition, topic, " + detail::ms_of("max_event_at")
      + " AS ms FROM analytics_stream_time WHERE consumer_group = " + group
      + " AND (topic, partition) IN (SELECT * FROM unnest($1::text[],"
        " $2::integer[]))), wm AS (" + watermark_sql(group, opt) + "),"
        " up AS (" + rollup_upsert_sql("SELECT * FROM d"
                                       " ORDER BY 2, 3, 4, 5, 6, 7, 8, 9")
      + " RETURNING CASE WHEN r.closed THEN r END AS c),"
        " late AS (SELECT t.* FROM up JOIN d t ON (up.c).bucket_start ="
        " t.bucket_start AND (up.c).kind = t.kind AND (up.c).user_id ="
        " t.user_id AND (up.c).agent_type = t.agent_type AND"
        " (up.c).agent_name = t.agent_name AND (up.c).tool_name ="
        " t.tool_name AND (up.c).tool_category = t.tool_category AND"
        " (up.c).model = t.model WHERE up.c IS NOT NULL),"
        " corr_day AS (" + rollup_upsert_sql(day_fold_select("late"))
      + " RETURNING 1),"
        " corr AS (INSERT INTO analytics_outbox (user_id, record_key, payload)"
        " SELECT (up.c).user_id, analytics_record_key(up.c),"
        " analytics_window_record(up.c, 'correction')"
        " FROM up WHERE up.c IS NOT NULL ORDER BY (up.c).bucket_start"
        " RETURNING 1)"
        " SELECT 'st', topic, partition, ms FROM st"
        " UNION ALL SELECT 'wm', NULL, NULL, " + detail::ms_of("wm")
      + " FROM wm UNION ALL SELECT 'corr', NULL, NULL, count(*) FROM corr",
      topics_array, partitions_array,
      pqxx::prepare::make_dynamic_params(staged.params()));
    std::map<std::pair<std::string, int32_t>, int64_t> before;
    bool has_wm = false;
    int64_t wm = 0;
    for (const auto& row : r) {
      auto tag = row[0].as<std::string>();
      if (tag == "st")
        before.emplace(std::pair{row[1].as<std::string>(), row[2].as<int32_t>()},
                       row[3].as<int64_t>());
      else if (tag == "wm" && !row[3].is_null()) {
        has_wm = true;
        wm = row[3].as<int64_t>();
      } else if (tag == "corr")
        late.corrections_emitted = static_cast<size_t>(row[3].as<int64_t>());
    }
    for (auto* a : seen) {
      if (!all_fresh && fresh.count(a->event_id) == 0)
        continue;
      if (has_wm && domain::window_start(a->ts_ms, hour_ms) + hour_ms <= wm) {
        ++late.late_after_grace;
        continue;
      }
      auto it = before.find({a->source.topic, a->source.partition});
      if (it != before.end() && a->ts_ms < it->second)
        ++late.late_within_grace;
    }
  }
  // 2. stream times (one prepared statement: the partitions as arrays,
  // in key order), then close the windows the watermark passed.
  if (!stream.empty()) {
    statements.exec(
      tx,
      "INSERT INTO analytics_stream_time AS s (consumer_group, topic,"
      " partition, max_event_at) SELECT $1, v.topic, v.partition, "
        + detail::ts_of("v.ms")
        + " FROM unnest($2::text[], $3::integer[], $4::bigint[])"
          " AS v(topic, partition, ms) ORDER BY v.topic, v.partition"
          " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
          " max_event_at = GREATEST(s.max_event_at, EXCLUDED.max_event_at),"
          " updated_at = now()",
      consumer_group, topics_array, partitions_array,
      detail::int_array_literal(max_ms));
  }
  // The close statement only when a window is due: it is planned in
  // every execution (see close_windows_sql), ≈ 1 ms, and in a steady
  // stream an hour closes once per hour of stream time, not per batch.
  auto due = statements.exec(tx, close_due_sql(group, opt));
  if (due.empty() || due[0][0].is_null() || !due[0][0].as<bool>())
    return;
  auto closed = tx.exec(close_windows_sql(group, opt));
  late.windows_closed = closed.size();
}

} // namespace agentmem::storage::analytics_sql
