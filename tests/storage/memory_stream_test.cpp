// The memory change stream's transactional outbox (021_memory_change_stream,
// storage/outbox_store.hpp) against a real server: every source of change
// writes its record in the change's own transaction, in order, with the
// version; user deletion leaves no content behind.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/embedding.hpp"
#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/governance_store.hpp"
#include "storage/memory_catalog.hpp"
#include "storage/outbox_store.hpp"
#include "storage/change_records.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/change_records.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_exec.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::postgres_store;
using agentmem::test::open_migrated;
using agentmem::test::why;
using json = nlohmann::json;

namespace {

constexpr int64_t t0 = 1'714'557'600'000; // 2024-05-01T10:00:00Z

domain::hashing_embedder embedder{8};

memory mem(const std::string& id, uint64_t point, const std::string& type,
           const std::string& text, const std::string& user = "u1",
           int64_t ts = t0) {
  memory m = test::s1_memory(id, point, type, user, text);
  m.ts_ms = m.turn_ts_ms = ts;
  m.importance = 0.4;
  m.tags = {"t"};
  std::vector<std::string_view> in{m.text};
  std::vector<std::vector<float>> out;
  BOOST_REQUIRE(!embedder.embed(in, out));
  m.vector = out[0];
  return m;
}

caf::expected<storage::commit_result> commit(postgres_store& s,
                                             std::vector<memory> ms) {
  batch b;
  b.memories = std::move(ms);
  return s.commit_batch(b, "g", embedder.model());
}

struct outbox_row {
  int64_t id;
  bool has_user; // user_id column set: the payload holds content
  std::string key;
  json payload;
};

std::vector<outbox_row> outbox(const std::string& url) {
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  std::vector<outbox_row> out;
  for (const auto& row :
       tx.exec("SELECT id, user_id IS NOT NULL, record_key, payload::text"
               " FROM memory_outbox ORDER BY id"))
    out.push_back({row[0].as<int64_t>(), row[1].as<bool>(),
                   row[2].as<std::string>(),
                   json::parse(row[3].as<std::string>())});
  return out;
}

// "op memory_id version source" per record, in outbox order.
std::vector<std::string> ops(const std::vector<outbox_row>& rows) {
  std::vector<std::string> out;
  for (auto& r : rows)
    out.push_back(test::change_summary(r.payload, true));
  return out;
}

void clear_outbox(const std::string& url) {
  test::exec_sql(url, "DELETE FROM memory_outbox");
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_change_stream)

BOOST_FIXTURE_TEST_CASE(pipeline_adds_dedup_updates_and_summaries_are_recorded_with_their_version,
                        test::pg_database) {
  auto s = open_migrated(url);
  auto a = mem("a", 1, "episodic", "alice likes green tea");
  a.agent_name = "Penny";
  a.project_id = "p1";
  auto r = commit(*s, {a, mem("c", 3, "conversation", "hi there")});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  auto near = mem("b", 2, "episodic", "alice likes green tea a lot");
  near.update_of = "a";
  r = commit(*s, {near, mem("sum", 9, "session_summary", "Summary: tea")});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  r = commit(*s, {mem("sum", 9, "session_summary", "Summary: tea, coffee",
                      "u1", t0 + 60'000)});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  // A replay changes nothing and records nothing.
  r = commit(*s, {mem("c", 3, "conversation", "hi there"), near});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  auto rows = outbox(url);
  // Batch by batch; inside one batch the versioned path writes its ADDs
  // before its UPDATEs (records of one memory are always in order).
  BOOST_TEST(ops(rows) == (std::vector<std::string>{
                             "ADD a 1 pipeline", "ADD c 1 pipeline",
                             "ADD sum 1 pipeline", "UPDATE a 2 pipeline",
                             "UPDATE sum 2 pipeline"}),
             boost::test_tools::per_element());
  for (auto& row : rows) {
    BOOST_TEST(row.key == "u1");
    BOOST_TEST(row.has_user);
    BOOST_TEST(row.payload["schema"] == "agent.memory.v1");
    BOOST_TEST(row.payload["user_id"] == "u1");
    BOOST_TEST(row.payload["session_id"] == "s1");
    BOOST_TEST(!row.payload.contains("embedding"));
    BOOST_TEST(!row.payload.contains("context"));
  }
  BOOST_REQUIRE_EQUAL(rows.size(), 5u);
  BOOST_TEST(rows[3].payload["text"] == "alice likes green tea a lot");
  BOOST_TEST(rows[3].payload["event_id"] == "ev-a"); // the memory's source
  BOOST_TEST(rows[3].payload["tags"] == json::array({"t"}));
  BOOST_TEST(rows[4].payload["text"] == "Summary: tea, coffee");
  BOOST_TEST(rows[4].payload["ts"] == "2024-05-01T10:01:00.000Z");
  BOOST_TEST(rows[0].payload["memory_type"] == "episodic");
  BOOST_TEST(rows[0].payload["project_id"] == "p1"); // the memory's scope
  BOOST_TEST(rows[0].payload["agent_name"] == "Penny");
  BOOST_TEST(rows[1].payload["project_id"].is_null());
  BOOST_TEST(rows[3].payload["project_id"] == "p1"); // an update keeps it
  BOOST_TEST(std::abs(rows[0].payload["importance"].get<double>() - 0.4)
             < 1e-6);
}

// New events' memories take the writer's direct path, which prints their
// ADD records in C++ and tells the trigger to skip its own for that one
// COPY (035_add_records_by_the_writer.sql; a row trigger's WHEN clause
// since 038): each memory gets exactly one record,
// and the record is memory_change_record() of the stored row byte for
// byte -- for text needing every JSON escape, tags, NULL scope fields,
// reals at PostgreSQL's fixed / exponent switch and times before 1970 and
// 2000.
BOOST_FIXTURE_TEST_CASE(the_writers_add_records_are_the_triggers_byte_for_byte,
                        test::pg_database) {
  auto s = open_migrated(url);
  const std::vector<std::string> texts = {
    "plain", "\"quoted\" and back\\slash",
    std::string{"controls \x01\x1f\b\f\n\r\t and DEL \x7f"},
    "UTF-8: Grüße, 日本語, emoji 🙂", "", "{\"looks\": [\"like json\"]}"};
  const std::vector<double> importances = {0.0,    1.0,     0.4,   0.1,
                                           1e-05,  0.0001,  1e-10, 0.123456789,
                                           0.9999, 123456.0, 1234567.0};
  const std::vector<int64_t> times = {t0, -1, 0, 946'684'799'999,
                                      -62'135'596'800'000, 253'402'300'799'999};
  batch b;
  for (size_t i = 0; i < 24; ++i) {
    auto id = "ev-" + std::to_string(i);
    auto a = test::partition_turn(id, i % 2 == 0 ? "u1" : "u\"2",
                                  static_cast<int32_t>(i % 3),
                                  times[i % times.size()]);
    b.activities.push_back(a);
    auto m = mem("m" + std::to_string(i), 100 + i,
                 i % 2 == 0 ? "conversation" : "episodic",
                 texts[i % texts.size()], a.user_id, a.ts_ms);
    m.event_id = id;
    m.importance = importances[i % importances.size()];
    m.tags = i % 3 == 0 ? std::vector<std::string>{}
                        : std::vector<std::string>{"a \"tag\"", "b\\c", ""};
    m.role = i % 4 == 0 ? "" : "user";
    m.speaker = i % 5 == 0 ? "" : "Ms \"Q\"";
    m.agent_type = i % 2 == 0 ? "" : "tutor";
    m.agent_name = i % 3 == 0 ? "" : "Penny\n";
    m.project_id = i % 4 == 1 ? "p1" : "";
    m.partition = static_cast<int32_t>(i % 3);
    b.memories.push_back(m);
  }
  b.usage = domain::usage_deltas(b.activities);
  b.sessions = domain::session_deltas(b.activities);
  auto r = s->commit_batch(b, "g", embedder.model());
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->memories_written == b.memories.size());
  // In one transaction, a new event's memory (the direct path, the
  // writer's record) and a new memory of a replayed event (the staged
  // path's INSERT after it: the trigger's record, so the writer's cue to
  // the trigger covered its own COPY only).
  batch again;
  again.activities = {b.activities[0],
                      test::partition_turn("ev-new", "u1", 0, t0 + 5)};
  auto direct = mem("m-new", 999, "episodic", "a \"late\" one", "u1", t0 + 5);
  direct.event_id = "ev-new";
  auto staged = mem("m0-b", 998, "episodic", "more of \"ev-0\"",
                    b.activities[0].user_id, b.activities[0].ts_ms);
  staged.event_id = b.activities[0].event_id;
  again.memories = {direct, staged};
  r = s->commit_batch(again, "g", embedder.model());
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->memories_written == 2u);

  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  BOOST_TEST(tx.exec("SELECT count(*) FROM memory_outbox")[0][0].as<size_t>()
             == b.memories.size() + 2);
  BOOST_TEST(tx.exec("SELECT count(DISTINCT memory_id) FROM memory_outbox")
               [0][0].as<size_t>() == b.memories.size() + 2);
  auto differ = tx.exec(
    "SELECT b.memory_id, b.payload::text, memory_change_record('ADD', m,"
    " b.payload->>'changed_at', b.payload->>'source')::text"
    " FROM memory_outbox b JOIN memories m USING (memory_id)"
    " WHERE b.payload::text IS DISTINCT FROM memory_change_record('ADD', m,"
    " b.payload->>'changed_at', b.payload->>'source')::text");
  for (const auto& row : differ)
    BOOST_ERROR("memory " << row[0].c_str() << ": writer's record "
                          << row[1].c_str() << "\n  trigger's record "
                          << row[2].c_str());
  // The C++ printer itself, against the SQL function on the stored rows.
  auto stamp = tx.exec("SELECT payload->>'changed_at', payload->>'source'"
                       " FROM memory_outbox LIMIT 1");
  auto changed_at = stamp[0][0].as<std::string>();
  auto source = stamp[0][1].as<std::string>();
  for (auto& m : b.memories) {
    std::string mine;
    storage::detail::append_add_record(mine, m, changed_at, source);
    auto sql = tx.exec_params(
      "SELECT memory_change_record('ADD', m, $2, $3)::text FROM memories m"
      " WHERE memory_id = $1", m.memory_id, changed_at, source);
    BOOST_REQUIRE_EQUAL(sql.size(), 1u);
    BOOST_TEST(mine == sql[0][0].as<std::string>());
  }
}

BOOST_FIXTURE_TEST_CASE(migration_032_keeps_queued_records_and_new_ones_have_the_same_fields,
                        test::pg_database) {
  auto s = open_migrated(url);
  auto r = commit(*s, {mem("a", 1, "episodic", "alice likes \"green\" tea")});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  auto before = outbox(url);
  BOOST_REQUIRE_EQUAL(before.size(), 1u);
  // The outbox as a node before migration 032 left it: jsonb records (one
  // also queued for a webhook), 032 not applied.
  test::exec_sql(url,
    "ALTER TABLE memory_outbox ALTER COLUMN payload TYPE jsonb"
    " USING payload::jsonb;"
    " ALTER TABLE memory_webhook_queue ALTER COLUMN payload TYPE jsonb"
    " USING payload::jsonb;"
    " ALTER TABLE memory_webhook_dead_letters ALTER COLUMN payload TYPE"
    " jsonb USING payload::jsonb;"
    " INSERT INTO memory_webhook_queue (endpoint, user_id, record_key,"
    " memory_id, payload) SELECT 'ep', user_id, record_key, memory_id,"
    " payload FROM memory_outbox;"
    " DROP TYPE memory_change_row;"
    " DELETE FROM schema_migrations WHERE version = 32;");
  auto applied = s->migrate();
  BOOST_REQUIRE_MESSAGE(applied, why(applied));
  BOOST_TEST(*applied == 1);
  // The queued record is the same JSON; a new memory's record has the same
  // fields as a record written before the migration.
  r = commit(*s, {mem("b", 2, "episodic", "bob likes coffee")});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  auto after = outbox(url);
  BOOST_REQUIRE_EQUAL(after.size(), 2u);
  BOOST_TEST(after[0].payload == before[0].payload);
  BOOST_TEST(after[0].payload["text"] == "alice likes \"green\" tea");
  std::vector<std::string> old_keys, new_keys;
  for (auto& [k, v] : before[0].payload.items())
    old_keys.push_back(k);
  for (auto& [k, v] : after[1].payload.items())
    new_keys.push_back(k);
  BOOST_TEST(new_keys == old_keys, boost::test_tools::per_element());
  BOOST_TEST(ops(after) == (std::vector<std::string>{"ADD a 1 pipeline",
                                                     "ADD b 1 pipeline"}),
             boost::test_tools::per_element());
  auto queued = s->scalar("SELECT count(*) FROM memory_webhook_queue WHERE"
                          " payload->>'memory_id' = 'a'");
  BOOST_REQUIRE_MESSAGE(queued, why(queued));
  BOOST_TEST(*queued == 1);
}

BOOST_FIXTURE_TEST_CASE(a_rolled_back_batch_leaves_no_outbox_record,
                        test::pg_database) {
  auto s = open_migrated(url);
  // A check that fails at COMMIT, after the memories and their outbox rows
  // were written: the whole batch transaction rolls back.
  test::exec_sql(url,
                 "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;"
                 " CREATE CONSTRAINT TRIGGER refuse_outbox AFTER INSERT ON"
                 " memory_outbox DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                 " EXECUTE FUNCTION refuse()");
  auto r = commit(*s, {mem("a", 1, "episodic", "doomed")});
  BOOST_TEST(!r);
  test::exec_sql(url, "DROP TRIGGER refuse_outbox ON memory_outbox");
  BOOST_TEST(outbox(url).empty());
  auto n = s->scalar("SELECT count(*) FROM memories");
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 0);
  // The same batch commits now, with its record.
  r = commit(*s, {mem("a", 1, "episodic", "doomed")});
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(ops(outbox(url)) == (std::vector<std::string>{"ADD a 1 pipeline"}),
             boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(api_patch_and_delete_are_recorded_and_the_delete_has_no_content,
                        test::pg_database) {
  auto s = open_migrated(url);
  BOOST_REQUIRE(commit(*s, {mem("a", 1, "episodic", "first words")}));
  clear_outbox(url);
  auto cat = storage::memory_catalog::connect(url);
  BOOST_REQUIRE_MESSAGE(cat, why(cat));
  memory_patch p;
  p.text = "second words";
  memory now;
  auto u = (*cat)->update("u1", "a", p, embedder, now);
  BOOST_REQUIRE_MESSAGE(u, why(u));
  memory_patch imp;
  imp.importance = 0.9;
  u = (*cat)->update("u1", "a", imp, embedder, now);
  BOOST_REQUIRE_MESSAGE(u, why(u));
  auto rows = outbox(url);
  BOOST_TEST(ops(rows) == (std::vector<std::string>{"UPDATE a 2 api",
                                                     "UPDATE a 3 api"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(rows.size(), 2u);
  BOOST_TEST(rows[0].payload["text"] == "second words");
  BOOST_TEST(std::abs(rows[1].payload["importance"].get<double>() - 0.9)
             < 1e-6);
  // The DELETE drops the memory's unpublished records with content.
  uint64_t point = 0;
  auto d = (*cat)->remove("u1", "a", point);
  BOOST_REQUIRE_MESSAGE(d, why(d));
  rows = outbox(url);
  BOOST_TEST(ops(rows) == (std::vector<std::string>{"DELETE a 4 api"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(rows.size(), 1u);
  BOOST_TEST(rows[0].payload["version"].get<int>() == d->version);
  BOOST_TEST(!rows[0].has_user);
  BOOST_TEST(rows[0].key == "u1");
  BOOST_TEST(!rows[0].payload.contains("text"));
  BOOST_TEST(rows[0].payload.dump().find("words") == std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(retention_deletes_are_recorded, test::pg_database) {
  auto s = open_migrated(url);
  auto low = mem("low", 1, "episodic", "unimportant", "u1", t0);
  low.importance = 0.1;
  auto old = mem("old", 2, "episodic", "old session words", "u2", t0);
  old.session_id = "s-old";
  BOOST_REQUIRE(commit(*s, {low, old}));
  test::exec_sql(url, "INSERT INTO agent_sessions (user_id, session_id,"
                      " agent_type, started_at, last_activity_at) VALUES"
                      " ('u2', 's-old', 'chat', now() - interval '90 days',"
                      " now() - interval '90 days')");
  test::exec_sql(url, "UPDATE memories SET created_at = now() - interval '1 day'");
  clear_outbox(url);
  auto gov = storage::governance_store::connect(url);
  BOOST_REQUIRE_MESSAGE(gov, why(gov));
  storage::retention_policy p;
  p.delete_sessions_after_ms = 30LL * 86'400'000;
  p.min_importance = 0.3;
  p.delete_memories_after_ms = 1;
  p.grace_ms = 0;
  auto r = (*gov)->apply_retention(p, nullptr);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->memories_deleted == 2);
  auto rows = outbox(url);
  BOOST_TEST(ops(rows) == (std::vector<std::string>{"DELETE old 2 retention",
                                                     "DELETE low 2 retention"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(rows.size(), 2u);
  BOOST_TEST(rows[0].key == "u2");
  BOOST_TEST(rows[1].key == "u1");
}

BOOST_FIXTURE_TEST_CASE(user_deletion_removes_pending_content_and_records_content_free_deletes,
                        test::pg_database) {
  auto s = open_migrated(url);
  const std::string secret = "alice-secret-peanut-allergy";
  BOOST_REQUIRE(commit(*s, {mem("a1", 1, "episodic", secret + " one", "alice"),
                            mem("a2", 2, "episodic", secret + " two", "alice"),
                            mem("b1", 3, "episodic", "bob words", "bob")}));
  // Alice's webhook copies and dead letters hold her content too.
  test::exec_sql(url,
                 "INSERT INTO memory_webhook_queue (endpoint, user_id,"
                 " record_key, memory_id, payload) SELECT 'ep', user_id,"
                 " record_key, memory_id, payload FROM memory_outbox;"
                 " INSERT INTO memory_webhook_dead_letters (endpoint, user_id,"
                 " record_key, memory_id, payload, attempts, reason) SELECT"
                 " 'ep', user_id, record_key, memory_id, payload, 8,"
                 " 'HTTP 500' FROM memory_outbox");
  auto gov = storage::governance_store::connect(url);
  BOOST_REQUIRE_MESSAGE(gov, why(gov));
  auto del = (*gov)->delete_user("alice");
  BOOST_REQUIRE_MESSAGE(del, why(del));
  auto rows = outbox(url);
  BOOST_TEST(ops(rows) == (std::vector<std::string>{
                             "ADD b1 1 pipeline", "DELETE a1 2 user_deletion",
                             "DELETE a2 2 user_deletion",
                             "USER_DELETED - - user_deletion"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(rows.size(), 4u);
  BOOST_TEST(rows[3].key == "alice");
  BOOST_TEST(rows[3].payload["deletion_seq"].get<int64_t>()
             == del->deletion_seq);
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  for (auto table : {"memory_outbox", "memory_webhook_queue",
                     "memory_webhook_dead_letters"}) {
    auto n = tx.exec("SELECT count(*) FROM " + std::string{table}
                     + " WHERE payload::text LIKE '%" + secret + "%'")[0][0]
               .as<int64_t>();
    BOOST_TEST(n == 0, table);
    auto bob = tx.exec("SELECT count(*) FROM " + std::string{table}
                       + " WHERE payload::text LIKE '%bob words%'")[0][0]
                 .as<int64_t>();
    BOOST_TEST(bob == 1, table);
  }
  // The outbox is one of the user tables deletion covers (and export:
  // both discover tables by their user_id column).
  std::set<std::string> listed;
  for (auto& [table, n] : del->tables)
    listed.insert(table);
  for (auto table : {"memory_outbox", "memory_webhook_queue",
                     "memory_webhook_dead_letters"})
    BOOST_TEST(listed.count(table) == 1u, table);
}

BOOST_FIXTURE_TEST_CASE(the_relay_copies_records_to_matching_webhook_endpoints,
                        test::pg_database) {
  auto s = open_migrated(url);
  BOOST_REQUIRE(commit(*s, {mem("a", 1, "episodic", "acme words", "acme-1"),
                            mem("b", 2, "episodic", "other words", "zeta-1")}));
  auto relay = storage::outbox_store::connect(
    url, storage::memory_outbox_spec({{"acme", "acme-"}, {"all", ""}}));
  BOOST_REQUIRE_MESSAGE(relay, why(relay));
  std::vector<storage::outbox_record> seen;
  auto n = (*relay)->relay(100, [&](const auto& xs) -> caf::error {
    seen = xs;
    return caf::none;
  });
  BOOST_REQUIRE_MESSAGE(n, why(n));
  BOOST_TEST(*n == 2u);
  BOOST_REQUIRE_EQUAL(seen.size(), 2u);
  BOOST_TEST(seen[0].key == "acme-1");
  BOOST_TEST(*(*relay)->pending() == 0);
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  std::vector<std::string> queued;
  for (const auto& row : tx.exec("SELECT endpoint || ' ' || record_key"
                                 " FROM memory_webhook_queue ORDER BY id"))
    queued.push_back(row[0].as<std::string>());
  BOOST_TEST(queued == (std::vector<std::string>{"acme acme-1", "all acme-1",
                                                  "all zeta-1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
