// index_sync taking shards over (docs/operations.md "Scaling out"): the
// partitions assigned to this node warm up from PostgreSQL, turn serving,
// and the sessions of those partitions get their working memory back from
// the activities within the TTL — those of partitions not assigned here do
// not. A real PostgreSQL (pg_fixture.hpp), RocksDB and HNSW shards in a
// temporary directory.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/index_sync.hpp"
#include "actors/membership.hpp"
#include "messages/atoms.hpp"
#include "messages/batch.hpp"
#include "storage/hot_state.hpp"
#include "storage/routing_store.hpp"
#include "storage/shard_set.hpp"
#include "storage/working_memory.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::test::why;
using namespace std::chrono_literals;

namespace {

// A user turn of `user`'s session "s1" that arrived on `partition`, with
// its conversation memory.
void add_turn(batch& b, const std::string& id, const std::string& user,
              int32_t partition, int64_t ts, uint64_t point) {
  auto a = test::partition_turn(id, user, partition, ts);
  auto m = test::s1_memory("m-" + id, point, "conversation", user, a.content);
  m.event_id = id;
  m.ts_ms = m.turn_ts_ms = ts;
  m.partition = partition;
  m.vector = {1.0f, 0.0f, 0.0f, static_cast<float>(point)};
  b.activities.push_back(std::move(a));
  b.memories.push_back(std::move(m));
}

std::vector<std::string>
contents(storage::working_memory& wm, const std::string& user) {
  std::vector<std::string> out;
  auto v = wm.get(user, "s1");
  BOOST_REQUIRE_MESSAGE(v, why(v));
  if (*v)
    for (auto& it : (*v)->items)
      out.push_back(it.content);
  return out;
}

// A node's shards and working memory in a temporary directory, and
// index_sync over them.
struct node_under_test {
  test::temp_dir dir;
  std::shared_ptr<storage::working_memory> working;
  actors::index_sync_config cfg;

  explicit node_under_test(const std::string& url) {
    storage::shard_set_config sc;
    sc.dir = (dir.path / "shards").string();
    sc.vectors.dims = 4;
    sc.vectors.model = "test";
    auto hot = storage::hot_state::open((dir.path / "rocksdb").string());
    BOOST_REQUIRE_MESSAGE(hot, why(hot));
    auto wm = storage::working_memory::open(
      (dir.path / "working_memory").string(),
      storage::working_memory_config{});
    BOOST_REQUIRE_MESSAGE(wm, why(wm));
    working = std::move(*wm);
    cfg.postgres_url = url;
    cfg.shards = std::make_shared<storage::shard_set>(sc);
    cfg.hot = std::move(*hot);
    cfg.working = working;
    cfg.interval = 50ms;
    cfg.group = "g";
    cfg.topic = "agent.activity.v1";
    cfg.node_id = "n1";
    cfg.view = std::make_shared<actors::cluster_view>(2000ms);
  }

  bool serving(int32_t p) const {
    return cfg.shards->phase(p) == storage::shard_phase::serving;
  }

  // Assigns `parts` (generation 1, consumption resuming at `starts`,
  // claimed with user_activities at `activity_blocks`) and waits until
  // they all serve.
  void assign(const std::vector<int32_t>& parts,
              const std::vector<int64_t>& starts, int64_t activity_blocks) {
    caf::actor_system_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto sync = sys.spawn<caf::detached>(actors::index_sync, cfg);
    caf::anon_send(sync, assign_atom::value, parts,
                   std::vector<int64_t>(parts.size(), 1), starts,
                   activity_blocks);
    auto all_serving = [&] {
      return std::all_of(parts.begin(), parts.end(),
                         [&](int32_t p) { return serving(p); });
    };
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!all_serving() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    caf::anon_send_exit(sync, caf::exit_reason::user_shutdown);
    for (auto p : parts)
      BOOST_REQUIRE(serving(p));
  }
};

// u1's turns e1 and e2 (offsets now - 3000, now - 2000) on partition 3,
// u2's e3 on partition 5, all within the TTL of `now`.
batch two_sessions(int64_t now) {
  batch b;
  add_turn(b, "e1", "u1", 3, now - 3000, 1);
  add_turn(b, "e2", "u1", 3, now - 2000, 2);
  add_turn(b, "e3", "u2", 5, now - 1000, 3);
  return b;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(index_sync_suite)

BOOST_FIXTURE_TEST_CASE(assigned_shards_serve_with_their_sessions_working_memory_rebuilt,
                        test::pg_database) {
  auto store = test::open_migrated(url);
  const int64_t now = now_ms();
  auto b = two_sessions(now);
  add_turn(b, "e4", "u4", 7, now - 500, 4); // a partition not assigned
  auto committed = store->commit_batch(b, "g", "m");
  BOOST_REQUIRE_MESSAGE(committed, why(committed));

  // No stored offsets, no recorded claim: everything within the TTL.
  node_under_test node{url};
  node.assign({3, 5}, {-1, -1}, -1);
  BOOST_TEST(!node.cfg.shards->phase(7));

  // The shards hold their partitions' points only.
  BOOST_TEST(node.cfg.shards->find(3)->vectors->size() == 2u);
  BOOST_TEST(node.cfg.shards->find(5)->vectors->size() == 1u);
  // Working memory of the assigned partitions' sessions, oldest first; the
  // session on partition 7 stays with its owner.
  BOOST_TEST(contents(*node.working, "u1")
               == (std::vector<std::string>{"turn e1", "turn e2"}),
             boost::test_tools::per_element());
  BOOST_TEST(contents(*node.working, "u2")
               == (std::vector<std::string>{"turn e3"}),
             boost::test_tools::per_element());
  BOOST_TEST(contents(*node.working, "u4").empty());
}

// What the node's own consumer delivers to its extraction (records from
// the start offset on; every record when no offset was stored) is not
// read back: only what was stored before the claim, below the start.
BOOST_FIXTURE_TEST_CASE(the_rebuild_reads_only_what_this_node_does_not_consume_itself,
                        test::pg_database) {
  auto store = test::open_migrated(url);
  const int64_t now = now_ms();
  auto committed = store->commit_batch(two_sessions(now), "g", "m");
  BOOST_REQUIRE_MESSAGE(committed, why(committed));
  // The claim, as the rebalance callback writes it after loading offsets.
  auto rs = storage::routing_store::connect(url);
  BOOST_REQUIRE_MESSAGE(rs, why(rs));
  auto claims = (*rs)->claim("g", "agent.activity.v1", "n1", {3, 5});
  BOOST_REQUIRE_MESSAGE(claims, why(claims));
  BOOST_REQUIRE_EQUAL(claims->size(), 2u);
  BOOST_TEST(claims->at(0).activity_blocks > 0);
  // The node's own batch: partition 3 from its start offset (e2's).
  batch after;
  add_turn(after, "e6", "u1", 3, now - 700, 6);
  committed = store->commit_batch(after, "g", "m");
  BOOST_REQUIRE_MESSAGE(committed, why(committed));

  node_under_test node{url};
  node.assign({3, 5}, {now - 2000, -1}, claims->at(0).activity_blocks);
  // Every point is in its shard ...
  BOOST_TEST(node.cfg.shards->find(3)->vectors->size() == 3u);
  BOOST_TEST(node.cfg.shards->find(5)->vectors->size() == 1u);
  // ... working memory gets what the node's extraction does not see.
  BOOST_TEST(contents(*node.working, "u1")
               == (std::vector<std::string>{"turn e1"}),
             boost::test_tools::per_element());
  BOOST_TEST(contents(*node.working, "u2")
               == (std::vector<std::string>{"turn e3"}),
             boost::test_tools::per_element());
}

// Claimed while no activity was stored (a new deployment, a fresh
// consumer group): everything after came through this node.
BOOST_FIXTURE_TEST_CASE(a_claim_of_an_empty_table_rebuilds_nothing,
                        test::pg_database) {
  auto store = test::open_migrated(url);
  auto rs = storage::routing_store::connect(url);
  BOOST_REQUIRE_MESSAGE(rs, why(rs));
  auto claims = (*rs)->claim("g", "agent.activity.v1", "n1", {3});
  BOOST_REQUIRE_MESSAGE(claims, why(claims));
  BOOST_TEST(claims->at(0).activity_blocks == 0);
  batch b;
  add_turn(b, "e1", "u1", 3, now_ms() - 1000, 1);
  auto committed = store->commit_batch(b, "g", "m");
  BOOST_REQUIRE_MESSAGE(committed, why(committed));

  node_under_test node{url};
  node.assign({3}, {-1}, claims->at(0).activity_blocks);
  BOOST_TEST(node.cfg.shards->find(3)->vectors->size() == 1u);
  BOOST_TEST(contents(*node.working, "u1").empty());
}

BOOST_AUTO_TEST_SUITE_END()
