// Data governance against a real server (pg_fixture.hpp): per-user
// deletion over every user table (also tables added by later migrations),
// tombstones inside commit_batch, JSONL export, retention, and the deletion
// log applied to the vector index, keyword index and RocksDB.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/derived_sync.hpp"
#include "storage/governance_store.hpp"
#include "storage/memory_versions.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::test::why;
namespace fs = std::filesystem;

namespace {

constexpr int64_t day_ms = 86'400'000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

activity act(const std::string& id, const std::string& user,
             const std::string& session, int64_t ts,
             const std::string& content, const std::string& klass = "message") {
  activity a = test::chat_activity(id, user, session, ts, klass);
  a.content = content;
  a.raw_json = R"({"event_id":")" + id + R"(","content":")" + content + "\"}";
  if (klass == "file_upload") {
    a.has_file = true;
    a.file.filename = content + ".txt";
    a.file.text = content;
  }
  return a;
}

uint64_t next_point = 1000;

memory mem(const activity& a, double importance = 0.75) {
  memory m;
  m.memory_id = "m-" + a.event_id;
  m.point_id = next_point++;
  m.memory_type = memory_types::conversation;
  m.user_id = a.user_id;
  m.session_id = a.session_id;
  m.event_id = a.event_id;
  m.ts_ms = a.ts_ms;
  m.turn_ts_ms = a.ts_ms;
  m.importance = importance;
  m.role = a.role;
  m.text = a.content;
  m.vector = {0.5f, 0.5f, 0.5f, static_cast<float>(m.point_id % 7) / 7.0f};
  return m;
}

batch make_batch(std::vector<activity> acts, std::vector<memory> ms,
                 int64_t offset = -1) {
  batch b;
  b.activities = std::move(acts);
  b.memories = std::move(ms);
  b.usage = domain::usage_deltas(b.activities);
  b.sessions = domain::session_deltas(b.activities);
  if (offset >= 0)
    b.offsets.push_back({"agent.activity.v1", 0, offset});
  return b;
}

struct gov_db : test::pg_database {
  std::unique_ptr<storage::postgres_store> pg;
  std::unique_ptr<storage::governance_store> gov;
  gov_db() {
    auto s = storage::postgres_store::connect(url);
    if (!s)
      throw std::runtime_error(why(s));
    pg = std::move(*s);
    if (auto n = pg->migrate(); !n)
      throw std::runtime_error(why(n));
    auto g = storage::governance_store::connect(url);
    if (!g)
      throw std::runtime_error(why(g));
    gov = std::move(*g);
  }
  void exec(const std::string& sql) {
    pqxx::connection c{url};
    pqxx::work tx{c};
    tx.exec(sql);
    tx.commit();
  }
  int64_t count(const std::string& sql) {
    auto v = pg->scalar(sql);
    BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
    return *v;
  }
  void commit(const batch& b) {
    auto r = pg->commit_batch(b, "g", "test-model");
    BOOST_REQUIRE_MESSAGE(r, why(r));
  }
  // Every row of every table of the schema as text, one string per row.
  std::vector<std::string> all_rows() {
    pqxx::connection c{url};
    pqxx::work tx{c};
    std::vector<std::string> out;
    auto tables = tx.exec("SELECT quote_ident(tablename) FROM pg_tables"
                          " WHERE schemaname = current_schema()");
    for (const auto& t : tables)
      for (const auto& row :
           tx.exec("SELECT t::text FROM " + t[0].as<std::string>() + " t"))
        out.push_back(t[0].as<std::string>() + ": " + row[0].as<std::string>());
    return out;
  }
  size_t rows_containing(const std::string& needle) {
    size_t n = 0;
    for (auto& r : all_rows())
      n += r.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
  // Tables another branch adds (facts with an FK to memories, without
  // ON DELETE CASCADE; a history table linked by memory_id only).
  void add_foreign_tables() {
    exec("CREATE TABLE ext_facts (fact_id bigint GENERATED ALWAYS AS"
         " IDENTITY PRIMARY KEY, user_id text NOT NULL, fact text NOT NULL,"
         " memory_id text REFERENCES memories (memory_id))");
    exec("CREATE TABLE ext_memory_notes (memory_id text NOT NULL,"
         " old_text text)");
  }
};

// Alice has a secret in every table; Bob has his own data.
void seed(gov_db& db, int64_t t) {
  auto a1 = act("a1", "alice", "s-a", t, "alice zanzibarian secret one");
  auto a2 = act("a2", "alice", "s-a", t + 1000, "alice zanzibarian file",
                "file_upload");
  auto b1 = act("b1", "bob", "s-b", t, "bob ordinary note");
  db.commit(make_batch({a1, a2, b1}, {mem(a1), mem(a2), mem(b1)}, 10));
  db.exec("INSERT INTO ext_facts (user_id, fact, memory_id) VALUES"
          " ('alice', 'alice likes zanzibarian tea', 'm-a1'),"
          " ('bob', 'bob likes coffee', 'm-b1')");
  db.exec("INSERT INTO ext_memory_notes VALUES"
          " ('m-a1', 'old zanzibarian text'), ('m-b1', 'old bob text')");
}

std::map<std::string, int64_t> as_map(
  const std::vector<std::pair<std::string, int64_t>>& xs) {
  return {xs.begin(), xs.end()};
}

using test::dir_contains;

// One node's derived state: a shard set holding partition 0's shard (the
// memories here have no Kafka partition) and RocksDB.
struct derived {
  fs::path dir;
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<storage::vector_index> index;
  std::shared_ptr<storage::keyword_index> keywords;
  std::unique_ptr<storage::hot_state> hot;
  std::unique_ptr<storage::working_memory> working;
  int64_t applied = 0; ///< memories.seq applied to the shard
  explicit derived(const std::string& name)
    : dir(fs::temp_directory_path()
          / (name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    open();
  }
  ~derived() {
    close();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void open() {
    storage::shard_set_config cfg;
    cfg.dir = (dir / "index").string();
    cfg.vectors.dims = 4;
    cfg.vectors.model = "test-model";
    cfg.vectors.initial_capacity = 64;
    shards = std::make_shared<storage::shard_set>(cfg);
    auto s = shards->open(0);
    BOOST_REQUIRE_MESSAGE(s, why(s));
    index = (*s)->vectors;
    keywords = (*s)->keywords;
    applied = (*s)->watermark();
    auto h = storage::hot_state::open((dir / "rocksdb").string());
    BOOST_REQUIRE_MESSAGE(h, why(h));
    hot = std::move(*h);
    auto w = storage::working_memory::open((dir / "working_memory").string(),
                                           {});
    BOOST_REQUIRE_MESSAGE(w, why(w));
    working = std::move(*w);
  }
  void close() {
    index.reset();
    keywords.reset();
    shards.reset();
    hot.reset();
    working.reset();
  }
  storage::derived_stores stores() {
    return {shards.get(), hot.get(), working.get(), nullptr};
  }
  void sync(gov_db& db, domain::tombstone_set* tombs, int64_t del_from = 0) {
    auto r = storage::sync_shards(*db.pg, *shards, *hot, {0}, applied);
    BOOST_REQUIRE_MESSAGE(r, why(r));
    applied = r->watermark;
    auto d = storage::sync_deletions(*db.gov, stores(), tombs, del_from);
    BOOST_REQUIRE_MESSAGE(d, why(d));
  }
  void save() {
    BOOST_REQUIRE(!shards->save(0, applied));
    BOOST_REQUIRE(!hot->flush());
  }
  size_t hot_keys_containing(const std::string& needle) {
    size_t n = 0;
    auto err = hot->scan([&](const std::string& k, const std::string& v) {
      n += (k.find(needle) != std::string::npos
            || v.find(needle) != std::string::npos)
             ? 1
             : 0;
    });
    BOOST_REQUIRE(!err);
    return n;
  }
  size_t keyword_hits(const std::string& user, const std::string& q) {
    storage::vector_filter f;
    f.user_id = user;
    return keywords->search(q, 10, f).size();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(governance_suite)

BOOST_FIXTURE_TEST_CASE(deleting_a_user_removes_their_rows_from_every_table_and_keeps_other_users,
                        gov_db) {
  add_foreign_tables();
  seed(*this, now_ms() - day_ms);
  BOOST_REQUIRE(rows_containing("zanzibarian") > 0);
  auto before_bob = rows_containing("bob");
  auto del = gov->delete_user("alice");
  BOOST_REQUIRE_MESSAGE(del, why(del));
  auto t = as_map(del->tables);
  BOOST_TEST(t["user_activities"] == 2);
  BOOST_TEST(t["file_uploads"] == 1);
  BOOST_TEST(t["memories"] == 2);
  // memory_links is a view over memories: its rows went with them.
  BOOST_TEST(t.count("memory_links") == 0);
  BOOST_TEST(count("SELECT count(*) FROM memory_links l JOIN memories m"
                   " USING (memory_id) WHERE m.user_id = 'bob'")
             == 1);
  BOOST_TEST(count("SELECT count(*) FROM memory_links") == 1);
  BOOST_TEST(t["agent_sessions"] == 1);
  BOOST_TEST(t["usage_analytics"] == 1);
  BOOST_TEST(t["ext_facts"] == 1);
  BOOST_TEST(t["ext_memory_notes"] == 1);
  // No text of Alice's is left anywhere; Bob's rows are all there.
  for (auto& r : all_rows())
    BOOST_TEST(r.find("zanzibarian") == std::string::npos, r);
  BOOST_TEST(rows_containing("bob") == before_bob);
  BOOST_TEST(count("SELECT count(*) FROM memories WHERE user_id = 'bob'")
             == 1);
  // Tombstone and log entry; the cutoff covers everything stored.
  BOOST_TEST(del->cutoff_ms >= del->deleted_at_ms);
  BOOST_TEST(count("SELECT count(*) FROM user_tombstones"
                   " WHERE user_id = 'alice'")
             == 1);
  auto log = gov->deletions_after(0, 10);
  BOOST_REQUIRE_MESSAGE(log, why(log));
  BOOST_REQUIRE(log->size() == 1u);
  BOOST_TEST((*log)[0].kind == "user");
  BOOST_TEST((*log)[0].user_id == "alice");
  BOOST_TEST((*log)[0].cutoff_ms == del->cutoff_ms);
  BOOST_TEST((*log)[0].seq == del->deletion_seq);
  // Deleting again (or an unknown user) succeeds with nothing to remove.
  auto again = gov->delete_user("alice");
  BOOST_REQUIRE_MESSAGE(again, why(again));
  for (auto& [table, n] : again->tables)
    BOOST_TEST(n == 0, table);
}

BOOST_FIXTURE_TEST_CASE(identifiers_are_quoted_and_user_ids_are_parameters,
                        gov_db) {
  exec("CREATE TABLE \"Odd \"\"Name\" (user_id text, note text)");
  exec("INSERT INTO \"Odd \"\"Name\" VALUES ('x''; DROP TABLE memories; --',"
       " 'odd secret'), ('bob', 'bob odd')");
  auto del = gov->delete_user("x'; DROP TABLE memories; --");
  BOOST_REQUIRE_MESSAGE(del, why(del));
  BOOST_TEST(as_map(del->tables)["Odd \"Name"] == 1);
  BOOST_TEST(rows_containing("odd secret") == 0u);
  BOOST_TEST(rows_containing("bob odd") == 1u);
  BOOST_TEST(count("SELECT count(*) FROM pg_tables WHERE tablename ="
                   " 'memories'")
             == 1);
}

BOOST_FIXTURE_TEST_CASE(a_tombstoned_users_old_events_are_dropped_inside_the_commit_and_newer_ones_accepted,
                        gov_db) {
  auto t = now_ms() - day_ms;
  auto a1 = act("a1", "alice", "s-a", t, "alice before deletion");
  commit(make_batch({a1}, {mem(a1)}, 1));
  auto del = gov->delete_user("alice");
  BOOST_REQUIRE_MESSAGE(del, why(del));
  // Redelivery of the old event, an old event not seen before, a new one
  // after the cutoff, and Bob.
  auto old2 = act("a2", "alice", "s-a", t + 5, "alice replayed old");
  auto fresh = act("a3", "alice", "s-new", del->cutoff_ms + 60'000,
                   "alice came back");
  auto b1 = act("b1", "bob", "s-b", t, "bob here");
  auto b = make_batch({a1, old2, fresh, b1},
                      {mem(a1), mem(old2), mem(fresh), mem(b1)}, 42);
  auto r = pg->commit_batch(b, "g", "test-model");
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->tombstoned == 2u);
  BOOST_REQUIRE(r->tombstones.size() == 1u);
  BOOST_TEST(r->tombstones[0].first == "alice");
  BOOST_TEST(r->new_activities == 2u);
  BOOST_TEST(r->memories_written == 2u);
  BOOST_TEST(rows_containing("alice before deletion") == 0u);
  BOOST_TEST(rows_containing("alice replayed old") == 0u);
  BOOST_TEST(count("SELECT count(*) FROM user_activities"
                   " WHERE user_id = 'alice'")
             == 1);
  BOOST_TEST(count("SELECT count(*) FROM agent_sessions"
                   " WHERE user_id = 'alice'")
             == 1);
  BOOST_TEST(count("SELECT total_interactions FROM agent_sessions"
                   " WHERE user_id = 'alice'")
             == 1);
  BOOST_TEST(count("SELECT count(*) FROM memories WHERE user_id = 'bob'")
             == 1);
  // The offsets of the dropped events are committed all the same.
  BOOST_TEST(count("SELECT next_offset FROM kafka_offsets") == 42);
  // A batch of the returned user alone reports no tombstone hit.
  auto fresh2 = act("a4", "alice", "s-new", del->cutoff_ms + 70'000,
                    "alice again");
  auto r2 = pg->commit_batch(make_batch({fresh2}, {mem(fresh2)}, 43), "g",
                             "test-model");
  BOOST_REQUIRE_MESSAGE(r2, why(r2));
  BOOST_TEST(r2->tombstoned == 0u);
  BOOST_TEST(r2->tombstones.empty());
  BOOST_TEST(r2->new_activities == 1u);
  // The drop itself is pure and recomputes rollups.
  domain::tombstone_map tm{{"alice", del->cutoff_ms}};
  auto copy = b;
  BOOST_TEST(domain::drop_tombstoned(copy, tm) == 2u);
  BOOST_TEST(copy.activities.size() == 2u);
  BOOST_TEST(copy.memories.size() == 2u);
  BOOST_TEST(copy.offsets.size() == 1u);
  // A versioned memory behind a tombstoned one: its change names its
  // position in the batch as passed (the writer applies changes to that).
  auto b2 = act("b2", "bob", "s-b", t + 10, "bob summary source");
  auto summary = mem(b2);
  summary.memory_id = "summary-bob-s-b";
  summary.memory_type = memory_types::session_summary;
  summary.text = "bob talked about here";
  auto r3 = pg->commit_batch(make_batch({old2, b2}, {mem(old2), summary}, 44),
                             "g", "test-model");
  BOOST_REQUIRE_MESSAGE(r3, why(r3));
  BOOST_TEST(r3->tombstoned == 1u);
  BOOST_REQUIRE(r3->changes.size() == 1u);
  BOOST_TEST(r3->changes[0].index == 1u);
  BOOST_TEST(r3->changes[0].stored.memory_id == "summary-bob-s-b");
}

BOOST_FIXTURE_TEST_CASE(export_pages_through_every_row_of_the_user_and_nothing_of_others,
                        gov_db) {
  add_foreign_tables();
  seed(*this, now_ms() - day_ms);
  std::map<std::string, int> per_table;
  std::vector<std::string> lines;
  auto err = gov->export_user(
    "alice", 1, [&](const std::string& table, const std::string& row) {
      lines.push_back(row);
      ++per_table[table];
      return true;
    });
  BOOST_REQUIRE_MESSAGE(!err, why(err));
  BOOST_TEST(per_table["user_activities"] == 2);
  BOOST_TEST(per_table["file_uploads"] == 1);
  BOOST_TEST(per_table["memories"] == 2);
  // A view (memory_links) is not exported: its rows are the memories'.
  BOOST_TEST(per_table.count("memory_links") == 0);
  BOOST_TEST(per_table["agent_sessions"] == 1);
  BOOST_TEST(per_table["usage_analytics"] == 1);
  BOOST_TEST(per_table["ext_facts"] == 1);
  BOOST_TEST(per_table["ext_memory_notes"] == 1);
  for (auto& l : lines) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    BOOST_TEST(j.is_object(), l);
    BOOST_TEST(l.find("bob") == std::string::npos, l);
  }
  // The sink can stop the export.
  int seen = 0;
  err = gov->export_user("alice", 1, [&](const std::string&,
                                         const std::string&) {
    return ++seen < 3;
  });
  BOOST_TEST(!err);
  BOOST_TEST(seen == 3);
}

BOOST_FIXTURE_TEST_CASE(deletion_log_reaches_index_keywords_and_rocksdb_also_over_an_old_snapshot,
                        gov_db) {
  auto t = now_ms() - day_ms;
  auto a1 = act("a1", "alice", "s-a", t, "alice zanzibarian secret one");
  auto b1 = act("b1", "bob", "s-b", t, "bob ordinary note");
  commit(make_batch({a1, b1}, {mem(a1), mem(b1)}));
  derived d{"agentmem-gov-derived"};
  domain::tombstone_set tombs;
  d.sync(*this, &tombs);
  BOOST_REQUIRE(d.index->user_size("alice") == 1u);
  BOOST_REQUIRE(d.keyword_hits("alice", "zanzibarian") == 1u);
  BOOST_REQUIRE(d.hot_keys_containing("zanzibarian") > 0u);
  // Working memory of a live session (extraction writes it on every node
  // that consumes the user's partition), flushed to SST files.
  BOOST_REQUIRE(!d.working->append({a1, b1}));
  BOOST_REQUIRE(!d.working->compact());
  BOOST_REQUIRE(dir_contains(d.dir / "working_memory", "zanzibarian"));
  d.save(); // the "old" snapshot, taken before the deletion
  auto snapshot_copy = d.dir.string() + "-old";
  fs::remove_all(snapshot_copy);
  fs::copy(d.dir / "index", snapshot_copy, fs::copy_options::recursive);
  BOOST_REQUIRE(dir_contains(snapshot_copy, "zanzibarian"));

  auto del = gov->delete_user("alice");
  BOOST_REQUIRE_MESSAGE(del, why(del));
  d.sync(*this, &tombs);
  BOOST_TEST(d.index->user_size("alice") == 0u);
  BOOST_TEST(d.index->user_size("bob") == 1u);
  BOOST_TEST(d.keyword_hits("alice", "zanzibarian") == 0u);
  BOOST_TEST(d.keyword_hits("bob", "ordinary") == 1u);
  BOOST_TEST(d.hot_keys_containing("zanzibarian") == 0u);
  BOOST_TEST(d.hot_keys_containing("bob ordinary") > 0u);
  // Not only unreadable: gone from RocksDB's files (SST, WAL), while
  // Bob's data stays.
  BOOST_TEST(!dir_contains(d.dir / "rocksdb", "zanzibarian"));
  BOOST_TEST(dir_contains(d.dir / "rocksdb", "bob ordinary"));
  // Working memory too, while its TTL has not run out (this store applied
  // the log entry as a node that was not the one serving the DELETE).
  auto alice_wm = d.working->get("alice", "s-a");
  BOOST_REQUIRE(alice_wm);
  BOOST_TEST(!alice_wm->has_value());
  auto bob_wm = d.working->get("bob", "s-b");
  BOOST_REQUIRE(bob_wm);
  BOOST_TEST(bob_wm->has_value());
  // (Bob's values stay; "ordinary" occurs once per block, so Snappy keeps
  // it literal, while "bob" may become a back-reference.)
  BOOST_TEST(!dir_contains(d.dir / "working_memory", "zanzibarian"));
  BOOST_TEST(dir_contains(d.dir / "working_memory", "ordinary"));
  BOOST_TEST(!tombs.empty());
  BOOST_TEST(domain::is_tombstoned(*tombs.snapshot(), "alice", t));
  d.save();
  BOOST_TEST(!dir_contains(d.dir / "index", "zanzibarian"));

  // Restart over the OLD index snapshot: replaying the log from 0 removes
  // Alice again; a memory of Alice after the cutoff (she came back) stays.
  auto back = act("a9", "alice", "s-new", del->cutoff_ms + 60'000,
                  "alice returns");
  commit(make_batch({back}, {mem(back)}));
  d.close();
  fs::remove_all(d.dir / "index");
  fs::copy(snapshot_copy, d.dir / "index", fs::copy_options::recursive);
  fs::remove_all(snapshot_copy);
  d.open();
  BOOST_REQUIRE(d.index->user_size("alice") == 1u);
  domain::tombstone_set fresh_tombs;
  d.sync(*this, &fresh_tombs);
  BOOST_TEST(d.index->user_size("alice") == 1u); // only the new memory
  BOOST_TEST(d.keyword_hits("alice", "zanzibarian") == 0u);
  BOOST_TEST(d.keyword_hits("alice", "returns") == 1u);
  d.save();
  BOOST_TEST(!dir_contains(d.dir / "index", "zanzibarian"));
  BOOST_TEST(!fresh_tombs.empty());
}

BOOST_FIXTURE_TEST_CASE(retention_closes_idle_sessions_and_deletes_old_sessions_and_old_unimportant_memories,
                        gov_db) {
  auto now = now_ms();
  // s-old: last activity 40 days ago -> deleted with its rows.
  auto o1 = act("o1", "carol", "s-old", now - 40 * day_ms, "carol old session");
  // s-idle: 2 hours idle, open -> closed.
  auto i1 = act("i1", "carol", "s-idle", now - 2 * 3'600'000, "carol idle");
  // s-mixed: active now, holds a 20-day-old unimportant memory (deleted)
  // and a 20-day-old important one (kept).
  auto m1 = act("m1", "carol", "s-mixed", now - 20 * day_ms, "carol trivia");
  auto m2 = act("m2", "carol", "s-mixed", now - 20 * day_ms + 1, "carol vital");
  auto m3 = act("m3", "carol", "s-mixed", now - 1000, "carol recent");
  auto mo = mem(o1), mi = mem(i1), mt = mem(m1, 0.1), mv = mem(m2, 0.9),
       mr = mem(m3, 0.1);
  commit(make_batch({o1, i1, m1, m2, m3}, {mo, mi, mt, mv, mr}));
  derived d{"agentmem-gov-retention"};
  d.sync(*this, nullptr);
  BOOST_REQUIRE(d.index->user_size("carol") == 5u);

  storage::retention_policy p;
  p.close_idle_sessions_ms = 60 * 60'000;
  p.delete_sessions_after_ms = 30 * day_ms;
  p.min_importance = 0.5;
  p.delete_memories_after_ms = 10 * day_ms;
  // Rows just committed are protected by the grace period...
  auto early = gov->apply_retention(p);
  BOOST_REQUIRE_MESSAGE(early, why(early));
  BOOST_TEST(early->rows_deleted == 0);
  BOOST_TEST(early->sessions_closed == 2); // s-old and s-idle (not grace-bound)
  // ...which a pass without grace (the rows are "old enough") ignores.
  p.grace_ms = 0;
  auto r = gov->apply_retention(p);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->sessions_deleted == 1);
  BOOST_TEST(r->activities_deleted == 1);
  BOOST_TEST(r->memories_deleted == 2); // old session's + the trivia
  BOOST_TEST(r->sessions_closed == 0);
  BOOST_TEST(count("SELECT count(*) FROM agent_sessions WHERE session_id ="
                   " 's-idle' AND ended_at IS NOT NULL")
             == 1);
  BOOST_TEST(count("SELECT count(*) FROM agent_sessions WHERE session_id ="
                   " 's-mixed' AND ended_at IS NULL")
             == 1);
  BOOST_TEST(rows_containing("carol old session") == 0u);
  BOOST_TEST(rows_containing("carol trivia") == 1u); // activity kept
  BOOST_TEST(count("SELECT count(*) FROM memories WHERE text ="
                   " 'carol trivia'")
             == 0);
  BOOST_TEST(count("SELECT count(*) FROM memories") == 3);
  // Derived state follows through the log.
  d.sync(*this, nullptr);
  BOOST_TEST(!d.index->contains(mo.point_id));
  BOOST_TEST(!d.index->contains(mt.point_id));
  BOOST_TEST(d.index->contains(mv.point_id));
  BOOST_TEST(d.index->contains(mr.point_id));
  BOOST_TEST(d.index->contains(mi.point_id));
  BOOST_TEST(d.keyword_hits("carol", "trivia") == 0u);
  BOOST_TEST(d.keyword_hits("carol", "vital") == 1u);
  BOOST_TEST(d.hot_keys_containing("carol old session") == 0u);
  auto msgs = d.hot->session_messages("carol", "s-old", 10);
  BOOST_REQUIRE(msgs);
  BOOST_TEST(msgs->empty());
  // A second pass finds nothing more to do.
  auto again = gov->apply_retention(p);
  BOOST_REQUIRE_MESSAGE(again, why(again));
  BOOST_TEST(again->rows_deleted == 0);
  BOOST_TEST(again->sessions_closed == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(governance_context_suite)

// A low-importance turn that retention deletes lives on as the retrieval
// context of the next turn (text for BM25, text + context for its vector).
// Retention clears that context and recomputes the vector from the turn's
// own text in the same transaction; every node re-indexes the row.
BOOST_FIXTURE_TEST_CASE(retention_removes_a_deleted_turn_from_the_next_turns_context_and_vector,
                        gov_db) {
  auto now = now_ms();
  auto emb = domain::make_embedder("hashing", 4);
  BOOST_REQUIRE_MESSAGE(emb, why(emb));
  auto embed = [&](const std::string& text) {
    std::vector<std::string_view> texts{text};
    std::vector<std::vector<float>> out;
    BOOST_REQUIRE(!(*emb)->embed(texts, out));
    return out.at(0);
  };
  auto t1 = act("c1", "dora", "s-ctx", now - 20 * day_ms,
                "dora zanzibarian trivia");
  auto t2 = act("c2", "dora", "s-ctx", now - 20 * day_ms + 1,
                "dora vital answer");
  auto m1 = mem(t1, 0.1), m2 = mem(t2, 0.9);
  m2.context = t1.content;
  m1.vector = embed(m1.text);
  m2.vector = embed(m2.text + "\n" + m2.context);
  commit(make_batch({t1, t2}, {m1, m2}));
  derived d{"agentmem-gov-context"};
  d.sync(*this, nullptr);
  BOOST_REQUIRE(d.keyword_hits("dora", "zanzibarian") == 2u);
  const auto seq_before =
    count("SELECT seq FROM memories WHERE memory_id = 'm-c2'");

  storage::retention_policy p;
  p.min_importance = 0.5;
  p.delete_memories_after_ms = 10 * day_ms;
  p.grace_ms = 0;
  auto r = gov->apply_retention(p, emb->get());
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_TEST(r->memories_deleted == 1);
  BOOST_TEST(r->contexts_cleared == 1);
  BOOST_TEST(count("SELECT count(*) FROM memories WHERE memory_id = 'm-c2'"
                   " AND context IS NULL")
             == 1);
  BOOST_TEST(count("SELECT seq FROM memories WHERE memory_id = 'm-c2'")
             > seq_before);
  // The stored vector is the embedding of the text alone now.
  {
    pqxx::connection c{url};
    pqxx::read_transaction tx{c};
    auto hex = tx.exec("SELECT '\\x' || encode(embedding, 'hex') FROM"
                       " memories WHERE memory_id = 'm-c2'")[0][0]
                 .as<std::string>();
    BOOST_TEST(hex == storage::detail::vector_to_bytea_hex(embed(m2.text)));
    BOOST_TEST(hex != storage::detail::vector_to_bytea_hex(m2.vector));
  }
  BOOST_TEST(rows_containing("zanzibarian") == 1u); // the activity is kept
  // Derived state: the deleted text is gone from the keyword index.
  d.sync(*this, nullptr);
  BOOST_TEST(d.keyword_hits("dora", "zanzibarian") == 0u);
  BOOST_TEST(d.keyword_hits("dora", "vital") == 1u);
  BOOST_TEST(!d.index->contains(m1.point_id));
  BOOST_TEST(d.index->contains(m2.point_id));
}

BOOST_AUTO_TEST_SUITE_END()
