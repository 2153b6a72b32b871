// postgres_store against a real server (pg_fixture.hpp): one fresh database
// per test case.
#define BOOST_TEST_MODULE storage_tests

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/derived_sync.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/shard_fixtures.hpp"
#include "tests/storage/pg_exec.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::commit_result;
using agentmem::test::open_migrated;
using agentmem::test::why;
using agentmem::storage::postgres_store;
using agentmem::storage::stored_memory;

namespace {

constexpr int64_t day_ms = 86'400'000;
// 2024-05-01T10:00:00Z
constexpr int64_t t0 = 1'714'557'600'000;
const std::string group = "agentmem-test";
const std::string model = "hash-384";

activity make_activity(const std::string& event_id, const std::string& user,
                       const std::string& session, int64_t ts_ms,
                       const std::string& klass = "user_message") {
  activity a = test::chat_activity(event_id, user, session, ts_ms, klass);
  a.agent_name = "helper";
  a.content = "hello from " + event_id;
  a.tokens_used = 10;
  a.processing_time_ms = 100;
  a.raw_json = R"({"event_id":")" + event_id + R"(","x_unknown":"kept"})";
  a.source.topic = "agent-activities";
  a.source.partition = 0;
  a.source.offset = 0;
  return a;
}

// What the aggregation stage sends: deltas assuming every activity is new.
batch make_batch(std::vector<activity> acts) {
  batch b;
  b.activities = std::move(acts);
  b.usage = domain::usage_deltas(b.activities);
  b.sessions = domain::session_deltas(b.activities);
  return b;
}

memory make_memory(const std::string& id, uint64_t point, const activity& a,
                   int32_t chunk, std::vector<float> vec) {
  memory m;
  m.memory_id = id;
  m.point_id = point;
  m.memory_type = memory_types::conversation;
  m.user_id = a.user_id;
  m.session_id = a.session_id;
  m.event_id = a.event_id;
  m.ts_ms = a.ts_ms;
  m.turn_ts_ms = a.ts_ms;
  m.importance = 0.75;
  m.chunk_index = chunk;
  m.role = a.role;
  m.speaker = a.agent_name;
  m.text = a.content;
  m.vector = std::move(vec);
  return m;
}

int64_t count(postgres_store& store, const std::string& sql) {
  auto v = store.scalar(sql);
  BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
  return *v;
}

commit_result commit(postgres_store& store, const batch& b) {
  auto r = store.commit_batch(b, group, model);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  return *r;
}

bool has_code(const caf::error& err, errc code) {
  return err && err.category() == errc_category
         && err.code() == static_cast<uint8_t>(code);
}

struct table_counts {
  int64_t activities, uploads, sessions, usage, memories, links, offsets;
  bool operator==(const table_counts& o) const {
    return activities == o.activities && uploads == o.uploads
           && sessions == o.sessions && usage == o.usage
           && memories == o.memories && links == o.links
           && offsets == o.offsets;
  }
};

std::ostream& operator<<(std::ostream& os, const table_counts& c) {
  return os << "{activities " << c.activities << ", uploads " << c.uploads
            << ", sessions " << c.sessions << ", usage " << c.usage
            << ", memories " << c.memories << ", links " << c.links
            << ", offsets " << c.offsets << "}";
}

table_counts counts(postgres_store& s) {
  return {count(s, "SELECT count(*) FROM user_activities"),
          count(s, "SELECT count(*) FROM file_uploads"),
          count(s, "SELECT count(*) FROM agent_sessions"),
          count(s, "SELECT count(*) FROM usage_analytics"),
          count(s, "SELECT count(*) FROM memories"),
          count(s, "SELECT count(*) FROM memory_links"),
          count(s, "SELECT count(*) FROM kafka_offsets")};
}

} // namespace

BOOST_AUTO_TEST_SUITE(postgres_store_suite)

BOOST_FIXTURE_TEST_CASE(migrate_applies_every_migration_once_and_a_second_run_applies_none,
                        test::pg_database) {
  auto store = postgres_store::connect(url);
  BOOST_REQUIRE_MESSAGE(store, why(store));
  auto first = (*store)->migrate();
  BOOST_REQUIRE_MESSAGE(first, why(first));
  BOOST_TEST(*first >= 1);
  auto second = (*store)->migrate();
  BOOST_REQUIRE_MESSAGE(second, why(second));
  BOOST_TEST(*second == 0);
  BOOST_TEST(count(**store, "SELECT count(*) FROM schema_migrations")
             == *first);
  BOOST_TEST(count(**store, "SELECT count(*) FROM schema_migrations"
                            " WHERE version = 1 AND name = 'initial'")
             == 1);
  for (auto table : {"user_activities", "agent_sessions", "file_uploads",
                     "memories", "usage_analytics", "kafka_offsets"})
    BOOST_TEST(count(**store, std::string{"SELECT count(*) FROM pg_tables"
                                          " WHERE tablename = '"}
                                + table + "'")
                 == 1,
               table);
  // The links of points to their activities: a view since 036.
  BOOST_TEST(count(**store, "SELECT count(*) FROM pg_views"
                            " WHERE viewname = 'memory_links'")
             == 1);
}

// A database written before migration 036 held its links in a table:
// the migration replaces it with the view, which names the same activity
// for every memory (the one the writer had looked up by event_id), and
// NULL for a memory whose event has no stored activity.
BOOST_FIXTURE_TEST_CASE(migration_036_turns_the_links_table_into_a_view_of_the_same_rows,
                        test::pg_database) {
  auto store = test::open_migrated(url);
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto a2 = make_activity("ev-2", "u2", "s2", t0 + 1000);
  auto b = make_batch({a1, a2});
  b.memories = {make_memory("m1", 101, a1, 0, {1.0f, 0.0f}),
                make_memory("m1b", 102, a1, 1, {0.0f, 1.0f}),
                make_memory("m2", 103, a2, 0, {1.0f, 1.0f})};
  commit(*store, b);
  auto orphan = make_activity("ev-gone", "u1", "s1", t0 + 2000);
  auto lone = make_batch({});
  lone.memories = {make_memory("m3", 104, orphan, 0, {0.5f, 0.5f})};
  commit(*store, lone);
  // The schema and rows as they were before 036: the table, its indexes
  // (002) and one row per memory, written as the writer wrote them.
  test::exec_sql(url,
    "DROP VIEW memory_links;"
    " CREATE TABLE memory_links (collection text NOT NULL, point_id bigint"
    " NOT NULL, memory_id text NOT NULL, activity_id bigint, memory_type"
    " text NOT NULL, PRIMARY KEY (collection, point_id));"
    " CREATE INDEX memory_links_memory_id_idx ON memory_links (memory_id);"
    " CREATE INDEX memory_links_activity_id_idx ON memory_links"
    " (activity_id);"
    " INSERT INTO memory_links SELECT 'memories', m.point_id, m.memory_id,"
    " (SELECT a.activity_id FROM user_activities a"
    " WHERE a.event_id = m.event_id), m.memory_type FROM memories m;"
    " CREATE TABLE links_before AS SELECT * FROM memory_links;"
    " DELETE FROM schema_migrations WHERE version = 36;");
  BOOST_REQUIRE_EQUAL(count(*store, "SELECT count(*) FROM links_before"), 4);
  BOOST_REQUIRE_EQUAL(count(*store, "SELECT count(*) FROM links_before"
                                    " WHERE activity_id IS NULL"), 1);
  auto applied = store->migrate();
  BOOST_REQUIRE_MESSAGE(applied, why(applied));
  BOOST_TEST(*applied == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM pg_views"
                           " WHERE viewname = 'memory_links'") == 1);
  const std::string differ =
    "SELECT count(*) FROM ((SELECT * FROM memory_links EXCEPT ALL"
    " SELECT * FROM links_before) UNION ALL (SELECT * FROM links_before"
    " EXCEPT ALL SELECT * FROM memory_links)) d";
  BOOST_TEST(count(*store, differ) == 0);
  // Deleting a memory takes its link with it.
  test::exec_sql(url, "DELETE FROM memories WHERE memory_id = 'm1b'");
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links") == 3);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links"
                           " WHERE point_id = 102") == 0);
}

BOOST_FIXTURE_TEST_CASE(two_nodes_migrating_at_once_apply_each_version_exactly_once,
                        test::pg_database) {
  auto a = postgres_store::connect(url);
  auto b = postgres_store::connect(url);
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  caf::expected<int> ra{0};
  caf::expected<int> rb{0};
  std::thread ta{[&] { ra = (*a)->migrate(); }};
  std::thread tb{[&] { rb = (*b)->migrate(); }};
  ta.join();
  tb.join();
  BOOST_REQUIRE_MESSAGE(ra, why(ra));
  BOOST_REQUIRE_MESSAGE(rb, why(rb));
  auto total = count(**a, "SELECT count(*) FROM schema_migrations");
  BOOST_TEST(*ra + *rb == total);
  BOOST_TEST(total >= 1);
}

BOOST_FIXTURE_TEST_CASE(committing_the_same_batch_twice_leaves_every_count_unchanged,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto a2 = make_activity("ev-2", "u1", "s1", t0 + 1000, "tool_call");
  a2.success = false;
  a2.error_message = "tool timed out";
  a2.tokens_used = 5;
  a2.processing_time_ms = 2500;
  auto a3 = make_activity("ev-3", "u1", "s1", t0 + 2000, "file_upload");
  a3.has_file = true;
  a3.file.filename = "notes.txt";
  a3.file.mime_type = "text/plain";
  a3.file.size_bytes = 1234;
  a3.file.text = "héllo"; // 5 characters, 6 bytes
  auto b = make_batch({a1, a2, a3});
  b.memories = {make_memory("m1", 101, a1, 0, {0.5f, -0.25f}),
                make_memory("m3", 103, a3, 0, {1.0f, 2.0f})};
  b.offsets = {{"agent-activities", 0, 3}};

  auto first = commit(*store, b);
  BOOST_TEST(first.new_activities == 3u);
  BOOST_TEST(first.duplicate_activities == 0u);
  BOOST_TEST(first.memories_written == 2u);
  auto after_first = counts(*store);
  BOOST_TEST(after_first == (table_counts{3, 1, 1, 1, 2, 2, 1}));

  auto second = commit(*store, b);
  BOOST_TEST(second.new_activities == 0u);
  BOOST_TEST(second.duplicate_activities == 3u);
  BOOST_TEST(second.memories_written == 0u);
  BOOST_TEST(counts(*store) == after_first);

  // Rollups counted once.
  auto rows = store->usage("u1", "2024-05-01", "2024-05-01");
  BOOST_REQUIRE_MESSAGE(rows, why(rows));
  BOOST_REQUIRE(rows->size() == 1u);
  auto& u = rows->front();
  BOOST_TEST(u.day == "2024-05-01");
  BOOST_TEST(u.agent_type == "chat");
  BOOST_TEST(u.activity_count == 3);
  BOOST_TEST(u.error_count == 1);
  BOOST_TEST(u.total_processing_time_ms == 2700);
  BOOST_TEST(u.tokens_used == 25);
  BOOST_TEST(u.files_uploaded == 1);
  BOOST_TEST(count(*store, "SELECT total_interactions FROM agent_sessions"
                           " WHERE user_id = 'u1' AND session_id = 's1'")
             == 3);
  // The file upload row.
  BOOST_TEST(count(*store, "SELECT count(*) FROM file_uploads f JOIN"
                           " user_activities a USING (activity_id)"
                           " WHERE f.event_id = 'ev-3'"
                           " AND a.event_id = 'ev-3'"
                           " AND f.filename = 'notes.txt'"
                           " AND f.mime_type = 'text/plain'"
                           " AND f.size_bytes = 1234 AND f.text_chars = 5"
                           " AND f.uploaded_at = a.ts")
             == 1);
  // Columns of a stored activity.
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities"
                           " WHERE event_id = 'ev-2' AND NOT success"
                           " AND error_message = 'tool timed out'"
                           " AND activity_class = 'tool_call'"
                           " AND importance IS NULL AND input IS NULL"
                           " AND source_topic = 'agent-activities'"
                           " AND source_partition = 0"
                           " AND ts = timestamptz '2024-05-01 10:00:01+00'")
             == 1);
}

BOOST_FIXTURE_TEST_CASE(a_batch_mixing_new_and_stored_events_counts_only_the_new_ones,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto e1 = make_activity("ev-1", "u1", "s1", t0 + 5000);
  auto e2 = make_activity("ev-2", "u1", "s1", t0 + 6000);
  commit(*store, make_batch({e1, e2}));

  // Redelivered e2 together with new events; the aggregator's deltas count
  // all three, the store must count only e3 and e4.
  auto e3 = make_activity("ev-3", "u1", "s1", t0 + 1000); // earlier start
  auto e4 = make_activity("ev-4", "u1", "s1", t0 + 9000, "session_end");
  e4.success = false;
  e4.tokens_used = 7;
  auto b = make_batch({e2, e3, e4});
  BOOST_REQUIRE(b.usage.front().activity_count == 3);
  auto r = commit(*store, b);
  BOOST_TEST(r.new_activities == 2u);
  BOOST_TEST(r.duplicate_activities == 1u);

  auto rows = store->usage("u1", "2024-05-01", "2024-05-01");
  BOOST_REQUIRE(rows);
  BOOST_REQUIRE(rows->size() == 1u);
  BOOST_TEST(rows->front().activity_count == 4);
  BOOST_TEST(rows->front().error_count == 1);
  BOOST_TEST(rows->front().tokens_used == 37);
  BOOST_TEST(rows->front().total_processing_time_ms == 400);
  BOOST_TEST(count(*store, "SELECT total_interactions FROM agent_sessions")
             == 4);
  // started_at = least, last_activity_at / ended_at = greatest.
  BOOST_TEST(count(*store, "SELECT (extract(epoch FROM started_at) * 1000)"
                           "::bigint FROM agent_sessions")
             == t0 + 1000);
  BOOST_TEST(count(*store, "SELECT (extract(epoch FROM last_activity_at)"
                           " * 1000)::bigint FROM agent_sessions")
             == t0 + 9000);
  BOOST_TEST(count(*store, "SELECT (extract(epoch FROM ended_at) * 1000)"
                           "::bigint FROM agent_sessions")
             == t0 + 9000);

  // An older, separately delivered session_end must not move ended_at back.
  auto e5 = make_activity("ev-5", "u1", "s1", t0 + 3000, "session_end");
  commit(*store, make_batch({e5}));
  BOOST_TEST(count(*store, "SELECT (extract(epoch FROM ended_at) * 1000)"
                           "::bigint FROM agent_sessions")
             == t0 + 9000);
  BOOST_TEST(count(*store, "SELECT total_interactions FROM agent_sessions")
             == 5);
}

// The first batch is new: its rows go straight into user_activities and
// file_uploads with ids allocated up front. The second holds a stored
// event, so it takes the staged path, whose ids come from the same identity
// sequence: no id is taken twice, and every row points at its own event.
BOOST_FIXTURE_TEST_CASE(a_batch_with_a_stored_event_stores_only_its_new_events_and_file_uploads_under_their_own_ids,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto file = [](const std::string& id, int64_t ts, const std::string& name) {
    auto a = make_activity(id, "u1", "s1", ts, "file_upload");
    a.has_file = true;
    a.file.filename = name;
    a.file.mime_type = "text/plain";
    a.file.size_bytes = 10;
    a.file.text = "abc";
    return a;
  };
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto f1 = file("ev-f1", t0 + 1000, "one.txt");
  auto first = make_batch({a1, f1});
  first.memories = {make_memory("m1", 101, a1, 0, {0.5f, 0.5f})};
  auto r1 = commit(*store, first);
  BOOST_TEST(r1.new_activities == 2u);

  auto a2 = make_activity("ev-2", "u1", "s1", t0 + 3000);
  auto f2 = file("ev-f2", t0 + 2000, "two.txt");
  auto second = make_batch({f1, f2, a2});
  second.memories = {make_memory("m2", 102, a2, 0, {1.0f, 0.0f})};
  auto r2 = commit(*store, second);
  BOOST_TEST(r2.new_activities == 2u);
  BOOST_TEST(r2.duplicate_activities == 1u);
  BOOST_TEST(r2.memories_written == 1u);

  BOOST_TEST(count(*store, "SELECT count(DISTINCT activity_id) FROM"
                           " user_activities") == 4);
  BOOST_TEST(count(*store, "SELECT count(*) FROM file_uploads") == 2);
  // Each upload row points at its own event's activity, with its file.
  BOOST_TEST(count(*store, "SELECT count(*) FROM file_uploads f JOIN"
                           " user_activities a USING (activity_id)"
                           " WHERE f.event_id = a.event_id"
                           " AND f.uploaded_at = a.ts AND f.text_chars = 3"
                           " AND f.filename = CASE a.event_id"
                           " WHEN 'ev-f1' THEN 'one.txt'"
                           " WHEN 'ev-f2' THEN 'two.txt' END") == 2);
  // Each memory's link points at its own event's activity.
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links l JOIN"
                           " user_activities a USING (activity_id) JOIN"
                           " memories m USING (memory_id)"
                           " WHERE m.event_id = a.event_id") == 2);
  // A third batch, new again, after the staged one: ids still distinct.
  auto a3 = make_activity("ev-3", "u1", "s1", t0 + 4000);
  BOOST_TEST(commit(*store, make_batch({a3})).new_activities == 1u);
  BOOST_TEST(count(*store, "SELECT count(DISTINCT activity_id) FROM"
                           " user_activities") == 5);
}

// Two writers (two nodes around a rebalance) commit overlapping batches at
// the same moment: one of them blocks on the other's uncommitted event
// ids, its direct COPY then fails and the savepoint sends its batch
// through the staged insert. Both commit; every event is stored and
// counted once, each memory linked to its own event.
BOOST_FIXTURE_TEST_CASE(two_writers_committing_overlapping_batches_at_once_store_each_event_once,
                        test::pg_database) {
  auto one = open_migrated(url);
  auto two = open_migrated(url);
  constexpr int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    auto event = [&](int i) {
      auto id = "r" + std::to_string(round) + "-ev-" + std::to_string(100 + i);
      return make_activity(id, "u" + std::to_string(i % 3), "s1",
                           t0 + round * 100'000 + i);
    };
    auto batch_of = [&](int from, int to) {
      std::vector<activity> acts;
      for (int i = from; i < to; ++i)
        acts.push_back(event(i));
      auto b = make_batch(acts);
      for (auto& a : b.activities)
        b.memories.push_back(make_memory(
          "m-" + a.event_id,
          static_cast<uint64_t>(1000 * (round + 1) + (&a - b.activities.data()) + from),
          a, 0, {1.0f, 0.0f}));
      return b;
    };
    auto first = batch_of(0, 60);
    auto second = batch_of(30, 90);
    caf::expected<commit_result> r1{commit_result{}}, r2{commit_result{}};
    std::thread t1{[&] { r1 = one->commit_batch(first, group, model); }};
    std::thread t2{[&] { r2 = two->commit_batch(second, group, model); }};
    t1.join();
    t2.join();
    BOOST_REQUIRE_MESSAGE(r1, why(r1));
    BOOST_REQUIRE_MESSAGE(r2, why(r2));
    BOOST_TEST(r1->new_activities + r2->new_activities == 90u);
    BOOST_TEST(r1->duplicate_activities + r2->duplicate_activities == 30u);
  }
  BOOST_TEST(count(*one, "SELECT count(*) FROM user_activities")
             == 90 * rounds);
  BOOST_TEST(count(*one, "SELECT count(DISTINCT activity_id) FROM"
                         " user_activities") == 90 * rounds);
  BOOST_TEST(count(*one, "SELECT count(*) FROM memories") == 90 * rounds);
  BOOST_TEST(count(*one, "SELECT count(*) FROM memory_links l JOIN"
                         " user_activities a USING (activity_id) JOIN"
                         " memories m USING (memory_id)"
                         " WHERE m.event_id = a.event_id") == 90 * rounds);
  BOOST_TEST(count(*one, "SELECT sum(activity_count) FROM usage_analytics")
             == 90 * rounds);
  BOOST_TEST(count(*one, "SELECT sum(total_interactions) FROM"
                         " agent_sessions") == 90 * rounds);
}

BOOST_FIXTURE_TEST_CASE(an_event_repeated_inside_one_batch_is_stored_and_counted_once,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto e1 = make_activity("ev-1", "u1", "s1", t0);
  auto e2 = make_activity("ev-2", "u1", "s1", t0 + 1);
  auto b = make_batch({e1, e2, e1, e1});
  auto r = commit(*store, b);
  BOOST_TEST(r.new_activities == 2u);
  BOOST_TEST(r.duplicate_activities == 2u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 2);
  BOOST_TEST(count(*store, "SELECT activity_count FROM usage_analytics")
             == 2);
  BOOST_TEST(count(*store, "SELECT total_interactions FROM agent_sessions")
             == 2);
}

BOOST_FIXTURE_TEST_CASE(memories_links_and_vectors_round_trip_through_memories_after,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto a2 = make_activity("ev-2", "u1", "s2", t0 + 500);
  a2.content = "tab\there, newline\nthere, backslash \\ and quote \" ünï";
  std::vector<float> v1{0.0f, -0.0f, 1.5f, -3.25e-30f,
                        std::numeric_limits<float>::max(),
                        std::numeric_limits<float>::denorm_min()};
  std::vector<float> v2(384);
  for (size_t i = 0; i < v2.size(); ++i)
    v2[i] = std::sin(static_cast<float>(i)) / 7.0f;
  auto m1 = make_memory("0123456789abcdef0123456789abcdef", 42, a1, 0, v1);
  m1.metadata_json = R"({"topic":"greeting","n":1})";
  m1.context = "Bob: what's new?\ttab";
  // Tags (the payload filters rebuild from them), quoting included.
  m1.tags = {"travel", "a \"quoted\", {braced} tag", "ünï"};
  auto m2 = make_memory("fedcba9876543210fedcba9876543210",
                        (uint64_t{1} << 62) + 7, a2, 1, v2);
  m2.memory_type = memory_types::episodic;
  m2.importance = 0.5;
  m2.role.clear();
  m2.speaker.clear();
  auto m3 = make_memory("m-novec", 9, a2, 2, {}); // not embedded
  // A memory of an event that is not in this batch nor stored.
  activity ghost = make_activity("ev-ghost", "u1", "s1", t0 + 900);
  auto m4 = make_memory("m-ghost", 10, ghost, 0, {1.0f});
  auto b = make_batch({a1, a2});
  b.memories = {m1, m2, m3, m4};

  auto r = commit(*store, b);
  BOOST_TEST(r.memories_written == 4u);
  auto max_seq = store->max_memory_seq();
  BOOST_REQUIRE(max_seq);

  auto got = store->memories_after(0, 100);
  BOOST_REQUIRE_MESSAGE(got, why(got));
  BOOST_REQUIRE(got->size() == 4u);
  BOOST_TEST((*got)[0].seq < (*got)[1].seq);
  BOOST_TEST((*got)[1].seq < (*got)[2].seq);
  BOOST_TEST((*got)[3].seq == *max_seq);
  const memory* want[] = {&m1, &m2, &m3, &m4};
  for (size_t i = 0; i < 4; ++i) {
    auto& m = (*got)[i].m;
    auto& w = *want[i];
    BOOST_TEST_CONTEXT("memory " << w.memory_id) {
      BOOST_TEST(m.memory_id == w.memory_id);
      BOOST_TEST(m.point_id == w.point_id);
      BOOST_TEST(m.memory_type == w.memory_type);
      BOOST_TEST(m.user_id == w.user_id);
      BOOST_TEST(m.session_id == w.session_id);
      BOOST_TEST(m.event_id == w.event_id);
      BOOST_TEST(m.ts_ms == w.ts_ms);
      BOOST_TEST(m.turn_ts_ms == w.turn_ts_ms);
      BOOST_TEST(m.importance == static_cast<double>(static_cast<float>(
                                   w.importance)));
      BOOST_TEST(m.chunk_index == w.chunk_index);
      BOOST_TEST(m.role == w.role);
      BOOST_TEST(m.speaker == w.speaker);
      BOOST_TEST(m.text == w.text);
      BOOST_TEST(m.context == w.context); // rebuilt indexes see it too
      BOOST_TEST(m.tags == w.tags);
      BOOST_REQUIRE(m.vector.size() == w.vector.size());
      // Bit-exact, -0.0 and denormals included.
      BOOST_TEST(std::memcmp(m.vector.data(), w.vector.data(),
                             w.vector.size() * sizeof(float))
                 == 0);
    }
  }
  BOOST_TEST((*got)[0].m.metadata_json == R"({"n": 1, "topic": "greeting"})");
  BOOST_TEST((*got)[1].m.metadata_json.empty());

  // Paging by watermark.
  auto page = store->memories_after((*got)[1].seq, 1);
  BOOST_REQUIRE(page);
  BOOST_REQUIRE(page->size() == 1u);
  BOOST_TEST(page->front().m.memory_id == "m-novec");
  auto none = store->memories_after(*max_seq, 10);
  BOOST_REQUIRE(none);
  BOOST_TEST(none->empty());

  // Links point at the source activities; unknown sources stay NULL.
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links l JOIN"
                           " user_activities a USING (activity_id)"
                           " WHERE l.collection = 'memories'"
                           " AND ((l.point_id = 42 AND a.event_id = 'ev-1')"
                           " OR (l.point_id = 4611686018427387911"
                           " AND a.event_id = 'ev-2')"
                           " OR (l.point_id = 9 AND a.event_id = 'ev-2'))")
             == 3);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links"
                           " WHERE point_id = 10 AND activity_id IS NULL"
                           " AND memory_id = 'm-ghost'")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories WHERE"
                           " embedding_model = 'hash-384' AND dims = 384"
                           " AND octet_length(embedding) = 1536")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories"
                           " WHERE memory_id = 'm-novec' AND embedding IS NULL"
                           " AND embedding_model IS NULL AND dims = 0")
             == 1);

  // Redelivery writes nothing new and keeps seq.
  auto again = commit(*store, b);
  BOOST_TEST(again.memories_written == 0u);
  auto max_again = store->max_memory_seq();
  BOOST_REQUIRE(max_again);
  BOOST_TEST(*max_again == *max_seq);
}

BOOST_FIXTURE_TEST_CASE(a_link_of_a_memory_whose_event_came_in_an_earlier_batch_points_at_that_activity,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto a2 = make_activity("ev-2", "u1", "s1", t0 + 500);
  commit(*store, make_batch({a1}));
  // ev-1 is redelivered (not new) and its memory arrives now, next to a
  // memory of the new ev-2: each link names its own event's activity.
  auto b = make_batch({a1, a2});
  b.memories = {make_memory("m-1", 1, a1, 0, {0.5f}),
                make_memory("m-2", 2, a2, 0, {0.25f})};
  auto r = commit(*store, b);
  BOOST_TEST(r.new_activities == 1u);
  BOOST_TEST(r.memories_written == 2u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links l"
                           " JOIN memories m USING (memory_id)"
                           " JOIN user_activities a"
                           " ON a.activity_id = l.activity_id"
                           " WHERE a.event_id = m.event_id")
             == 2);
}

// Memories of new events go straight into memories by COPY, which cannot
// skip a row that exists. One written outside the pipeline under the id a
// new event's memory derives to must neither fail the batch nor change.
BOOST_FIXTURE_TEST_CASE(a_new_events_memory_whose_id_is_taken_leaves_the_stored_row_and_the_batch_commits,
                        test::pg_database) {
  auto store = open_migrated(url);
  test::exec_sql(url,
                 "INSERT INTO memories (memory_id, point_id, memory_type,"
                 " user_id, session_id, event_id, ts, importance, chunk_index, text)"
                 " VALUES ('m-taken', 5, 'episodic', 'u1', 's0', 'ev-other',"
                 " now(), 0.5, 0, 'stored before')");
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto a2 = make_activity("ev-2", "u1", "s1", t0 + 500);
  auto taken = make_memory("m-taken", 5, a1, 0, {0.5f});
  taken.memory_type = memory_types::episodic;
  auto other = make_memory("m-2", 6, a2, 0, {0.25f});
  other.memory_type = memory_types::episodic;
  auto b = make_batch({a1, a2});
  b.memories = {taken, other};
  auto r = commit(*store, b);
  BOOST_TEST(r.new_activities == 2u);
  BOOST_TEST(r.memories_written == 1u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories WHERE memory_id ="
                           " 'm-taken' AND text = 'stored before'"
                           " AND event_id = 'ev-other'")
             == 1);
  // The other memory is stored with its link and its ADD in the history.
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories m JOIN memory_links"
                           " l USING (memory_id) JOIN user_activities a ON"
                           " a.activity_id = l.activity_id JOIN"
                           " memory_history h USING (memory_id) WHERE"
                           " m.memory_id = 'm-2' AND a.event_id = 'ev-2'"
                           " AND h.event = 'ADD' AND h.version = 1")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories") == 2);
}

// A memory id twice in one batch (both of new events): stored once, the
// first one, and the batch commits.
BOOST_FIXTURE_TEST_CASE(a_memory_id_repeated_inside_one_batch_is_stored_once,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a1 = make_activity("ev-1", "u1", "s1", t0);
  auto a2 = make_activity("ev-2", "u1", "s1", t0 + 500);
  auto first = make_memory("m-1", 1, a1, 0, {0.5f});
  auto again = make_memory("m-1", 1, a2, 0, {0.25f});
  again.text = "the repeat";
  auto same_point = make_memory("m-3", 1, a2, 1, {0.75f});
  auto b = make_batch({a1, a2});
  b.memories = {first, again, same_point};
  auto r = commit(*store, b);
  BOOST_TEST(r.memories_written == 1u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories WHERE memory_id ="
                           " 'm-1' AND event_id = 'ev-1'")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories") == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memory_links") == 1);
}

BOOST_FIXTURE_TEST_CASE(stored_offsets_reload_and_the_highest_offset_wins,
                        test::pg_database) {
  auto store = open_migrated(url);
  batch b1;
  b1.offsets = {{"t1", 0, 10}, {"t1", 1, 5}, {"t2", 0, 100}};
  commit(*store, b1);
  batch b2; // a stale ack for partition 0, progress on 1, twice on 2
  b2.offsets = {{"t1", 0, 7}, {"t1", 1, 9}, {"t1", 2, 3}, {"t1", 2, 4}};
  commit(*store, b2);
  batch other;
  other.offsets = {{"t1", 0, 1}};
  BOOST_REQUIRE(store->commit_batch(other, "another-group", model));

  auto t1 = store->load_offsets(group, "t1");
  BOOST_REQUIRE_MESSAGE(t1, why(t1));
  BOOST_REQUIRE(t1->size() == 3u);
  BOOST_TEST((*t1)[0].topic == "t1");
  BOOST_TEST((*t1)[0].partition == 0);
  BOOST_TEST((*t1)[0].next_offset == 10);
  BOOST_TEST((*t1)[1].partition == 1);
  BOOST_TEST((*t1)[1].next_offset == 9);
  BOOST_TEST((*t1)[2].partition == 2);
  BOOST_TEST((*t1)[2].next_offset == 4);
  auto all = store->load_offsets(group, "");
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 4u);
  BOOST_TEST(all->back().topic == "t2");
  BOOST_TEST(all->back().next_offset == 100);
  auto another = store->load_offsets("another-group", "t1");
  BOOST_REQUIRE(another);
  BOOST_REQUIRE(another->size() == 1u);
  BOOST_TEST(another->front().next_offset == 1);
  auto unknown = store->load_offsets("nobody", "t1");
  BOOST_REQUIRE(unknown);
  BOOST_TEST(unknown->empty());
}

BOOST_FIXTURE_TEST_CASE(usage_returns_one_users_rows_in_the_day_range_in_order,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a = make_activity("a", "u1", "s1", t0);
  auto b = make_activity("b", "u1", "s1", t0 + day_ms);
  auto c = make_activity("c", "u1", "s1", t0 + day_ms + 1);
  c.agent_type = "analyst";
  auto d = make_activity("d", "u1", "s1", t0 + 2 * day_ms);
  auto e = make_activity("e", "u2", "s9", t0 + day_ms); // another user
  commit(*store, make_batch({a, b, c, d, e}));
  auto rows = store->usage("u1", "2024-05-02", "2024-05-03");
  BOOST_REQUIRE_MESSAGE(rows, why(rows));
  BOOST_REQUIRE(rows->size() == 3u);
  BOOST_TEST((*rows)[0].day == "2024-05-02");
  BOOST_TEST((*rows)[0].agent_type == "analyst");
  BOOST_TEST((*rows)[1].day == "2024-05-02");
  BOOST_TEST((*rows)[1].agent_type == "chat");
  BOOST_TEST((*rows)[2].day == "2024-05-03");
  for (auto& r : *rows)
    BOOST_TEST(r.activity_count == 1);
  auto empty = store->usage("u1", "2023-01-01", "2023-12-31");
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->empty());
  auto bad = store->usage("u1", "2024-5-1", "2024-05-03");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(has_code(bad.error(), errc::invalid_request));
}

BOOST_FIXTURE_TEST_CASE(text_json_and_tags_are_stored_exactly_and_unknown_fields_kept,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a = make_activity("ev-x", "u1", "s1", t0);
  a.content = "tab\there\nnew line\r\nbackslash \\N \\. end\\";
  a.input_json = R"({"q":"a\tb","n":[1,2]})";
  a.output_json = R"({"ok":true})";
  a.metadata_json = R"({"lang":"fr","deep":{"k":"é"}})";
  a.tags = {"plain", "with space", "quote\"d", "back\\slash", "com,ma", "{}"};
  a.importance = 0.25;
  a.raw_json = R"({"event_id":"ev-x","future_field":{"nested":[1,"two"]}})";
  commit(*store, make_batch({a}));
  // Dollar quoting takes the characters as they are (C++ already turned
  // the escapes into tab, newline, CR and backslashes).
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities WHERE"
                           " content = $c$tab\there\nnew line\r\nbackslash"
                           " \\N \\. end\\$c$")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities WHERE"
                           " input = '{\"q\":\"a\\tb\",\"n\":[1,2]}'::jsonb"
                           " AND output->>'ok' = 'true'"
                           " AND metadata #>> '{deep,k}' = 'é'"
                           " AND importance = 0.25")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities WHERE tags ="
                           " ARRAY['plain', 'with space', 'quote\"d',"
                           " E'back\\\\slash', 'com,ma', '{}']")
             == 1);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities WHERE"
                           " raw #>> '{future_field,nested,1}' = 'two'")
             == 1);
  // The same fields through the staged path (a batch holding an event
  // stored before: text COPY into the staging table) store the same row
  // as the direct path's binary COPY.
  auto b = a;
  b.event_id = "ev-y";
  b.importance = 0.1;
  a.importance = 0.1;
  auto replayed = make_activity("ev-x", "u1", "s1", t0);
  commit(*store, make_batch({replayed, b}));
  auto c = a;
  c.event_id = "ev-z";
  commit(*store, make_batch({c})); // direct
  BOOST_TEST(count(*store, "SELECT count(DISTINCT (ts, user_id, session_id,"
                           " agent_type, agent_name, event_type,"
                           " activity_class, role, content, input, output,"
                           " tool_name, tool_category, model, tokens_used,"
                           " processing_time_ms, success, error_message,"
                           " importance, tags, metadata, raw - 'event_id',"
                           " project_id)) FROM user_activities WHERE"
                           " event_id IN ('ev-y', 'ev-z')")
             == 1);
}

BOOST_FIXTURE_TEST_CASE(a_failed_batch_is_rolled_back_and_the_store_stays_usable,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto good = make_activity("ev-good", "u1", "s1", t0);
  auto broken = make_activity("ev-broken", "u1", "s1", t0 + 1);
  broken.input_json = "{not json";
  auto b = make_batch({good, broken});
  b.offsets = {{"t", 0, 2}};
  auto r = store->commit_batch(b, group, model);
  BOOST_REQUIRE(!r);
  // Bad rows: a data rejection (SQLSTATE 22P02), not a transient failure.
  BOOST_TEST(has_code(r.error(), errc::data_rejected), why(r));
  BOOST_TEST(why(r).find("invalid input syntax for type json")
             != std::string::npos, why(r));
  BOOST_TEST(counts(*store) == (table_counts{0, 0, 0, 0, 0, 0, 0}));
  // Same connection, next batch.
  auto ok = commit(*store, make_batch({good}));
  BOOST_TEST(ok.new_activities == 1u);
  // jsonb refuses \u0000 escapes: an error value, not a crash.
  auto nul_escape = make_activity("ev-u0000", "u1", "s1", t0 + 2);
  nul_escape.raw_json = R"({"event_id":"ev-u0000","x":"a\u0000b"})";
  auto r2 = store->commit_batch(make_batch({nul_escape}), group, model);
  BOOST_REQUIRE(!r2);
  BOOST_TEST(has_code(r2.error(), errc::data_rejected), why(r2));
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 1);
}

BOOST_FIXTURE_TEST_CASE(a_nul_byte_in_a_string_is_an_error_value_and_nothing_is_written,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a = make_activity("ev-nul", "u1", "s1", t0);
  a.content = std::string{"before\0after", 12};
  auto r = store->commit_batch(make_batch({a}), group, model);
  BOOST_REQUIRE(!r);
  BOOST_TEST(has_code(r.error(), errc::data_rejected), why(r));
  BOOST_TEST(storage::rejected_sqlstate(r.error()).empty()); // not sent
  BOOST_TEST(why(r).find("content of event ev-nul")
             != std::string::npos);
  auto m = make_memory("m", 1, make_activity("ev-ok", "u1", "s1", t0), 0, {});
  m.text = std::string{"x\0y", 3};
  batch b;
  b.memories = {m};
  auto r2 = store->commit_batch(b, group, model);
  BOOST_REQUIRE(!r2);
  BOOST_TEST(has_code(r2.error(), errc::data_rejected), why(r2));
  BOOST_TEST(counts(*store) == (table_counts{0, 0, 0, 0, 0, 0, 0}));
}

BOOST_FIXTURE_TEST_CASE(a_killed_connection_fails_one_call_and_the_next_call_reconnects,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto killed = store->scalar(
    "SELECT count(*) FROM pg_terminate_backend(pg_backend_pid())");
  BOOST_REQUIRE(!killed);
  BOOST_TEST(has_code(killed.error(), errc::postgres_error));
  auto one = store->scalar("SELECT 1");
  BOOST_REQUIRE_MESSAGE(one, why(one));
  BOOST_TEST(*one == 1);
  BOOST_TEST(!store->reconnect());
  auto r = commit(*store, make_batch({make_activity("e", "u", "s", t0)}));
  BOOST_TEST(r.new_activities == 1u);
}

BOOST_FIXTURE_TEST_CASE(scalar_rejects_results_that_are_not_one_integer,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto two = store->scalar("SELECT 1, 2");
  BOOST_REQUIRE(!two);
  BOOST_TEST(has_code(two.error(), errc::invalid_request));
  auto null = store->scalar("SELECT NULL::bigint");
  BOOST_REQUIRE(!null);
  BOOST_TEST(has_code(null.error(), errc::invalid_request));
  auto rows = store->scalar("SELECT generate_series(1, 3)");
  BOOST_REQUIRE(!rows);
  auto write = store->scalar("CREATE TABLE nope (x int)");
  BOOST_REQUIRE(!write); // read-only transaction
  auto bad_sql = store->scalar("SELEC 1");
  BOOST_REQUIRE(!bad_sql);
  BOOST_TEST(has_code(bad_sql.error(), errc::postgres_error));
  auto max_seq = store->max_memory_seq();
  BOOST_REQUIRE(max_seq);
  BOOST_TEST(*max_seq == 0);
}

BOOST_AUTO_TEST_CASE(connecting_to_a_bad_url_is_an_error_without_the_password) {
  auto store = postgres_store::connect(
    "postgresql://agentmem:sup3rsecret@127.0.0.1:1/agentmem"
    "?connect_timeout=2");
  BOOST_REQUIRE(!store);
  BOOST_TEST(has_code(store.error(), errc::postgres_error));
  auto text = why(store);
  BOOST_TEST(text.find("sup3rsecret") == std::string::npos, text);
  BOOST_TEST(text.find("agentmem:***@127.0.0.1:1") != std::string::npos, text);
}

BOOST_FIXTURE_TEST_CASE(a_batch_of_twenty_thousand_events_commits_in_one_transaction,
                        test::pg_database) {
  auto store = open_migrated(url);
  std::vector<activity> acts;
  acts.reserve(20000);
  for (int i = 0; i < 20000; ++i) {
    auto a = make_activity("bulk-" + std::to_string(i),
                           "user-" + std::to_string(i % 50),
                           "session-" + std::to_string(i % 200),
                           t0 + i * 1000);
    a.content.append(200, 'x');
    acts.push_back(std::move(a));
  }
  auto b = make_batch(std::move(acts));
  for (int i = 0; i < 2000; ++i)
    b.memories.push_back(make_memory("bulk-m-" + std::to_string(i),
                                     1000 + i, b.activities[i], 0,
                                     std::vector<float>(384, 0.125f)));
  b.offsets = {{"agent-activities", 0, 20000}};
  auto start = std::chrono::steady_clock::now();
  auto r = commit(*store, b);
  std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                       - start;
  BOOST_TEST_MESSAGE("20000 events + 2000 memories committed in "
                     << took.count() << " s ("
                     << 20000 / took.count() << " events/s)");
  BOOST_TEST(r.new_activities == 20000u);
  BOOST_TEST(r.memories_written == 2000u);
  BOOST_TEST(count(*store, "SELECT sum(activity_count) FROM usage_analytics")
             == 20000);
  BOOST_TEST(count(*store, "SELECT sum(total_interactions)"
                           " FROM agent_sessions")
             == 20000);
  BOOST_TEST(count(*store, "SELECT count(*) FROM agent_sessions") == 200);
  // Generous bound: a 2-core box does this in well under a second.
  BOOST_TEST(took.count() < 20.0);
  // Redelivery of the whole batch is also a single transaction.
  auto again = commit(*store, b);
  BOOST_TEST(again.duplicate_activities == 20000u);
  BOOST_TEST(count(*store, "SELECT sum(activity_count) FROM usage_analytics")
             == 20000);
}


BOOST_FIXTURE_TEST_CASE(a_batch_reports_its_seq_range_and_the_tailer_skips_it_once_applied,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto a1 = make_activity("ev-r1", "u1", "s1", t0);
  auto a2 = make_activity("ev-r2", "u1", "s1", t0 + 10);
  auto b1 = make_batch({a1});
  b1.memories = {make_memory("m-r1", 101, a1, 0, {1.0f, 0.0f}),
                 make_memory("m-r2", 102, a1, 1, {0.0f, 1.0f})};
  auto r1 = commit(*store, b1);
  BOOST_TEST(r1.seq_last - r1.seq_first == 1);
  auto b2 = make_batch({a2});
  b2.memories = {make_memory("m-r3", 103, a2, 0, {0.6f, 0.8f})};
  auto r2 = commit(*store, b2);
  BOOST_TEST(r2.seq_first == r1.seq_last + 1);
  BOOST_TEST(r2.seq_last == r2.seq_first);
  // A replayed batch writes no row (ON CONFLICT may still draw seq values:
  // its range then holds no row, and skipping it skips nothing).
  auto again = commit(*store, b1);
  BOOST_TEST(again.memories_written == 0u);
  auto top = store->max_memory_seq();
  BOOST_REQUIRE(top);
  BOOST_TEST(*top == r2.seq_last);

  test::temp_dir d;
  storage::shard_set shards{test::two_dim_shards(d)};
  auto shard = shards.open(0); // memories without a Kafka partition
  auto hot = storage::hot_state::open((d.path / "rocksdb").string());
  BOOST_REQUIRE(shard && hot);
  auto& index = (*shard)->vectors;
  // The pipeline applied the first batch itself: the tailer reads only the
  // second one and still ends at the highest seq.
  storage::applied_seqs applied;
  applied.add(r1.seq_first, r1.seq_last);
  auto tail = [&](int64_t from) {
    return storage::sync_shards(*store, shards, **hot, {0}, from, 5000, 0,
                                &applied);
  };
  auto res = tail(0);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->memories == 1u);
  BOOST_TEST(res->watermark == r2.seq_last);
  BOOST_TEST(index->contains(103));
  BOOST_TEST(!index->contains(101));
  BOOST_TEST(applied.after(0).empty());
  // Only a range: with nothing else new, the watermark still moves over it.
  auto a3 = make_activity("ev-r3", "u1", "s1", t0 + 20);
  auto b3 = make_batch({a3});
  b3.memories = {make_memory("m-r4", 104, a3, 0, {0.8f, 0.6f})};
  auto r3 = commit(*store, b3);
  applied.add(r3.seq_first, r3.seq_last);
  res = tail(res->watermark);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->memories == 0u);
  BOOST_TEST(res->watermark == r3.seq_last);
  // Committed but still being indexed here: the tailer waits for it (it
  // would apply the rows twice), also with later rows behind it.
  auto a4 = make_activity("ev-r4", "u1", "s1", t0 + 30);
  auto a5 = make_activity("ev-r5", "u1", "s1", t0 + 40);
  auto b4 = make_batch({a4});
  b4.memories = {make_memory("m-r5", 105, a4, 0, {0.0f, 1.0f})};
  auto b5 = make_batch({a5});
  b5.memories = {make_memory("m-r6", 106, a5, 0, {1.0f, 0.0f})};
  auto r4 = commit(*store, b4);
  auto r5 = commit(*store, b5);
  applied.pending(r4.seq_first, r4.seq_last);
  res = tail(res->watermark);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->memories == 0u);
  BOOST_TEST(res->watermark == r3.seq_last);
  applied.add(r4.seq_first, r4.seq_last);
  res = tail(res->watermark);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->memories == 1u);
  BOOST_TEST(res->watermark == r5.seq_last);
  BOOST_TEST(index->contains(106));
  // A range left pending (its batch failed after the commit) stops
  // holding the tailer back after the timeout.
  storage::applied_seqs short_wait{std::chrono::milliseconds(1)};
  short_wait.pending(r5.seq_first, r5.seq_last);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  BOOST_TEST(short_wait.read_limit() == std::numeric_limits<int64_t>::max());
}

BOOST_FIXTURE_TEST_CASE(a_warming_shard_skips_only_the_batches_applied_to_it_while_warming,
                        test::pg_database) {
  auto store = open_migrated(url);
  test::temp_dir d;
  storage::shard_set shards{test::two_dim_shards(d)};
  auto hot = storage::hot_state::open((d.path / "rocksdb").string());
  BOOST_REQUIRE(hot);
  // Batch 1 was committed and indexed before the shard was opened (another
  // owner's, or this node's before a hand-over): catching up must read it.
  auto a1 = make_activity("ev-w1", "u1", "s1", t0);
  auto b1 = make_batch({a1});
  b1.memories = {make_memory("m-w1", 201, a1, 0, {1.0f, 0.0f})};
  auto r1 = commit(*store, b1);
  BOOST_REQUIRE(shards.upsert(b1.memories, nullptr, r1.seq_first, r1.seq_last));
  auto shard = shards.open(0);
  BOOST_REQUIRE(shard);
  BOOST_TEST((*shard)->applied_while_warming.after(0).empty());
  // Batch 2 was applied to the warming shard by vector linking (the
  // range is noted in it), batch 3 is committed and not indexed yet.
  auto a2 = make_activity("ev-w2", "u1", "s1", t0 + 10);
  auto b2 = make_batch({a2});
  b2.memories = {make_memory("m-w2", 202, a2, 0, {0.0f, 1.0f}),
                 make_memory("m-w3", 203, a2, 1, {0.6f, 0.8f})};
  auto r2 = commit(*store, b2);
  auto added = shards.upsert(b2.memories, nullptr, r2.seq_first, r2.seq_last);
  BOOST_REQUIRE(added);
  BOOST_TEST(*added == 2u);
  auto a3 = make_activity("ev-w3", "u1", "s1", t0 + 20);
  auto b3 = make_batch({a3});
  b3.memories = {make_memory("m-w4", 204, a3, 0, {0.8f, 0.6f})};
  auto r3 = commit(*store, b3);
  storage::applied_seqs pipeline;
  pipeline.pending(r3.seq_first, r3.seq_last);
  auto noted = (*shard)->applied_while_warming.after(0);
  BOOST_REQUIRE_EQUAL(noted.size(), 1u);
  BOOST_TEST(noted[0].first == r2.seq_first);
  BOOST_TEST(noted[0].second == r2.seq_last);
  // The catch-up reads batches 1 and 3 (the pending one too: applying it
  // twice is idempotent, waiting could skip rows this shard never got),
  // not batch 2, and ends at the highest seq.
  auto res = storage::sync_shards(*store, shards, **hot, {0}, 0, 5000, 0,
                                  &(*shard)->applied_while_warming, false);
  BOOST_REQUIRE(res);
  BOOST_TEST(res->memories == 2u);
  BOOST_TEST(res->watermark == r3.seq_last);
  BOOST_TEST(res->reached_end);
  for (uint64_t id : {201u, 202u, 203u, 204u})
    BOOST_TEST((*shard)->vectors->contains(id));
  BOOST_TEST((*shard)->applied_while_warming.after(0).empty());
  // Turning serving forgets the ranges noted while warming, and a serving
  // shard is not noted any more (the node-wide ranges cover it).
  (*shard)->applied_while_warming.add(r3.seq_first, r3.seq_last);
  BOOST_REQUIRE(shards.set_phase(0, storage::shard_phase::serving));
  BOOST_TEST((*shard)->applied_while_warming.after(0).empty());
  auto a4 = make_activity("ev-w4", "u1", "s1", t0 + 30);
  auto b4 = make_batch({a4});
  b4.memories = {make_memory("m-w5", 205, a4, 0, {0.0f, 1.0f})};
  auto r4 = commit(*store, b4);
  BOOST_REQUIRE(shards.upsert(b4.memories, nullptr, r4.seq_first, r4.seq_last));
  BOOST_TEST((*shard)->applied_while_warming.after(0).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// commit_batch tells Postgres rejecting the rows (errc::data_rejected, with
// the SQLSTATE) apart from transient failures (errc::postgres_error).
BOOST_AUTO_TEST_SUITE(rejection_suite)

// A real rejection the contract used to let through: usage_analytics sums
// tokens_used per user, day and agent in a bigint.
BOOST_FIXTURE_TEST_CASE(a_rollup_overflowing_bigint_is_a_data_rejection_with_sqlstate_22003,
                        test::pg_database) {
  auto store = open_migrated(url);
  auto big = make_activity("e1", "u1", "s1", t0);
  big.tokens_used = std::numeric_limits<int64_t>::max();
  auto b1 = make_batch({big});
  b1.offsets = {{"t", 0, 1}};
  commit(*store, b1);
  auto b2 = make_batch({make_activity("e2", "u1", "s1", t0 + 1)});
  b2.offsets = {{"t", 0, 2}};
  auto res = store->commit_batch(b2, group, model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(has_code(res.error(), errc::data_rejected), why(res));
  BOOST_TEST(storage::is_data_rejection(res.error()));
  BOOST_TEST(storage::rejected_sqlstate(res.error()) == "22003");
  // Rolled back: neither the event nor the offset moved.
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 1);
  BOOST_TEST(count(*store, "SELECT next_offset FROM kafka_offsets") == 1);
}

BOOST_FIXTURE_TEST_CASE(a_check_violation_is_a_data_rejection_without_the_row_content,
                        test::pg_database) {
  auto store = open_migrated(url);
  test::exec_sql(url, "ALTER TABLE user_activities ADD CONSTRAINT"
                      " test_poison CHECK (event_id NOT LIKE 'poison-%')");
  auto ok = make_activity("ok-1", "u1", "s1", t0);
  auto res = store->commit_batch(
    make_batch({ok, make_activity("poison-1", "u1", "s1", t0 + 1)}), group,
    model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(storage::is_data_rejection(res.error()), why(res));
  BOOST_TEST(storage::rejected_sqlstate(res.error()) == "23514");
  auto text = why(res);
  BOOST_TEST(text.find("test_poison") != std::string::npos, text);
  // Postgres' DETAIL line quotes the failing row: it must not be kept.
  BOOST_TEST(text.find("hello from") == std::string::npos, text);
  BOOST_TEST(text.find('\n') == std::string::npos, text);
  BOOST_TEST(count(*store, "SELECT count(*) FROM user_activities") == 0);
  // The store stays usable for the rows Postgres accepts.
  BOOST_TEST(commit(*store, make_batch({ok})).new_activities == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_lost_connection_is_transient_and_the_next_commit_reconnects,
                        test::pg_database) {
  auto store = open_migrated(url);
  // A first batch: the connection now has the staging tables and the
  // prepared batch statements, which a new connection must make again.
  auto a0 = make_activity("e0", "u1", "s1", t0);
  auto first = make_batch({a0});
  first.memories = {make_memory("m0", 100, a0, 0, {0.5f, -0.25f})};
  BOOST_TEST(commit(*store, first).new_activities == 1u);
  // Kill every other session of this database: the store's connection.
  test::exec_sql(url, "SELECT pg_terminate_backend(pid) FROM"
                      " pg_stat_activity WHERE datname = current_database()"
                      " AND pid <> pg_backend_pid()");
  auto a1 = make_activity("e1", "u1", "s1", t0 + 1000);
  auto b = make_batch({a1});
  b.memories = {make_memory("m1", 101, a1, 0, {1.0f, 2.0f})};
  auto res = store->commit_batch(b, group, model);
  BOOST_REQUIRE(!res);
  BOOST_TEST(has_code(res.error(), errc::postgres_error), why(res));
  BOOST_TEST(!storage::is_data_rejection(res.error()));
  auto done = commit(*store, b);
  BOOST_TEST(done.new_activities == 1u);
  BOOST_TEST(done.memories_written == 1u);
  BOOST_TEST(count(*store, "SELECT count(*) FROM memories m JOIN memory_links"
                           " l USING (memory_id) WHERE m.embedding_model = "
                           + std::string{"'"} + model + "'") == 2);
}

BOOST_AUTO_TEST_SUITE_END()
