#include "storage/analytics_sql.hpp"

#include <map>
#include <utility>

#include "domain/rollup.hpp"
#include "storage/memory_versions.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage::analytics_sql {

namespace {

constexpr int64_t hour_ms = 3'600'000;

// The unnest() arguments of the rollup upsert: one Postgres array literal
// per column (text and jsonb values quoted by text_array_literal).
struct array_literals {
  std::vector<std::vector<std::string>> cols;
  explicit array_literals(size_t n) : cols(n) {}
  void text(size_t i, const std::string& s) {
    cols[i].push_back(s);
  }
  void num(size_t i, int64_t v) {
    cols[i].push_back(std::to_string(v));
  }
  // Numbers need no quotes, but quoted elements parse the same.
  std::vector<std::string> literals() const {
    std::vector<std::string> out;
    for (auto& c : cols)
      out.push_back(detail::text_array_literal(c));
    return out;
  }
};

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

constexpr const char* key_columns =
  "grain, bucket_start, kind, user_id, agent_type, agent_name, tool_name,"
  " tool_category, model";

} // namespace

void write(pqxx::work& tx, const std::vector<analytics_delta>& deltas,
           const std::vector<const activity*>& seen,
           const std::unordered_set<std::string>& fresh, bool all_fresh,
           const std::string& consumer_group,
           const analytics_window_options& opt, commit_result& late) {
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
  // 1. rollups, corrections, and the stream times before this batch.
  if (!deltas.empty()) {
    array_literals arr(21);
    for (auto& d : deltas) {
      arr.text(0, d.grain);
      arr.num(1, d.bucket_start_ms);
      arr.text(2, d.kind);
      arr.text(3, d.user_id);
      arr.text(4, d.agent_type);
      arr.text(5, d.agent_name);
      arr.text(6, d.tool_name);
      arr.text(7, d.tool_category);
      arr.text(8, d.model);
      arr.num(9, d.events);
      arr.num(10, d.errors);
      arr.num(11, d.processing_time_ms);
      arr.num(12, d.tokens);
      arr.num(13, d.files);
      arr.num(14, d.sessions_started);
      arr.num(15, d.sessions_ended);
      arr.num(16, d.cost_nanousd);
      arr.num(17, d.priced_events);
      arr.num(18, d.unpriced_events);
      arr.text(19, d.latency_sketch_json);
      arr.num(20, d.last_ts_ms);
    }
    auto c = arr.literals();
    auto r = tx.exec_params(
      "WITH d AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[],"
      " $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
      " $9::text[], $10::bigint[], $11::bigint[], $12::bigint[],"
      " $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[],"
      " $17::bigint[], $18::bigint[], $19::bigint[], $20::jsonb[],"
      " $21::bigint[])"
      " AS d(grain, bucket_ms, kind, user_id, agent_type, agent_name,"
      " tool_name, tool_category, model, events, errors, processing_ms,"
      " tokens, files, sessions_started, sessions_ended, cost_nano, priced,"
      " unpriced, sketch, last_ms)),"
      " st AS (SELECT partition, topic, " + detail::ms_of("max_event_at")
      + " AS ms FROM analytics_stream_time WHERE consumer_group = " + group
      + "), wm AS (" + watermark_sql(group, opt) + "),"
        " up AS (INSERT INTO analytics_rollups AS r (" + key_columns
      + ", events, errors, processing_time_ms, latency_sketch, tokens, files,"
        " sessions_started, sessions_ended, cost_usd, priced_events,"
        " unpriced_events, last_event_at) SELECT grain, " + detail::ts_of("bucket_ms")
      + ", kind, user_id, agent_type, agent_name, tool_name, tool_category,"
        " model, events, errors, processing_ms, sketch, tokens, files,"
        " sessions_started, sessions_ended, cost_nano / 1e9, priced, unpriced, "
      + detail::ts_of("last_ms") + " FROM d ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
        " ON CONFLICT (" + key_columns + ") DO UPDATE SET"
        " events = r.events + EXCLUDED.events,"
        " errors = r.errors + EXCLUDED.errors,"
        " processing_time_ms = r.processing_time_ms"
        " + EXCLUDED.processing_time_ms,"
        " latency_sketch = analytics_sketch_add(r.latency_sketch,"
        " EXCLUDED.latency_sketch),"
        " tokens = r.tokens + EXCLUDED.tokens,"
        " files = r.files + EXCLUDED.files,"
        " sessions_started = r.sessions_started + EXCLUDED.sessions_started,"
        " sessions_ended = r.sessions_ended + EXCLUDED.sessions_ended,"
        " cost_usd = r.cost_usd + EXCLUDED.cost_usd,"
        " priced_events = r.priced_events + EXCLUDED.priced_events,"
        " unpriced_events = r.unpriced_events + EXCLUDED.unpriced_events,"
        " last_event_at = GREATEST(r.last_event_at, EXCLUDED.last_event_at),"
        " revision = r.revision + r.closed::integer, updated_at = now()"
        " RETURNING r.*),"
        " corr AS (INSERT INTO analytics_outbox (user_id, record_key, payload)"
        " SELECT up.user_id, analytics_record_key(up::analytics_rollups),"
        " analytics_window_record(up::analytics_rollups, 'correction')"
        " FROM up WHERE up.closed ORDER BY up.bucket_start RETURNING 1)"
        " SELECT 'st', topic, partition, ms FROM st"
        " UNION ALL SELECT 'wm', NULL, NULL, " + detail::ms_of("wm")
      + " FROM wm UNION ALL SELECT 'corr', NULL, NULL, count(*) FROM corr",
      c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10],
      c[11], c[12], c[13], c[14], c[15], c[16], c[17], c[18], c[19], c[20]);
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
  // 2. stream times, then close the windows the watermark passed.
  std::string sql;
  if (!stream.empty()) {
    sql = "INSERT INTO analytics_stream_time AS s (consumer_group, topic,"
          " partition, max_event_at) VALUES ";
    bool first = true;
    for (auto& [tp, ms] : stream) {
      if (!first)
        sql += ',';
      first = false;
      sql += "(" + group + ", " + tx.quote(tp.first) + ", "
             + std::to_string(tp.second) + ", "
             + detail::ts_of(std::to_string(ms)) + ")";
    }
    sql += " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
           " max_event_at = GREATEST(s.max_event_at, EXCLUDED.max_event_at),"
           " updated_at = now();";
  }
  // Rows are locked in key order, like the upsert takes them, so that two
  // writers closing and updating the same windows rarely deadlock (a
  // deadlock is a transient error: the batch is retried).
  sql += "WITH w AS (" + watermark_sql(group, opt) + "),"
         " todo AS (SELECT r.ctid AS id FROM analytics_rollups r, w WHERE"
         " r.grain = 'hour' AND NOT r.closed AND r.bucket_start"
         " + interval '1 hour' <= w.wm ORDER BY " + std::string{key_columns}
         + " FOR UPDATE OF r),"
           " c AS (UPDATE analytics_rollups r SET closed = true,"
           " updated_at = now() FROM todo WHERE r.ctid = todo.id AND NOT"
           " r.closed RETURNING r.*)"
         " INSERT INTO analytics_outbox (user_id, record_key, payload)"
         " SELECT c.user_id, analytics_record_key(c::analytics_rollups),"
         " analytics_window_record(c::analytics_rollups, 'final') FROM c"
         " ORDER BY c.bucket_start, c.kind, c.user_id RETURNING 1";
  auto closed = tx.exec(sql);
  late.windows_closed = closed.size();
}

} // namespace agentmem::storage::analytics_sql
