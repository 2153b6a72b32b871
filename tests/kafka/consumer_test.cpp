#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "test_util.hpp"

using namespace agentmem;
using namespace agentmem::kafka;
using namespace std::chrono_literals;

namespace {

std::string header(const kafka_record& r, const std::string& name) {
  for (auto& h : r.headers)
    if (h.first == name)
      return h.second;
  return "<missing>";
}

} // namespace

BOOST_AUTO_TEST_SUITE(consumer_group)

BOOST_AUTO_TEST_CASE(a_new_group_member_resumes_after_the_committed_offsets) {
  auto mc = mock_cluster::start(3, {{"orders", 3}});
  BOOST_REQUIRE_MESSAGE(mc, test::why(mc));
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!test::produce_n(**prod, "orders", 0, 30, 7));

  auto group = test::unique_group("resume");
  auto cfg = test::test_consumer_config((*mc)->bootstrap(), group, {"orders"});
  std::map<int32_t, std::vector<kafka_record>> by_partition;
  std::vector<partition_offset> commits;
  std::set<std::string> expected_rest;
  {
    auto c = consumer::create(cfg);
    BOOST_REQUIRE_MESSAGE(c, test::why(c));
    auto got = test::collect(**c, 30);
    BOOST_REQUIRE_EQUAL(got.size(), 30u);
    for (auto& r : got) {
      BOOST_CHECK_EQUAL(r.source.topic, "orders");
      BOOST_CHECK_EQUAL(header(r, "seq"), r.value.substr(6));
      BOOST_CHECK_EQUAL(r.key.rfind("key-", 0), 0u);
      BOOST_CHECK_GT(r.timestamp_ms, 0);
      by_partition[r.source.partition].push_back(r);
    }
    BOOST_CHECK_EQUAL((*c)->assignment().size(), 3u);
    // Process the first half of each partition, commit right after it.
    for (auto& [part, recs] : by_partition) {
      std::sort(recs.begin(), recs.end(), [](auto& a, auto& b) {
        return a.source.offset < b.source.offset;
      });
      size_t done = recs.size() / 2;
      int64_t next = done == 0 ? recs.front().source.offset
                               : recs[done - 1].source.offset + 1;
      commits.push_back({"orders", part, next});
      for (size_t i = done; i < recs.size(); ++i)
        expected_rest.insert(recs[i].value);
    }
    auto err = (*c)->commit(commits, false);
    BOOST_REQUIRE_MESSAGE(!err, describe(err));
    BOOST_CHECK_EQUAL((*c)->errors_seen(), 0u);
    (*c)->close();
    (*c)->close(); // idempotent
    BOOST_CHECK(test::drain_for(**c, 50ms).empty());
  }
  auto c2 = consumer::create(cfg);
  BOOST_REQUIRE(c2);
  auto rest = test::collect(**c2, expected_rest.size());
  auto more = test::drain_for(**c2, 1000ms);
  BOOST_CHECK(more.empty());
  std::set<std::string> got_rest;
  for (auto& r : rest)
    got_rest.insert(r.value);
  BOOST_CHECK(got_rest == expected_rest);
  BOOST_CHECK_EQUAL(rest.size(), expected_rest.size());
}

BOOST_AUTO_TEST_CASE(an_async_commit_is_seen_by_the_next_group_member) {
  auto mc = mock_cluster::start(1, {{"events", 1}});
  BOOST_REQUIRE(mc);
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!test::produce_n(**prod, "events", 0, 10));
  auto cfg = test::test_consumer_config((*mc)->bootstrap(),
                                        test::unique_group("async"),
                                        {"events"});
  {
    auto c = consumer::create(cfg);
    BOOST_REQUIRE(c);
    auto got = test::collect(**c, 10);
    BOOST_REQUIRE_EQUAL(got.size(), 10u);
    BOOST_CHECK(!(*c)->commit({{"events", 0, 6}}, true));
    BOOST_CHECK(!(*c)->commit({}, true)); // empty: no-op
    test::drain_for(**c, 300ms); // serves the commit callback
    BOOST_CHECK_EQUAL((*c)->errors_seen(), 0u);
  } // destructor leaves the group
  auto c2 = consumer::create(cfg);
  BOOST_REQUIRE(c2);
  auto rest = test::collect(**c2, 4);
  BOOST_REQUIRE_EQUAL(rest.size(), 4u);
  BOOST_CHECK_EQUAL(rest.front().source.offset, 6);
  BOOST_CHECK_EQUAL(rest.front().value, "value-6");
}

BOOST_AUTO_TEST_CASE(pause_all_stops_delivery_and_resume_all_restarts_it) {
  auto mc = mock_cluster::start(1, {{"paused", 2}});
  BOOST_REQUIRE(mc);
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!test::produce_n(**prod, "paused", 0, 6));
  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("pause"), {"paused"}));
  BOOST_REQUIRE(c);
  BOOST_REQUIRE_EQUAL(test::collect(**c, 6).size(), 6u);
  BOOST_CHECK(!(*c)->paused());
  (*c)->pause_all();
  BOOST_CHECK((*c)->paused());
  BOOST_REQUIRE(!test::produce_n(**prod, "paused", 6, 6));
  BOOST_CHECK(test::drain_for(**c, 2000ms).empty());
  (*c)->resume_all();
  BOOST_CHECK(!(*c)->paused());
  auto got = test::collect(**c, 6);
  BOOST_REQUIRE_EQUAL(got.size(), 6u);
  std::set<std::string> values;
  for (auto& r : got)
    values.insert(r.value);
  for (int i = 6; i < 12; ++i)
    BOOST_CHECK(values.count("value-" + std::to_string(i)) == 1);
  BOOST_CHECK(test::drain_for(**c, 300ms).empty());
}

// A member of a fresh group on `topic` (2 partitions; 8 records in each of
// `filled`), paused before its first poll, `on_assign` set; polled until
// assigned, which must deliver nothing, then 1.5 s more, which must too.
struct paused_member {
  std::unique_ptr<mock_cluster> mc;
  std::unique_ptr<consumer> c;
};

paused_member join_paused(
  const std::string& topic, const std::vector<int32_t>& filled,
  consumer::assign_callback on_assign = {}) {
  paused_member m;
  auto mc = mock_cluster::start(1, {{topic, 2}});
  BOOST_REQUIRE(mc);
  m.mc = std::move(*mc);
  auto prod = producer::create(m.mc->bootstrap());
  BOOST_REQUIRE(prod);
  for (auto p : filled)
    BOOST_REQUIRE(!test::produce_n(**prod, topic, p, 8));
  auto c = consumer::create(test::test_consumer_config(
    m.mc->bootstrap(), test::unique_group(topic), {topic}));
  BOOST_REQUIRE(c);
  m.c = std::move(*c);
  m.c->on_assign = std::move(on_assign);
  m.c->pause_all();
  auto before = test::wait_for_assignment(*m.c);
  BOOST_REQUIRE_EQUAL(m.c->assignment().size(), 2u);
  BOOST_CHECK(before.empty());
  BOOST_CHECK(test::drain_for(*m.c, 1500ms).empty());
  return m;
}

BOOST_AUTO_TEST_CASE(partitions_assigned_while_paused_start_paused) {
  auto m = join_paused("early", {0});
  m.c->resume_all();
  BOOST_CHECK_EQUAL(test::collect(*m.c, 8).size(), 8u);
}

// The ingress's case: a node under backpressure (paused) is assigned
// partitions whose start offsets come from on_assign (the offsets stored
// in PostgreSQL). The pause must hold until resume_all(), and the records
// must then start at on_assign's offset, not at the committed one.
BOOST_AUTO_TEST_CASE(partitions_assigned_while_paused_start_at_on_assign_offsets) {
  auto m = join_paused("early_seek", {0, 1},
                       [](const std::vector<partition_offset>& assigned) {
                         std::vector<partition_offset> starts = assigned;
                         for (auto& p : starts)
                           p.next_offset = 5;
                         return starts;
                       });
  m.c->resume_all();
  auto got = test::collect(*m.c, 6, 10s);
  BOOST_REQUIRE_EQUAL(got.size(), 6u);
  for (auto& r : got)
    BOOST_CHECK_GE(r.source.offset, 5);
  BOOST_CHECK(test::drain_for(*m.c, 300ms).empty());
}

BOOST_AUTO_TEST_CASE(on_assign_can_seek_and_on_revoke_sees_positions) {
  auto mc = mock_cluster::start(1, {{"seek", 1}});
  BOOST_REQUIRE(mc);
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!test::produce_n(**prod, "seek", 0, 10));
  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("seek"), {"seek"}));
  BOOST_REQUIRE(c);
  std::vector<partition_offset> seen_assigned;
  std::vector<partition_offset> seen_revoked;
  (*c)->on_assign = [&](const std::vector<partition_offset>& assigned) {
    seen_assigned = assigned;
    std::vector<partition_offset> starts = assigned;
    for (auto& p : starts)
      p.next_offset = 7;
    return starts;
  };
  (*c)->on_revoke = [&](const std::vector<partition_offset>& revoked) {
    seen_revoked = revoked;
  };
  auto got = test::collect(**c, 3);
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  BOOST_CHECK_EQUAL(got[0].source.offset, 7);
  BOOST_CHECK_EQUAL(got[2].value, "value-9");
  BOOST_CHECK(test::drain_for(**c, 300ms).empty());
  BOOST_REQUIRE_EQUAL(seen_assigned.size(), 1u);
  BOOST_CHECK_EQUAL(seen_assigned[0].topic, "seek");
  BOOST_CHECK_EQUAL(seen_assigned[0].partition, 0);
  BOOST_CHECK_EQUAL(seen_assigned[0].next_offset, -1);
  auto asg = (*c)->assignment();
  BOOST_REQUIRE_EQUAL(asg.size(), 1u);
  BOOST_CHECK_EQUAL(asg[0].next_offset, 10);
  (*c)->close();
  BOOST_REQUIRE_EQUAL(seen_revoked.size(), 1u);
  BOOST_CHECK_EQUAL(seen_revoked[0].next_offset, 10);
}

BOOST_AUTO_TEST_CASE(lag_is_the_high_watermark_minus_the_position) {
  auto mc = mock_cluster::start(1, {{"lagging", 1}});
  BOOST_REQUIRE(mc);
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!test::produce_n(**prod, "lagging", 0, 10));
  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("lag"), {"lagging"}));
  BOOST_REQUIRE(c);
  BOOST_CHECK((*c)->lag().empty()); // nothing assigned yet
  auto got = test::collect(**c, 4);
  BOOST_REQUIRE_EQUAL(got.size(), 4u);
  auto l = (*c)->lag();
  BOOST_REQUIRE_EQUAL(l.size(), 1u);
  BOOST_CHECK_EQUAL(l[0].topic, "lagging");
  BOOST_CHECK_EQUAL(l[0].partition, 0);
  BOOST_CHECK_EQUAL(l[0].lag, 6);
  BOOST_CHECK_EQUAL(test::collect(**c, 6).size(), 6u);
  BOOST_CHECK_EQUAL((*c)->lag()[0].lag, 0);
}

BOOST_AUTO_TEST_CASE(lag_of_an_idle_caught_up_partition_is_zero) {
  auto mc = mock_cluster::start(1, {{"idle", 1}});
  BOOST_REQUIRE(mc);
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!test::produce_n(**prod, "idle", 0, 3));
  auto cfg = test::test_consumer_config((*mc)->bootstrap(),
                                        test::unique_group("idle"), {"idle"});
  {
    auto c = consumer::create(cfg);
    BOOST_REQUIRE(c);
    BOOST_REQUIRE_EQUAL(test::collect(**c, 3).size(), 3u);
    BOOST_REQUIRE(!(*c)->commit({{"idle", 0, 3}}, false));
  }
  // A new member starts at the committed end and never sees a record.
  auto c = consumer::create(cfg);
  BOOST_REQUIRE(c);
  test::wait_for_assignment(**c);
  test::drain_for(**c, 1000ms);
  auto l = (*c)->lag();
  BOOST_REQUIRE_EQUAL(l.size(), 1u);
  BOOST_CHECK_EQUAL(l[0].lag, 0);
}

// The mock broker holds a Fetch that finds nothing new for the request's
// whole max wait (kafka/mock_cluster.hpp): with librdkafka's default of
// 500 ms each record below would arrive ~0.5 s after its produce, with
// mock_cluster::consumer_properties() (what `agentmem dev` and the
// benchmark use) within ~10 ms.
BOOST_AUTO_TEST_CASE(
  a_caught_up_consumer_of_the_mock_cluster_sees_a_new_record_soon) {
  auto mc = mock_cluster::start(1, {{"ticks", 4}});
  BOOST_REQUIRE(mc);
  auto prod = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(prod);
  auto cfg = test::test_consumer_config((*mc)->bootstrap(),
                                        test::unique_group("ticks"), {"ticks"});
  // Without the tests' own 50 ms, so that the wait measured is the one
  // consumer_properties() sets (librdkafka's 500 ms if it set none).
  cfg.properties.erase("fetch.wait.max.ms");
  for (auto& [k, v] : mock_cluster::consumer_properties())
    cfg.properties[k] = v;
  auto c = consumer::create(cfg);
  BOOST_REQUIRE(c);
  test::wait_for_assignment(**c);
  BOOST_REQUIRE(!test::produce_n(**prod, "ticks", 0, 1));
  BOOST_REQUIRE_EQUAL(test::collect(**c, 1).size(), 1u);
  std::vector<double> delays_ms;
  for (int i = 1; i <= 7; ++i) {
    // Caught up: the fetch sent after the last record finds nothing.
    std::this_thread::sleep_for(30ms);
    auto t0 = std::chrono::steady_clock::now();
    BOOST_REQUIRE(!test::produce_n(**prod, "ticks", i, 1));
    auto got = test::collect(**c, 1, 5s);
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    delays_ms.push_back(std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - t0)
                          .count());
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  BOOST_TEST_MESSAGE("produce -> poll, median of 7: " << delays_ms[3]
                     << " ms");
  BOOST_CHECK_LT(delays_ms[3], 200.0);
}

BOOST_AUTO_TEST_CASE(create_rejects_bad_settings) {
  consumer_config none;
  none.brokers = "127.0.0.1:1";
  auto c = consumer::create(none); // no topics
  BOOST_CHECK(!c);
  consumer_config bad = test::test_consumer_config("127.0.0.1:1", "g", {"t"});
  bad.properties["no.such.property"] = "1";
  auto c2 = consumer::create(bad);
  BOOST_REQUIRE(!c2);
  BOOST_CHECK(test::why(c2).find("no.such.property")
              != std::string::npos);
  bad.properties = {{"sasl.password", "hunter2-secret"},
                    {"security.protocol", "bogus"}};
  auto c3 = consumer::create(bad);
  BOOST_REQUIRE(!c3);
  BOOST_CHECK(test::why(c3).find("hunter2") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
