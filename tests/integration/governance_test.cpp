// Per-user deletion end to end: the real agentmem binary, librdkafka's mock
// cluster (or a real broker, AGENTMEM_IT_BROKER=real), a private Postgres.
// A deleted user's text must be gone from the search API (all modes), every
// Postgres table, RocksDB and the index snapshots on disk — also after a
// restart over an index snapshot taken BEFORE the deletion and a replay of
// the topic from offset 0 — while another user's data stays.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "harness.hpp"
#include "kafka/producer.hpp"
#include "storage/governance_store.hpp"
#include "storage/hot_state.hpp"
#include "storage/working_memory.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string topic = "agent.activity.governance.v1";
const std::string secret = "xylophonic";  // only in Alice's events
const std::string stem = "xylophon";      // what the keyword index keeps

std::pair<std::string, std::string>
message(const std::string& id, const std::string& user,
        const std::string& session, int64_t ts, const std::string& content) {
  json e = {{"event_id", id},     {"ts", rfc3339_ms(ts)},
            {"user_id", user},    {"session_id", session},
            {"agent_type", "chat"}, {"event_type", "message"},
            {"role", "user"},     {"content", content}};
  return {user, e.dump()};
}

std::pair<std::string, std::string>
important(const std::string& id, const std::string& user,
          const std::string& session, int64_t ts, const std::string& content,
          double importance) {
  json e = json::parse(message(id, user, session, ts, content).second);
  e["importance"] = importance;
  return {user, e.dump()};
}

std::pair<std::string, std::string>
upload(const std::string& id, const std::string& user,
       const std::string& session, int64_t ts, const std::string& text) {
  json e = {{"event_id", id},       {"ts", rfc3339_ms(ts)},
            {"user_id", user},      {"session_id", session},
            {"agent_type", "chat"}, {"event_type", "file_upload"},
            {"file", {{"filename", "notes.txt"}, {"text", text}}}};
  return {user, e.dump()};
}

size_t hits(http_client& http, const std::string& user,
            const std::string& query, const std::string& mode) {
  json req = {{"user_id", user}, {"query", query}, {"mode", mode},
              {"top_k", 50}};
  auto r = http.post_json("/v1/memories/search", req.dump());
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.body);
  auto j = json::parse(r.body);
  size_t n = 0;
  for (auto& h : j["results"])
    n += h["text"].get<std::string>().find(query) != std::string::npos ? 1 : 0;
  return n;
}

using agentmem::test::dir_contains;

// Rows of every table of the schema whose text contains `needle`.
int64_t pg_rows_containing(const std::string& url, const std::string& needle) {
  pqxx::connection c{url};
  pqxx::work tx{c};
  int64_t n = 0;
  for (const auto& t : tx.exec("SELECT quote_ident(tablename) FROM pg_tables"
                               " WHERE schemaname = current_schema()"))
    n += tx
           .exec_params("SELECT count(*) FROM " + t[0].as<std::string>()
                          + " t WHERE strpos(t::text, $1) > 0",
                        needle)[0][0]
           .as<int64_t>();
  return n;
}

// RocksDB keys or values containing `needle` (node stopped: exclusive).
size_t rocksdb_containing(const fs::path& dir, const std::string& needle) {
  auto hot = storage::hot_state::open(dir.string());
  BOOST_REQUIRE_MESSAGE(hot, error_of(hot));
  size_t n = 0;
  auto err = (*hot)->scan([&](const std::string& k, const std::string& v) {
    n += (k.find(needle) != std::string::npos
          || v.find(needle) != std::string::npos)
           ? 1
           : 0;
  });
  BOOST_REQUIRE(!err);
  return n;
}

// HTTP status of a session's working memory (200: items, 404: none).
int working_memory_status(http_client& http, const std::string& user,
                          const std::string& session,
                          std::string* body = nullptr) {
  auto r = http.get("/v1/sessions/" + session + "/working-memory?user_id="
                    + user);
  if (body)
    *body = r.body;
  return r.status;
}

std::vector<json> export_lines(uint16_t port, const std::string& user) {
  http_client http{port, 30s};
  auto r = http.get("/v1/users/" + user + "/export");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.body);
  std::vector<json> out;
  std::istringstream in{r.body};
  std::string line;
  while (std::getline(in, line))
    out.push_back(json::parse(line));
  return out;
}

// The stores a node writes, and how user deletion and export cover each
// (docs/data-governance.md, "Where a user's data lives"). Anything not
// listed here fails: a new store needs deletion coverage
// (storage::derived_stores / apply_deletion, governance_store) and export
// coverage (governance_service::open_export) first, then a line here and
// in the docs. Run on a stopped node's data dir after traffic.
void check_store_inventory(const std::string& url, const fs::path& data_dir) {
  const std::map<std::string, std::set<std::string>> dir_stores = {
    // hot_state: conversation buffer (exported), session states, memory
    // docs (copies of Postgres rows), watermarks; erase_user + compaction.
    {"rocksdb", {"m|", "s|", "d|", "w|"}},
    // working_memory: session headers and items (exported); erase_user +
    // compaction.
    {"working_memory", {"h|", "i|"}},
    // One shard per owned partition: hnswlib and BM25 snapshots (copies
    // of Postgres memories); remove_user, then rewritten.
    {"shards", {}},
    // HTTP provider's vectors by text digest; cleared on user deletion.
    {"embedding_cache", {}},
  };
  for (auto& e : fs::directory_iterator(data_dir)) {
    auto name = e.path().filename().string();
    BOOST_TEST(dir_stores.count(name) == 1u,
               "data dir entry '" << name << "' is not in the store "
               "inventory: cover it in user deletion and export, then list it");
  }
  auto check_kinds = [&](const std::string& store, const std::string& key) {
    auto& kinds = dir_stores.at(store);
    BOOST_TEST(kinds.count(key.substr(0, 2)) == 1u,
               store << " key kind '" << key.substr(0, 2) << "' is not in "
               "the store inventory");
  };
  {
    auto hot = storage::hot_state::open((data_dir / "rocksdb").string());
    BOOST_REQUIRE_MESSAGE(hot, error_of(hot));
    BOOST_REQUIRE(!(*hot)->scan([&](const std::string& k, const std::string&) {
      check_kinds("rocksdb", k);
    }));
  }
  {
    auto wm = storage::working_memory::open(
      (data_dir / "working_memory").string(), {});
    BOOST_REQUIRE_MESSAGE(wm, error_of(wm));
    size_t keys = 0;
    BOOST_REQUIRE(!(*wm)->scan([&](const std::string& k, const std::string&) {
      check_kinds("working_memory", k);
      ++keys;
    }));
    BOOST_TEST(keys > 0u); // the inventory ran over a store in use
  }
  // Postgres: user tables are discovered by governance_store (user_id
  // column, or memory_id / activity_id links); the rest must hold no user
  // content.
  const std::set<std::string> no_user_content = {
    "schema_migrations", "kafka_offsets", "collections", "deletions",
    // analytics (040, 041): stream time per partition; the skills registry
    // and agents' bindings are operator configuration, not user data
    "analytics_stream_time", "skills", "agent_skill_bindings",
    // the routing table: nodes and partition owners (docs/operations.md)
    "cluster_nodes", "partition_owners"};
  pqxx::connection c{url};
  pqxx::work tx{c};
  for (const auto& t : tx.exec(
         "SELECT c.relname, bool_or(a.attname IN ('user_id', 'memory_id',"
         " 'activity_id')) FROM pg_class c JOIN pg_namespace n"
         " ON n.oid = c.relnamespace JOIN pg_attribute a"
         " ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
         " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
         " GROUP BY c.relname")) {
    auto table = t[0].as<std::string>();
    BOOST_TEST((t[1].as<bool>() || no_user_content.count(table) == 1u),
               "table " << table << " holds neither user_id, memory_id nor "
               "activity_id: user deletion and export would miss it");
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(
  a_deleted_user_is_gone_everywhere_and_stays_gone_after_replay_and_restart,
  agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-governance"};
  test_kafka cluster{broker_from_env(),
                     {{topic, 2}, {topic + ".dlq", 1}},
                     tmp.path()};
  node_options o{cluster, topic, "agentmem-governance", url, tmp / "data"};
  o.snapshot_interval_ms = 500;
  agentmem_node node{o, tmp.path()};
  BOOST_REQUIRE_MESSAGE(node.start().empty(), "agentmem did not start");
  pg_probe pg{url};
  http_client http{node.port(), 10s};

  // 1. Alice and Bob talk; everything is stored and searchable.
  auto t0 = wall_ms() - 120'000;
  std::vector<std::pair<std::string, std::string>> alice, bob;
  for (int i = 0; i < 6; ++i)
    alice.push_back(message("a-" + std::to_string(i), "alice", "s-a", t0 + i,
                            "alice " + secret + " secret number "
                              + std::to_string(i)));
  alice.push_back(upload("a-file", "alice", "s-a", t0 + 10,
                         "alice " + secret + " document body"));
  for (int i = 0; i < 4; ++i)
    bob.push_back(message("b-" + std::to_string(i), "bob", "s-b", t0 + i,
                          "bob plainspoken words " + std::to_string(i)));
  auto all = alice;
  all.insert(all.end(), bob.begin(), bob.end());
  publish_events(o.brokers, topic, all);
  int64_t published = static_cast<int64_t>(all.size());
  auto wait_offsets = [&](int64_t total) {
    auto err = wait_stored_offsets(pg, node, o.group_id, topic, total);
    BOOST_REQUIRE_MESSAGE(err.empty(), err);
  };
  wait_offsets(published);
  BOOST_REQUIRE(hits(http, "alice", secret, "keyword") > 0);
  const auto bob_hits = hits(http, "bob", "plainspoken", "keyword");
  BOOST_REQUIRE(bob_hits >= 4u);
  // Her session's working memory (TTL 30 min) holds the secret too.
  {
    std::string body;
    BOOST_REQUIRE_EQUAL(working_memory_status(http, "alice", "s-a", &body),
                        200);
    BOOST_TEST(body.find(secret) != std::string::npos);
  }
  // A snapshot of the shards holding Alice, kept aside as a stale backup.
  auto index_dir = fs::path{o.data_dir} / "shards";
  auto err = wait_until("a snapshot holding Alice's terms", 30s,
                        [&] { return dir_contains(index_dir, stem); },
                        [] { return std::string{"none"}; });
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  auto stale = tmp / "stale-index";
  fs::copy(index_dir, stale, fs::copy_options::recursive);

  // 2. Export: every row of Alice as JSON Lines, nothing of Bob's.
  {
    auto lines = export_lines(node.port(), "alice");
    BOOST_REQUIRE(!lines.empty());
    BOOST_TEST(lines.back()["end"] == true);
    std::map<std::string, int64_t> per_table;
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      per_table[lines[i]["table"].get<std::string>()] += 1;
      BOOST_TEST(lines[i].dump().find("bob") == std::string::npos);
    }
    BOOST_TEST(per_table["user_activities"] == 7);
    BOOST_TEST(per_table["user_activities"]
               == pg.scalar("SELECT count(*) FROM user_activities"
                            " WHERE user_id = 'alice'"));
    BOOST_TEST(per_table["memories"]
               == pg.scalar("SELECT count(*) FROM memories"
                            " WHERE user_id = 'alice'"));
    // A view (memory_links) is not exported: its rows are the memories'.
    BOOST_TEST(per_table.count("memory_links") == 0);
    BOOST_TEST(per_table["file_uploads"] == 1);
    BOOST_TEST(per_table["agent_sessions"] == 1);
    BOOST_TEST(per_table["conversation_buffer"] == 6);
    BOOST_TEST(per_table["working_memory"] == 6);
  }

  // 3. Delete Alice.
  {
    http_client del{node.port(), 30s};
    auto r = del.del("/v1/users/alice");
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.body);
    auto rep = json::parse(r.body);
    BOOST_TEST(rep["postgres"]["tables"]["user_activities"] == 7);
    BOOST_TEST(rep["postgres"]["tables"]["file_uploads"] == 1);
    BOOST_TEST(rep["postgres"]["tables"]["memories"].get<int64_t>() >= 7);
    BOOST_TEST(rep["vector_index"]["points"]
               == rep["postgres"]["tables"]["memories"]);
    BOOST_TEST(rep["keyword_index"]["documents"]
               == rep["postgres"]["tables"]["memories"]);
    BOOST_TEST(rep["rocksdb"]["buffered_messages"] == 6);
    BOOST_TEST(rep["rocksdb"]["memory_docs"]
               == rep["postgres"]["tables"]["memories"]);
    BOOST_TEST(rep["working_memory"]["items"] == 6);
    BOOST_TEST(rep["working_memory"]["sessions"] == 1);
  }
  auto alice_gone = [&](const char* when) {
    for (auto mode : {"keyword", "vector", "hybrid"})
      BOOST_TEST(hits(http, "alice", secret, mode) == 0u, when << " " << mode);
    BOOST_TEST(pg_rows_containing(url, secret) == 0, when);
    BOOST_TEST(hits(http, "bob", "plainspoken", "keyword") == bob_hits, when);
    BOOST_TEST(working_memory_status(http, "alice", "s-a") == 404, when);
    BOOST_TEST(working_memory_status(http, "bob", "s-b") == 200, when);
    auto lines = export_lines(node.port(), "alice");
    BOOST_TEST(lines.size() == 1u, when); // just the end line
  };
  alice_gone("right after the deletion");
  BOOST_TEST(!dir_contains(index_dir, stem));
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories WHERE user_id = 'bob'")
             == 4);

  // 4. Alice's events are replayed from Kafka (same and new ids, old
  // event time): dropped, counted, offsets committed.
  auto replay = alice;
  replay.push_back(message("a-late", "alice", "s-a", t0 + 50,
                           "alice " + secret + " late straggler"));
  publish_events(o.brokers, topic, replay);
  published += static_cast<int64_t>(replay.size());
  wait_offsets(published);
  alice_gone("after the replay");
  BOOST_TEST(node.metric("agentmem_events_tombstoned_total").value_or(0)
             >= 8.0);

  // 5. Restart over the STALE index snapshot, with the stored offsets
  // reset to 0 so the whole topic is consumed again.
  BOOST_REQUIRE_EQUAL(node.terminate(), "exit code 0");
  BOOST_TEST(rocksdb_containing(fs::path{o.data_dir} / "rocksdb", secret)
             == 0u);
  // Byte-level, over every store in the data dir (RocksDB hot state,
  // working memory, index snapshots; see also the store inventory test).
  BOOST_TEST(!dir_contains(o.data_dir, secret));
  BOOST_TEST(!dir_contains(o.data_dir, stem));
  fs::remove_all(index_dir);
  fs::copy(stale, index_dir, fs::copy_options::recursive);
  BOOST_REQUIRE(dir_contains(index_dir, stem));
  {
    pqxx::connection c{url};
    pqxx::work tx{c};
    tx.exec("UPDATE kafka_offsets SET next_offset = 0");
    tx.commit();
  }
  BOOST_REQUIRE(pg.stored_offsets(o.group_id, topic) == 0);
  BOOST_REQUIRE_MESSAGE(node.start().empty(), "agentmem did not restart");
  wait_offsets(published);
  BOOST_TEST(node.metric("agentmem_events_tombstoned_total").value_or(0)
             >= 8.0); // Alice's 8 distinct events, counted by the new process
  // (a redelivered event_id inside one batch is dropped as a duplicate
  // before the tombstone check)
  alice_gone("after the restart and full replay");

  // 6. Alice comes back after her deletion: new events are accepted.
  publish_events(o.brokers, topic,
                 {message("a-new", "alice", "s-new", wall_ms(),
                          "alice returns with kazoo news")});
  published += 1;
  wait_offsets(published);
  err = wait_until("Alice's new memory to be searchable", 30s,
                   [&] { return hits(http, "alice", "kazoo", "keyword") > 0; },
                   [] { return std::string{"no hits"}; });
  BOOST_TEST(err.empty(), err);
  BOOST_TEST(hits(http, "alice", secret, "hybrid") == 0u);

  // 7. Alice is deleted again while this node is down (as another node of
  // the group would, through the same governance_store): before it serves
  // again, the node applies the deletions log to its on-disk stores,
  // working memory included.
  BOOST_REQUIRE_EQUAL(working_memory_status(http, "alice", "s-new"), 200);
  BOOST_REQUIRE_EQUAL(node.terminate(), "exit code 0");
  BOOST_REQUIRE(dir_contains(fs::path{o.data_dir} / "working_memory", "kazoo"));
  {
    auto gov = storage::governance_store::connect(url);
    BOOST_REQUIRE_MESSAGE(gov, error_of(gov));
    auto again = (*gov)->delete_user("alice");
    BOOST_REQUIRE_MESSAGE(again, error_of(again));
  }
  BOOST_REQUIRE_MESSAGE(node.start().empty(), "agentmem did not restart");
  BOOST_TEST(working_memory_status(http, "alice", "s-new") == 404);
  BOOST_TEST(hits(http, "alice", "kazoo", "keyword") == 0u);
  BOOST_TEST(working_memory_status(http, "bob", "s-b") == 200);

  BOOST_REQUIRE_EQUAL(node.terminate(), "exit code 0");
  BOOST_TEST(!dir_contains(o.data_dir, "kazoo"));
  BOOST_TEST(rocksdb_containing(fs::path{o.data_dir} / "rocksdb", secret)
             == 0u);
  BOOST_TEST(!dir_contains(o.data_dir, secret));
  BOOST_TEST(!dir_contains(o.data_dir, stem));
  BOOST_TEST(pg_rows_containing(url, secret) == 0);
  // Every store this node wrote is one that deletion and export cover.
  check_store_inventory(url, o.data_dir);
}

BOOST_FIXTURE_TEST_CASE(
  retention_policies_remove_old_sessions_and_unimportant_memories_from_every_store,
  agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-retention"};
  test_kafka cluster{broker_from_env(),
                     {{topic, 1}, {topic + ".dlq", 1}},
                     tmp.path()};
  node_options o{cluster, topic, "agentmem-retention", url, tmp / "data"};
  o.snapshot_interval_ms = 500;
  o.extra_toml = "[retention]\nenabled = true\ninterval_s = 1\ngrace_s = 1\n"
                 "close_idle_sessions_after_minutes = 60\n"
                 "delete_sessions_after_days = 30\n"
                 "delete_memories_below_importance = 0.5\n"
                 "delete_memories_after_days = 10\n";
  agentmem_node node{o, tmp.path()};
  BOOST_REQUIRE_MESSAGE(node.start().empty(), "agentmem did not start");
  pg_probe pg{url};
  http_client http{node.port(), 10s};
  const int64_t day = 86'400'000, now = wall_ms();
  publish_events(o.brokers, topic,
                 {important("o1", "carol", "s-old", now - 40 * day,
                            "carol ancient quokka", 0.9),
                  important("i1", "carol", "s-idle", now - 2 * 3'600'000,
                            "carol idle platypus", 0.9),
                  important("m1", "carol", "s-mixed", now - 20 * day,
                            "carol trivial wombat", 0.1),
                  important("m2", "carol", "s-mixed", now - 20 * day + 1,
                            "carol vital echidna", 0.9),
                  important("m3", "carol", "s-mixed", now - 1000,
                            "carol current numbat", 0.1)});
  auto err = wait_until(
    "retention to remove the old session and the trivial memory", 60s,
    [&] {
      return pg.stored_offsets(o.group_id, topic) == 5
             && pg.scalar("SELECT count(*) FROM memories") == 3
             && pg.scalar("SELECT count(*) FROM agent_sessions") == 2;
    },
    [&] {
      return "memories "
             + std::to_string(pg.scalar("SELECT count(*) FROM memories"))
             + ", sessions "
             + std::to_string(pg.scalar("SELECT count(*) FROM agent_sessions"));
    },
    [&] { return node.death(); });
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM agent_sessions WHERE session_id"
                       " = 's-idle' AND ended_at IS NOT NULL")
             == 1);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM agent_sessions WHERE session_id"
                       " = 's-mixed' AND ended_at IS NULL")
             == 1);
  BOOST_TEST(pg_rows_containing(url, "quokka") == 0);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories WHERE text LIKE"
                       " '%wombat%'")
             == 0);
  // The index follows through the deletions log.
  err = wait_until("search to drop the removed memories", 30s, [&] {
    return hits(http, "carol", "quokka", "keyword") == 0
           && hits(http, "carol", "wombat", "hybrid") == 0;
  }, [] { return std::string{"still found"}; });
  BOOST_TEST(err.empty(), err);
  for (auto kept : {"platypus", "echidna", "numbat"})
    BOOST_TEST(hits(http, "carol", kept, "keyword") == 1u, kept);
  auto text = node.metrics();
  BOOST_TEST(metric_value(text, "agentmem_retention_removed_total",
                          "kind=\"sessions\"")
               .value_or(0)
             >= 1.0);
  BOOST_TEST(metric_value(text, "agentmem_retention_removed_total",
                          "kind=\"memories\"")
               .value_or(0)
             >= 2.0);
  BOOST_TEST(metric_value(text, "agentmem_retention_removed_total",
                          "kind=\"sessions_closed\"")
               .value_or(0)
             >= 1.0);
  BOOST_TEST(metric_value(text, "agentmem_deleted_items_total",
                          "store=\"vector_index\"")
               .value_or(0)
             >= 2.0);
  {
    auto [status, output] = run_with_input(
      {"/usr/bin/promtool", "check", "metrics"}, text, tmp / "promtool");
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0),
               "promtool check metrics:\n" << output);
    BOOST_TEST(output.empty(), "promtool check metrics reported:\n" << output);
  }
  BOOST_REQUIRE_EQUAL(node.terminate(), "exit code 0");
  BOOST_TEST(rocksdb_containing(fs::path{o.data_dir} / "rocksdb", "quokka")
             == 0u);
  BOOST_TEST(!dir_contains(fs::path{o.data_dir} / "shards", "quokka"));
  BOOST_TEST(!dir_contains(fs::path{o.data_dir} / "shards", "wombat"));
  BOOST_TEST(dir_contains(fs::path{o.data_dir} / "shards", "echidna"));
}

BOOST_FIXTURE_TEST_CASE(
  a_deletion_on_one_node_reaches_the_other_nodes_index_rocksdb_and_snapshots,
  agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-governance-2n"};
  test_kafka cluster{broker_from_env(),
                     {{topic, 2}, {topic + ".dlq", 1}},
                     tmp.path()};
  auto options = [&](const std::string& name) {
    node_options o{cluster, topic, "agentmem-governance-2n", url,
                   tmp / (name + "/data")};
    o.snapshot_interval_ms = 500;
    fs::create_directories(tmp / name);
    return o;
  };
  agentmem_node a{options("a"), tmp / "a"};
  agentmem_node b{options("b"), tmp / "b"};
  BOOST_REQUIRE_MESSAGE(a.start().empty(), "node A did not start");
  BOOST_REQUIRE_MESSAGE(b.start().empty(), "node B did not start");
  pg_probe pg{url};
  http_client http_a{a.port(), 10s}, http_b{b.port(), 10s};
  auto t0 = wall_ms() - 60'000;
  std::vector<std::pair<std::string, std::string>> evs;
  for (int i = 0; i < 5; ++i) {
    evs.push_back(message("a-" + std::to_string(i), "alice", "s-a", t0 + i,
                          "alice " + secret + " note " + std::to_string(i)));
    evs.push_back(message("b-" + std::to_string(i), "bob", "s-b", t0 + i,
                          "bob plainspoken note " + std::to_string(i)));
  }
  publish_events(a.options().brokers, topic, evs);
  // Either node answers for every user: its own shards, or forwarded to
  // the node holding the user's partition.
  auto err = wait_until(
    "both nodes to find Alice and Bob", 60s,
    [&] {
      return hits(http_a, "alice", secret, "keyword") == 5
             && hits(http_b, "alice", secret, "keyword") == 5
             && hits(http_b, "bob", "plainspoken", "keyword") == 5;
    },
    [] { return std::string{"not yet"}; },
    [&] { return a.running() ? b.death() : a.death(); });
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  auto shards_of = [](agentmem_node& n) {
    return fs::path{n.options().data_dir} / "shards";
  };
  auto snapshots_hold = [&](const std::string& needle) {
    return dir_contains(shards_of(a), needle)
           || dir_contains(shards_of(b), needle);
  };
  err = wait_until("the snapshot of Alice's shard to hold her", 30s,
                   [&] { return snapshots_hold(stem); },
                   [] { return std::string{"no"}; });
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  // Alice's working memory lives on the node that consumed her partition.
  auto alice_working_nodes = [&] {
    return (working_memory_status(http_a, "alice", "s-a") == 200 ? 1 : 0)
           + (working_memory_status(http_b, "alice", "s-a") == 200 ? 1 : 0);
  };
  BOOST_REQUIRE_EQUAL(alice_working_nodes(), 1);

  http_client del{a.port(), 30s};
  auto r = del.del("/v1/users/alice");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.body);
  err = wait_until(
    "node B to drop Alice from search and both from their snapshots", 30s,
    [&] {
      return hits(http_b, "alice", secret, "hybrid") == 0
             && hits(http_b, "alice", secret, "vector") == 0
             && !snapshots_hold(stem) && alice_working_nodes() == 0;
    },
    [] { return std::string{"still there"}; });
  BOOST_TEST(err.empty(), err);
  BOOST_TEST(hits(http_b, "bob", "plainspoken", "keyword") == 5u);
  // Every node applies the deletion log, also one that owns none of her
  // partitions (its reads were routed above, so wait for its own tick).
  err = wait_until("node B to apply the deletion log", 30s, [&] {
    return b.metric("agentmem_deletion_watermark_seq").value_or(0) >= 1.0;
  }, [&] {
    return std::to_string(
      b.metric("agentmem_deletion_watermark_seq").value_or(-1));
  });
  BOOST_TEST(err.empty(), err);
  // Her 5 points left the one shard holding them, whichever node has it.
  BOOST_TEST(a.metric("agentmem_deleted_items_total",
                      "store=\"vector_index\"")
                 .value_or(0)
               + b.metric("agentmem_deleted_items_total",
                          "store=\"vector_index\"")
                   .value_or(0)
             == 5.0);
  // Alice's events replayed: whichever node consumes them drops them.
  publish_events(a.options().brokers, topic, evs);
  err = wait_until(
    "the replay to be consumed", 60s,
    [&] { return pg.stored_offsets("agentmem-governance-2n", topic) == 20; },
    [&] {
      return std::to_string(
        pg.stored_offsets("agentmem-governance-2n", topic).value_or(-1));
    });
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  BOOST_TEST(pg_rows_containing(url, secret) == 0);
  BOOST_TEST(hits(http_a, "alice", secret, "keyword") == 0u);
  BOOST_TEST(hits(http_b, "alice", secret, "keyword") == 0u);
  BOOST_REQUIRE_EQUAL(a.terminate(), "exit code 0");
  BOOST_REQUIRE_EQUAL(b.terminate(), "exit code 0");
  for (auto* n : {&a, &b}) {
    BOOST_TEST(rocksdb_containing(fs::path{n->options().data_dir} / "rocksdb",
                                  secret)
               == 0u);
    BOOST_TEST(!dir_contains(fs::path{n->options().data_dir} / "shards", stem));
    BOOST_TEST(!dir_contains(n->options().data_dir, secret));
  }
}

BOOST_AUTO_TEST_SUITE_END()
