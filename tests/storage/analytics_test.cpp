// Event-time analytics rollups, sketches, late data and the outbox
// (storage/analytics_sql.hpp, storage/analytics_store.hpp) against a real
// server: one fresh database per test case.

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/analytics_sql.hpp"
#include "storage/analytics_store.hpp"
#include "storage/outbox_store.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/analytics_recount.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_exec.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::commit_result;
using agentmem::storage::postgres_store;
using agentmem::test::open_migrated;
using agentmem::test::why;

namespace {

constexpr int64_t hour_ms = 3'600'000;
// 2024-05-01T10:00:00Z
constexpr int64_t h10 = 1'714'557'600'000;
const std::string group = "agentmem-test";

activity tool_event(const std::string& id, const std::string& user,
                    int64_t ts, int64_t latency_ms, int32_t partition = 0) {
  activity a = test::chat_activity(id, user, user + "-s", ts, "tool_call");
  a.agent_name = "helper";
  a.tool_name = "search";
  a.tool_category = "web";
  a.model = "gpt-4o";
  a.tokens_used = 100;
  a.processing_time_ms = latency_ms;
  a.source.topic = "agent-activities";
  a.source.partition = partition;
  a.source.offset = 0;
  return a;
}

// What the aggregation stage sends.
batch make_batch(std::vector<activity> acts) {
  batch b;
  b.activities = std::move(acts);
  domain::fold_rollups(b);
  return b;
}

commit_result commit(postgres_store& store, const batch& b) {
  auto r = store.commit_batch(b, group, "hash-384");
  BOOST_REQUIRE_MESSAGE(r, why(r));
  return *r;
}

int64_t count(postgres_store& store, const std::string& sql) {
  auto v = store.scalar(sql);
  BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
  return *v;
}

// Groups (kind agent, hour) whose rollup differs from a recount of
// user_activities in events, errors, tokens, processing time or sketch
// size: 0 when the rollups are exact.
const char* const hourly_recount_diff =
  "SELECT count(*) FROM (SELECT date_trunc('hour', ts) AS b, user_id,"
  " agent_type, coalesce(agent_name, '') AS agent_name, count(*) AS n,"
  " count(*) FILTER (WHERE NOT success) AS e, sum(tokens_used) AS t,"
  " sum(processing_time_ms) AS p FROM user_activities GROUP BY 1, 2, 3, 4) a"
  " FULL JOIN (SELECT bucket_start AS b, user_id, agent_type, agent_name,"
  " events, errors, tokens, processing_time_ms, (SELECT sum(value::bigint)"
  " FROM jsonb_each_text(latency_sketch)) AS sk FROM analytics_rollups"
  " WHERE grain = 'hour' AND kind = 'agent') r"
  " USING (b, user_id, agent_type, agent_name)"
  " WHERE a.n IS DISTINCT FROM r.events OR a.e IS DISTINCT FROM r.errors"
  " OR a.t IS DISTINCT FROM r.tokens OR a.p IS DISTINCT FROM"
  " r.processing_time_ms OR a.n IS DISTINCT FROM r.sk";

// A measure of the day window(s) of analytics_windows matching `where`
// (summed over the window's rows).
std::string day_sum(const std::string& measure, const std::string& where) {
  return "SELECT sum(" + measure + ") FROM analytics_windows WHERE grain ="
         " 'day' AND " + where;
}

} // namespace

BOOST_AUTO_TEST_SUITE(analytics_suite)

BOOST_FIXTURE_TEST_CASE(rollups_of_every_kind_and_grain_count_redelivered_events_once,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a = tool_event("e1", "u1", h10 + 1000, 120);
  auto b = tool_event("e2", "u1", h10 + 2000, 80);
  b.success = false;
  b.cost_nanousd = 2'500'000; // 0.0025 USD, given by the event
  auto c = tool_event("e3", "u1", h10 + hour_ms + 5, 40);
  c.tool_name.clear();
  c.model = "unknown-model";
  auto first = make_batch({a, b});
  commit(*store, first);
  // Redelivery of a and b together with a new event: only c counts.
  commit(*store, make_batch({a, b, c}));
  commit(*store, make_batch({a, b, c}));
  BOOST_TEST(count(*store, hourly_recount_diff) == 0);
  BOOST_TEST(count(*store, test::analytics_recount_diff_sql()) == 0);
  // kinds: agent (hour 10, hour 11), tool (hour 10), model gpt-4o (10),
  // unknown-model (11); each also daily: agent 1, tool 1, model 2. The
  // batch writes hour rows only; no hour has closed (stream time 11:00),
  // so the days are their open hours (analytics_windows).
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups"
                           " WHERE grain = 'hour'") == 5);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups"
                           " WHERE grain = 'day'") == 0);
  BOOST_TEST(count(*store, "SELECT count(DISTINCT (bucket_start, kind,"
                           " user_id, agent_type, agent_name, tool_name,"
                           " tool_category, model)) FROM analytics_windows"
                           " WHERE grain = 'day'") == 4);
  BOOST_TEST(count(*store, day_sum("events", "kind = 'agent'")) == 3);
  BOOST_TEST(count(*store, day_sum("errors", "kind = 'tool' AND tool_name ="
                                             " 'search' AND tool_category ="
                                             " 'web'")) == 1);
  // Cost: only the event that carried one is priced; the others have a
  // model but no price: unpriced, not free.
  BOOST_TEST(count(*store, day_sum("(cost_usd * 1e9)::bigint",
                                   "kind = 'agent'")) == 2'500'000);
  BOOST_TEST(count(*store, day_sum("priced_events * 10 + unpriced_events",
                                   "kind = 'agent'")) == 12);
  BOOST_TEST(count(*store, day_sum("unpriced_events",
                                   "kind = 'model' AND model ="
                                   " 'unknown-model'")) == 1);
  // Hours merge into the day: same sketch.
  BOOST_TEST(count(*store, "SELECT count(*) FROM (SELECT"
                           " analytics_sketch_merge(latency_sketch) AS s FROM"
                           " analytics_rollups WHERE grain = 'hour' AND kind ="
                           " 'agent') h, (SELECT"
                           " analytics_sketch_merge(latency_sketch) AS s FROM"
                           " analytics_windows WHERE grain = 'day' AND kind ="
                           " 'agent') d WHERE d.s = h.s") == 1);
}

BOOST_FIXTURE_TEST_CASE(sketch_percentiles_match_percentile_cont_over_the_raw_rows,
                        test::pg_database) {
  auto store = open_migrated(url);
  // Log-normal latencies (median ~150 ms, long tail), 3 hours, 6000 events
  // in batches of 500.
  std::mt19937_64 rng{42};
  std::lognormal_distribution<double> latency{5.0, 1.0};
  std::vector<activity> acts;
  for (int i = 0; i < 6000; ++i) {
    auto ts = h10 + (i % 3) * hour_ms + i;
    acts.push_back(tool_event("p" + std::to_string(i), "u" + std::to_string(i % 4),
                              ts, 1 + static_cast<int64_t>(latency(rng))));
    if (acts.size() == 500) {
      commit(*store, make_batch(acts));
      acts.clear();
    }
  }
  for (double q : {0.5, 0.9, 0.99}) {
    auto qs = std::to_string(q);
    // Whole range, merged over hours and users, vs the exact value.
    auto sketch = count(*store, "SELECT round(1e6 * analytics_sketch_quantile("
                                "analytics_sketch_merge(latency_sketch), " + qs
                                + "))::bigint FROM analytics_rollups WHERE grain"
                                  " = 'hour' AND kind = 'agent'");
    auto exact = count(*store, "SELECT round(1e6 * percentile_cont(" + qs
                               + ") WITHIN GROUP (ORDER BY processing_time_ms)"
                                 ")::bigint FROM user_activities");
    auto lower = count(*store, "SELECT round(1e6 * percentile_disc(" + qs
                               + ") WITHIN GROUP (ORDER BY processing_time_ms)"
                                 ")::bigint FROM user_activities");
    BOOST_TEST_MESSAGE("q " << q << ": sketch " << sketch / 1e6
                            << " ms, percentile_cont " << exact / 1e6
                            << " ms");
    BOOST_TEST(std::abs(static_cast<double>(sketch - exact))
                 <= 0.01 * static_cast<double>(exact) + 1.0,
               "q " << q << ": sketch " << sketch / 1e6
                    << " ms, percentile_cont " << exact / 1e6 << " ms");
    (void) lower;
  }
  // Per hour and user, and for the daily rows, against the same rows:
  // within 1 % of the exact order statistic x[floor(q (n - 1))] (the
  // sketch's guarantee), and of percentile_cont up to the interpolation
  // between that order statistic and the next (small windows, sparse tails).
  auto off = count(*store,
    "SELECT count(*) FROM (SELECT r.grain, r.bucket_start, r.user_id, q,"
    " analytics_sketch_quantile(r.latency_sketch, q) AS s, x.cont, x.exact"
    " FROM (SELECT grain, bucket_start, kind, user_id,"
    "  analytics_sketch_merge(latency_sketch) AS latency_sketch FROM"
    "  analytics_windows GROUP BY 1, 2, 3, 4) r"
    " CROSS JOIN unnest(ARRAY[0.5, 0.9, 0.99]) AS q"
    " CROSS JOIN LATERAL (SELECT percentile_cont(q) WITHIN GROUP (ORDER BY"
    "  processing_time_ms) AS cont, (array_agg(processing_time_ms ORDER BY"
    "  processing_time_ms))[floor(q * (count(*) - 1))::int + 1] AS exact"
    "  FROM user_activities a WHERE a.user_id = r.user_id AND a.ts >="
    "  r.bucket_start AND a.ts < r.bucket_start + CASE r.grain WHEN 'hour'"
    "  THEN interval '1 hour' ELSE interval '1 day' END) x"
    " WHERE r.kind = 'agent') t WHERE abs(s - exact) > 0.01 * exact + 1e-9"
    " OR abs(s - cont) > 0.01 * cont + abs(cont - exact) + 1e-9");
  BOOST_TEST(off == 0, off << " (window, user, quantile) sketches are more "
                               "than 1 % off the exact order statistic or "
                               "percentile_cont");
  // Windows: 3 hours and 1 day per user. Stream time 12:00:05.999 closed
  // hour 10, whose sums are each user's day row now.
  BOOST_TEST(count(*store, "SELECT count(DISTINCT (grain, bucket_start,"
                           " user_id)) FROM analytics_windows WHERE"
                           " kind = 'agent'") == 3 * 4 + 4);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " grain = 'day' AND kind = 'agent' AND events ="
                           " 500") == 4);
  BOOST_TEST(count(*store, test::analytics_recount_diff_sql()) == 0);
}

BOOST_FIXTURE_TEST_CASE(a_window_closes_when_the_watermark_passes_and_late_events_emit_a_revision,
                        test::pg_database) {
  auto store = open_migrated(url);
  // grace 1 h: the 10:00 window closes once stream time >= 12:00.
  auto r1 = commit(*store, make_batch({tool_event("a", "u1", h10 + 10, 5),
                                       tool_event("b", "u1", h10 + hour_ms + 10, 5)}));
  BOOST_TEST(r1.windows_closed == 0u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_outbox") == 0);
  // Out of order but within the grace (stream time 11:00:00.010).
  auto r2 = commit(*store, make_batch({tool_event("c", "u1", h10 + 20, 5)}));
  BOOST_TEST(r2.late_within_grace == 1u);
  BOOST_TEST(r2.late_after_grace == 0u);
  // Stream time 12:00:00.010: watermark 11:00:00.010 passes 11:00.
  auto r3 = commit(*store, make_batch({tool_event("d", "u1", h10 + 2 * hour_ms + 10, 5)}));
  BOOST_TEST(r3.windows_closed == 3u); // agent, tool, model of hour 10
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_outbox WHERE"
                           " payload->>'status' = 'final' AND"
                           " (payload->>'revision')::int = 0 AND"
                           " payload->>'window_start' = '2024-05-01T10:00:00Z'"
                           " AND (payload->>'events')::int = 2") == 3);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_outbox WHERE"
                           " record_key = '[\"agent\", \"u1\", \"chat\","
                           " \"helper\"]'") == 1);
  // The closed hour's sums went into its day row; the day window adds the
  // open hours 11 and 12.
  const std::string day_row = "SELECT events FROM analytics_rollups WHERE"
                              " grain = 'day' AND kind = 'agent'";
  BOOST_TEST(count(*store, day_row) == 2);
  BOOST_TEST(count(*store, day_sum("events", "kind = 'agent'")) == 4);
  BOOST_TEST(count(*store, test::analytics_recount_diff_sql()) == 0);
  // After the grace: still counted, and a correction with revision 1.
  auto r4 = commit(*store, make_batch({tool_event("e", "u1", h10 + 30, 5)}));
  BOOST_TEST(r4.late_after_grace == 1u);
  BOOST_TEST(r4.corrections_emitted == 3u);
  BOOST_TEST(count(*store, "SELECT events FROM analytics_rollups WHERE grain ="
                           " 'hour' AND kind = 'agent' AND bucket_start ="
                           " timestamptz '2024-05-01 10:00:00+00'") == 3);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_outbox WHERE"
                           " payload->>'status' = 'correction' AND"
                           " (payload->>'revision')::int = 1 AND"
                           " (payload->>'events')::int = 3") == 3);
  // Replaying the late event changes nothing: no second correction.
  // ... and in the closed hour's day row, of every kind.
  BOOST_TEST(count(*store, day_row) == 3);
  BOOST_TEST(count(*store, "SELECT sum(events) FROM analytics_rollups WHERE"
                           " grain = 'day'") == 3 * 3);
  auto r5 = commit(*store, make_batch({tool_event("e", "u1", h10 + 30, 5)}));
  BOOST_TEST(r5.corrections_emitted == 0u);
  BOOST_TEST(r5.late_after_grace == 0u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_outbox") == 6);
  BOOST_TEST(count(*store, hourly_recount_diff) == 0);
  BOOST_TEST(count(*store, day_row) == 3);
  BOOST_TEST(count(*store, test::analytics_recount_diff_sql()) == 0);
}

BOOST_FIXTURE_TEST_CASE(migration_043_takes_the_open_hours_out_of_the_day_rows,
                        test::pg_database) {
  auto store = open_migrated(url);
  // Day 1 (2024-05-01): u1 at 10:00 (closes) and 23:30 (stays open); day 2:
  // u2 at 00:00 (open). Stream time 05-02 00:00:00.010, watermark 23:00.
  commit(*store, make_batch({tool_event("a", "u1", h10 + 10, 5),
                             tool_event("b", "u1", h10 + 13 * hour_ms
                                                     + hour_ms / 2, 7),
                             tool_event("c", "u2", h10 + 14 * hour_ms + 10,
                                        9)}));
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " closed") == 3);
  // The rows as a node before migration 043 left them: every day row the
  // sum of all its hours, open ones included; 043 not applied.
  test::exec_sql(url,
    "DELETE FROM analytics_rollups WHERE grain = 'day';"
    " INSERT INTO analytics_rollups (grain, bucket_start, kind, user_id,"
    " agent_type, agent_name, tool_name, tool_category, model, events,"
    " errors, processing_time_ms, latency_sketch, tokens, files,"
    " sessions_started, sessions_ended, cost_usd, priced_events,"
    " unpriced_events, last_event_at) SELECT 'day', date_trunc('day',"
    " bucket_start, 'UTC'), kind, user_id, agent_type, agent_name,"
    " tool_name, tool_category, model, sum(events), sum(errors),"
    " sum(processing_time_ms), analytics_sketch_merge(latency_sketch),"
    " sum(tokens), sum(files), sum(sessions_started), sum(sessions_ended),"
    " sum(cost_usd), sum(priced_events), sum(unpriced_events),"
    " max(last_event_at) FROM analytics_rollups WHERE grain = 'hour'"
    " GROUP BY 2, 3, 4, 5, 6, 7, 8, 9;"
    " DROP VIEW analytics_windows;"
    " DELETE FROM schema_migrations WHERE version = 43;");
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " grain = 'day'") == 6);
  auto applied = store->migrate();
  BOOST_REQUIRE_MESSAGE(applied, why(applied));
  BOOST_TEST(*applied == 1);
  // u1's day rows keep the closed 10:00 hour only; u2's day, all of it
  // open, has no row; the view counts every event once.
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " grain = 'day'") == 3);
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " grain = 'day' AND user_id = 'u1' AND events = 1"
                           " AND processing_time_ms = 5 AND latency_sketch"
                           " = (SELECT latency_sketch FROM analytics_rollups"
                           " WHERE grain = 'hour' AND kind = 'agent' AND"
                           " bucket_start = timestamptz"
                           " '2024-05-01 10:00:00+00')") == 3);
  BOOST_TEST(count(*store, test::analytics_recount_diff_sql()) == 0);
  BOOST_TEST(count(*store, day_sum("events", "kind = 'agent' AND user_id ="
                                             " 'u1'")) == 2);
}

BOOST_FIXTURE_TEST_CASE(the_watermark_is_the_minimum_over_active_partitions,
                        test::pg_database) {
  auto store = open_migrated(url);
  // Partition 1 lags at 10:00: nothing closes while it is active ...
  commit(*store, make_batch({tool_event("a", "u1", h10, 5, 1),
                             tool_event("b", "u2", h10 + 3 * hour_ms, 5, 0)}));
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " closed") == 0);
  // ... once partition 1 catches up, the 10:00 windows close.
  auto r = commit(*store, make_batch({tool_event("c", "u1", h10 + 2 * hour_ms + 1, 5, 1)}));
  BOOST_TEST(r.windows_closed == 3u);
  // An idle partition stops holding it back (idleness 0 ms: all idle but
  // the one in this batch).
  storage::analytics_window_options opt;
  opt.idle_partition_ms = 0;
  store->set_analytics_options(opt);
  commit(*store, make_batch({tool_event("d", "u2", h10 + 5 * hour_ms, 5, 0)}));
  BOOST_TEST(count(*store, "SELECT count(*) FROM analytics_rollups WHERE"
                           " grain = 'hour' AND NOT closed AND bucket_start <"
                           " timestamptz '2024-05-01 14:00:00+00'") == 0);
}

BOOST_FIXTURE_TEST_CASE(with_analytics_disabled_a_batch_writes_its_activities_and_usage_but_no_rollups,
                        test::pg_database) {
  auto store = open_migrated(url);
  storage::analytics_window_options off;
  off.enabled = false;
  store->set_analytics_options(off);
  // Deltas from an aggregator that still computed them (or a split batch)
  // are ignored as well as a batch without them.
  commit(*store, make_batch({tool_event("a", "u1", h10, 5)}));
  batch without;
  without.activities = {tool_event("b", "u1", h10 + 10, 5),
                        tool_event("c", "u1", h10 + 3 * hour_ms, 5)};
  domain::fold_rollups(without, false);
  BOOST_TEST(without.analytics.empty());
  BOOST_TEST(!without.usage.empty());
  auto r = commit(*store, without);
  BOOST_TEST(r.windows_closed == 0u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 3);
  BOOST_TEST(count(*store, "SELECT sum(activity_count) FROM usage_analytics")
             == 3);
  for (auto table : {"analytics_rollups", "analytics_stream_time",
                     "analytics_outbox"})
    BOOST_TEST(count(*store, std::string{"SELECT count(*) FROM "} + table) == 0,
               table);
  // Enabled again: new events count from then on (no back-fill).
  store->set_analytics_options(storage::analytics_window_options{});
  commit(*store, make_batch({tool_event("d", "u1", h10 + 20, 5)}));
  BOOST_TEST(count(*store, "SELECT events FROM analytics_rollups WHERE grain ="
                           " 'hour' AND kind = 'agent'") == 1);
}

BOOST_FIXTURE_TEST_CASE(the_outbox_relay_deletes_records_only_after_a_successful_publish,
                        test::pg_database) {
  auto store = open_migrated(url);
  commit(*store, make_batch({tool_event("a", "u1", h10, 5),
                             tool_event("b", "u1", h10 + 3 * hour_ms, 5)}));
  auto relay = storage::outbox_store::connect(
    url, storage::analytics_outbox_spec());
  BOOST_REQUIRE_MESSAGE(relay, why(relay));
  auto pending = (*relay)->pending();
  BOOST_REQUIRE_MESSAGE(pending, why(pending));
  BOOST_TEST(*pending == 3);
  auto failed = (*relay)->relay(
    10, [](const std::vector<storage::outbox_record>&) {
      return make_error(errc::kafka_error, "broker down");
    });
  BOOST_TEST(!failed);
  BOOST_TEST(*(*relay)->pending() == 3);
  std::vector<storage::outbox_record> seen;
  auto n = (*relay)->relay(
    2, [&](const std::vector<storage::outbox_record>& xs) -> caf::error {
      seen.insert(seen.end(), xs.begin(), xs.end());
      return caf::none;
    });
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(*n == 2u);
  BOOST_TEST(*(*relay)->pending() == 1);
  BOOST_REQUIRE(seen.size() == 2u);
  BOOST_TEST(seen[0].id < seen[1].id);
  BOOST_TEST(seen[0].payload.find("\"status\": \"final\"") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_record_committed_after_higher_ids_waits_for_a_pass_from_the_start,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto relay = storage::outbox_store::connect(
    url, storage::analytics_outbox_spec());
  BOOST_REQUIRE_MESSAGE(relay, why(relay));
  const std::string insert =
    "INSERT INTO analytics_outbox (user_id, record_key, payload)"
    " VALUES ('u1', 'k', '{}') RETURNING id";
  // The slow writer takes the lower id and commits last.
  pqxx::connection slow_c{url}, fast_c{url};
  pqxx::work slow{slow_c};
  auto low = slow.exec(insert)[0][0].as<int64_t>();
  int64_t high = 0;
  {
    pqxx::work fast{fast_c};
    high = fast.exec(insert)[0][0].as<int64_t>();
    fast.commit();
  }
  BOOST_REQUIRE_LT(low, high);
  std::vector<int64_t> seen;
  auto collect = [&](const std::vector<storage::outbox_record>& xs) {
    for (auto& x : xs)
      seen.push_back(x.id);
    return caf::error{};
  };
  auto n = (*relay)->relay(10, collect, false);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(seen == std::vector<int64_t>{high});
  slow.commit();
  // Past the highest id relayed: the late record is not read ...
  n = (*relay)->relay(10, collect, false);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(*n == 0u);
  BOOST_TEST(*(*relay)->pending() == 1);
  // ... until a pass from the start.
  n = (*relay)->relay(10, collect, true);
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(seen == (std::vector<int64_t>{high, low}));
  BOOST_TEST(*(*relay)->pending() == 0);
}

BOOST_FIXTURE_TEST_CASE(closing_windows_reads_only_the_open_hours_it_closes,
                        test::pg_database) {
  // Every batch runs the close statement, so its cost must not grow with
  // the number of open windows (users x agents x tools x models of the
  // current hours): it is a range scan of the partial index of open hours
  // bounded by the watermark, not a filter over all of them.
  auto store = open_migrated(url);
  // The probe run before the close in every batch is prepared: its plan
  // is made once per connection, possibly on an empty table (a fresh
  // database), and must be one step into the index of open hours both
  // then and with statistics.
  const auto due_sql = storage::analytics_sql::close_due_sql(
    "'" + group + "'", storage::analytics_window_options{});
  auto probe_plan_is_one_index_step = [&] {
    pqxx::connection c{url};
    pqxx::work tx{c};
    std::string text;
    for (const auto& row : tx.exec("EXPLAIN " + due_sql))
      text += row[0].c_str() + std::string{"\n"};
    BOOST_TEST_MESSAGE(text);
    BOOST_TEST(text.find("Limit") != std::string::npos, text);
    BOOST_TEST(text.find("Index Only Scan using analytics_rollups_open_idx")
                 != std::string::npos,
               text);
  };
  probe_plan_is_one_index_step();
  test::exec_sql(
    url,
    "INSERT INTO analytics_rollups (grain, bucket_start, kind, user_id,"
    " agent_type, events, latency_sketch, last_event_at) SELECT 'hour',"
    " timestamptz '2024-05-01 10:00Z' + (g % 3) * interval '1 hour',"
    " 'agent', 'u' || g, 'chat', 1, '{}', now()"
    " FROM generate_series(1, 5000) g;"
    "INSERT INTO analytics_stream_time (consumer_group, topic, partition,"
    " max_event_at) VALUES ('" + group + "', 'agent-activities', 0,"
    " timestamptz '2024-05-01 12:30Z');"
    "ANALYZE analytics_rollups; ANALYZE analytics_stream_time");
  pqxx::connection c{url};
  pqxx::work tx{c};
  auto plan = tx.exec("EXPLAIN " + storage::analytics_sql::close_windows_sql(
                                     tx.quote(group),
                                     storage::analytics_window_options{}));
  std::string text;
  for (const auto& row : plan)
    text += row[0].c_str() + std::string{"\n"};
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(text.find("analytics_rollups_open_idx") != std::string::npos,
             text);
  BOOST_TEST(text.find("Index Cond: (bucket_start <=") != std::string::npos,
             text);
  // The probe: the same plan with statistics; true while an hour ends at
  // or before the watermark (12:30 - 1 h grace: the 10:00 hours), false
  // once none does.
  probe_plan_is_one_index_step();
  BOOST_TEST(tx.exec(due_sql)[0][0].as<bool>());
  tx.exec("UPDATE analytics_stream_time SET max_event_at ="
          " timestamptz '2024-05-01 11:30Z'");
  BOOST_TEST(!tx.exec(due_sql)[0][0].as<bool>());
}

BOOST_AUTO_TEST_SUITE_END()
