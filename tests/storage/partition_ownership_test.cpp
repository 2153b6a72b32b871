// Partition ownership in Postgres (050_partition_ownership): the partition
// each event arrived on is recorded per user in the batch's transaction
// and per memory, shards read only their partitions' memories, and the
// routing table's generations fence late writes of an earlier owner.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <set>

#include "domain/partitions.hpp"
#include "storage/routing_store.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_exec.hpp"

using namespace agentmem;

namespace {

memory memory_of(const activity& a, uint64_t point) {
  auto m = test::s1_memory("m-" + a.event_id, point, "conversation",
                           a.user_id, a.content);
  m.event_id = a.event_id;
  m.ts_ms = a.ts_ms;
  m.vector = {1.0f, 0.0f, 0.0f, 0.0f};
  return m;
}

std::set<std::pair<std::string, int32_t>>
user_partitions(const std::string& url) {
  std::set<std::pair<std::string, int32_t>> out;
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  for (const auto& row :
       tx.exec("SELECT user_id, partition FROM user_partitions"))
    out.emplace(row[0].as<std::string>(), row[1].as<int32_t>());
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(partition_ownership)

BOOST_FIXTURE_TEST_CASE(the_partition_each_event_arrived_on_is_recorded_per_user_and_per_memory,
                        test::pg_database) {
  auto store = test::open_migrated(url);
  const int64_t t = 1'700'000'000'000;
  // u1's events arrived on partitions 3 and 5 (another partitioner, or a
  // partition count change), u2's on 5; u3's memory has no Kafka source.
  batch b;
  b.activities = {test::partition_turn("e1", "u1", 3, t),
                  test::partition_turn("e2", "u1", 5, t + 1),
                  test::partition_turn("e3", "u2", 5, t + 2)};
  b.memories = {memory_of(b.activities[0], 1), memory_of(b.activities[1], 2),
                memory_of(b.activities[2], 3)};
  auto orphan = test::s1_memory("m-x", 4, "conversation", "u3", "no source");
  orphan.vector = {0.0f, 1.0f, 0.0f, 0.0f};
  b.memories.push_back(orphan);
  domain::assign_partitions(b);
  BOOST_TEST(b.memories[0].partition == 3);
  BOOST_TEST(b.memories[1].partition == 5);
  BOOST_TEST(b.memories[3].partition == -1);
  auto r = store->commit_batch(b, "g", "m");
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
  std::set<std::pair<std::string, int32_t>> want = {
    {"u1", 3}, {"u1", 5}, {"u2", 5}, {"u3", 0}};
  BOOST_TEST((user_partitions(url) == want));
  // A replay changes nothing.
  BOOST_REQUIRE(store->commit_batch(b, "g", "m"));
  BOOST_TEST((user_partitions(url) == want));

  // Shards read their partitions' memories only; no partition counts as 0.
  auto p5 = store->partition_memories_after({5}, 0, 100);
  BOOST_REQUIRE_MESSAGE(p5, test::why(p5));
  BOOST_REQUIRE_EQUAL(p5->size(), 2u);
  BOOST_TEST((*p5)[0].m.memory_id == "m-e2");
  BOOST_TEST((*p5)[0].m.partition == 5);
  BOOST_TEST((*p5)[1].m.memory_id == "m-e3");
  auto p0 = store->partition_memories_after({0, 3}, 0, 100);
  BOOST_REQUIRE(p0);
  BOOST_REQUIRE_EQUAL(p0->size(), 2u);
  BOOST_TEST((*p0)[0].m.memory_id == "m-e1");
  BOOST_TEST((*p0)[1].m.memory_id == "m-x");
  BOOST_TEST((*p0)[1].m.partition == -1);
  BOOST_TEST(store->partition_memories_after({}, 0, 100)->empty());
  auto after = store->partition_memories_after({5}, (*p5)[0].seq, 100);
  BOOST_REQUIRE(after);
  BOOST_TEST(after->size() == 1u);
  auto u1 = store->user_memories("u1", {3, 5}, 100);
  BOOST_REQUIRE(u1);
  BOOST_TEST(u1->size() == 2u);
  BOOST_TEST(store->user_memories("u1", {5}, 100)->size() == 1u);

  auto rs = storage::routing_store::connect(url);
  BOOST_REQUIRE(rs);
  auto parts = (*rs)->user_partitions("u1");
  BOOST_REQUIRE(parts);
  BOOST_TEST((*parts == std::vector<int32_t>{3, 5}));
  BOOST_TEST((*rs)->user_partitions("nobody")->empty());

  // Working memory's source: the newest activities of a partition.
  auto recent = store->recent_activities({5}, 0, 20, 100);
  BOOST_REQUIRE_MESSAGE(recent, test::why(recent));
  BOOST_REQUIRE_EQUAL(recent->size(), 2u);
  BOOST_TEST(recent->at(0).a.event_id == "e2");
  BOOST_TEST(recent->at(0).a.content == "turn e2");
  BOOST_TEST(recent->at(0).ingested_at_ms > 0);
  BOOST_TEST(recent->at(0).a.source.partition == 5);
  // Several shards in one read, each activity with its own partition.
  auto both = store->recent_activities({3, 5}, 0, 20, 100);
  BOOST_REQUIRE_MESSAGE(both, test::why(both));
  std::set<std::pair<std::string, int32_t>> got;
  for (auto& s : *both)
    got.insert({s.a.event_id, s.a.source.partition});
  BOOST_TEST((got == std::set<std::pair<std::string, int32_t>>{
                {"e1", 3}, {"e2", 5}, {"e3", 5}}));
  BOOST_TEST(store->recent_activities({5}, 0, 1, 100)->size() == 2u);
  const int64_t later = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()
                        + 60'000;
  BOOST_TEST(store->recent_activities({5}, later, 20, 100)->empty());
  // The rebuild's bounds: offsets below each partition's start (-1: none)
  // ...
  auto below = store->recent_activities({5}, 0, 20, 100, {t + 2});
  BOOST_REQUIRE_MESSAGE(below, test::why(below));
  BOOST_REQUIRE_EQUAL(below->size(), 1u);
  BOOST_TEST(below->at(0).a.event_id == "e2");
  // ... the newest per session counted after them (u1's newest, e2 on
  // partition 5, is below no bound: e1 is u1's newest left) ...
  auto bounded = store->recent_activities({3, 5}, 0, 1, 100, {-1, t + 1});
  BOOST_REQUIRE_MESSAGE(bounded, test::why(bounded));
  BOOST_REQUIRE_EQUAL(bounded->size(), 1u);
  BOOST_TEST(bounded->at(0).a.event_id == "e1");
  // ... and the blocks they are stored in: 200 more turns on partition 5
  // fill more than block 0.
  batch more;
  for (int i = 0; i < 200; ++i)
    more.activities.push_back(test::partition_turn(
      "f" + std::to_string(i), "u9", 5, t + 10 + i));
  BOOST_REQUIRE(store->commit_batch(more, "g", "m"));
  auto all = store->recent_activities({5}, 0, 1000, 1000);
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 202u);
  auto block0 = store->recent_activities({5}, 0, 1000, 1000, {}, 1);
  BOOST_REQUIRE_MESSAGE(block0, test::why(block0));
  BOOST_TEST(block0->size() > 2u); // e2, e3 and the first turns
  BOOST_TEST(block0->size() < 202u);
  BOOST_TEST(block0->at(0).a.event_id == "e2");
  BOOST_TEST(store->recent_activities({5}, 0, 1000, 1000, {}, 1000)->size()
             == 202u);
  BOOST_TEST(store->recent_activities({5}, 0, 20, 100, {}, 0)->empty());
  auto mismatch = store->recent_activities({3, 5}, 0, 20, 100, {1});
  BOOST_REQUIRE(!mismatch);
  BOOST_TEST(mismatch.error().code()
             == static_cast<uint8_t>(errc::invalid_request));
}

BOOST_FIXTURE_TEST_CASE(a_new_owner_bumps_the_generation_which_fences_the_old_owner,
                        test::pg_database) {
  test::open_migrated(url);
  auto rs = storage::routing_store::connect(url);
  BOOST_REQUIRE(rs);
  auto& r = **rs;
  auto a = r.claim("g", "t", "node-a", {0, 1});
  BOOST_REQUIRE_MESSAGE(a, test::why(a));
  BOOST_REQUIRE_EQUAL(a->size(), 2u);
  BOOST_TEST(a->at(0).generation == 1);
  BOOST_TEST(a->at(0).previous_node_id.empty());
  // With the size of user_activities then (empty: every activity is
  // stored after it; the working-memory rebuild's bound).
  BOOST_TEST(a->at(0).activity_blocks == 0);
  BOOST_TEST(*r.set_serving("g", "t", "node-a", 0, 1, 42));
  // node-b takes partition 0 over: generation 2, node-a still serves it
  // read-only until node-b does.
  auto b = r.claim("g", "t", "node-b", {0});
  BOOST_REQUIRE(b);
  BOOST_TEST(b->at(0).generation == 2);
  BOOST_TEST(b->at(0).previous_node_id == "node-a");
  auto table = r.read("g", "t");
  BOOST_REQUIRE(table);
  BOOST_REQUIRE_EQUAL(table->owners.size(), 2u);
  auto& o0 = table->owners[0];
  BOOST_TEST(o0.node_id == "node-b");
  BOOST_TEST((o0.state == storage::shard_state::warming));
  BOOST_TEST(o0.previous_node_id == "node-a");
  BOOST_TEST(o0.indexed_seq == 42);
  // A late write of the old owner changes nothing ...
  BOOST_TEST(!*r.set_serving("g", "t", "node-a", 0, 1, 50));
  // ... the new owner's does.
  BOOST_TEST(*r.set_serving("g", "t", "node-b", 0, 2, 51));
  table = r.read("g", "t");
  BOOST_TEST((table->owners[0].state == storage::shard_state::serving));
  BOOST_TEST(table->owners[0].indexed_seq == 51);
  // The same owner claiming again (an eager rebalance handing it back)
  // keeps its generation and has no previous owner to fall back on.
  auto again = r.claim("g", "t", "node-b", {0});
  BOOST_REQUIRE(again);
  BOOST_TEST(again->at(0).generation == 2);
  BOOST_TEST(again->at(0).previous_node_id.empty());
  BOOST_TEST(r.read("g", "t")->owners[0].previous_node_id.empty());
  // Another group's table is its own.
  BOOST_TEST(r.read("other", "t")->owners.empty());

  // Nodes: heartbeat, age, removal.
  BOOST_REQUIRE(!r.heartbeat("node-a", "127.0.0.1:1", 1, 10));
  BOOST_REQUIRE(!r.heartbeat("node-b", "127.0.0.1:2", 2, 20));
  table = r.read("g", "t");
  BOOST_REQUIRE_EQUAL(table->nodes.size(), 2u);
  BOOST_TEST(table->nodes[1].http_address == "127.0.0.1:2");
  BOOST_TEST(table->nodes[1].heartbeat_age_ms < 5000);
  BOOST_REQUIRE(!r.remove_node("node-a"));
  BOOST_TEST(r.read("g", "t")->nodes.size() == 1u);
  BOOST_TEST(*r.commit_age_ms("g", "t", {0}) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
