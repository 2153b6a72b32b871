// End to end: with agentmem's own consumer settings (no fetch settings in
// [kafka.properties]), an event that reaches an idle, caught-up node is in
// PostgreSQL within a fraction of a second. The consumer's fetch defaults
// (kafka/consumer.cpp: 16 KiB or 50 ms) trade a bounded wait for fewer
// fetches; librdkafka's own 500 ms wait would hold such an event for up
// to half a second on the embedded broker, which answers an empty fetch
// only after the whole wait (≈ 200 ms median here, measured).

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string message(const std::string& id, int64_t ts_ms) {
  return json{{"event_id", id},          {"ts", rfc3339_ms(ts_ms)},
              {"user_id", "u-idle"},     {"session_id", "s-idle"},
              {"agent_type", "chat"},    {"agent_name", "Ana"},
              {"event_type", "message"}, {"role", "user"},
              {"content", "A note to find again: " + id}}
    .dump();
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(an_idle_node_stores_a_lone_event_within_a_fraction_of_a_second,
                        agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-idle"};
  const std::string topic = "agent.activity.idle.v1";
  test_kafka cluster{broker_from_env(),
                     {{topic, 8}, {topic + ".dlq", 1}},
                     tmp.path()};
  node_options o{cluster, topic, "agentmem-idle", url, tmp / "data"};
  // The node's own fetch settings, not the harness's.
  o.kafka_properties.erase("fetch.wait.max.ms");
  agentmem_node node{o, tmp.path()};
  auto started = node.start();
  BOOST_TEST_REQUIRE(started.empty(), started);
  auto prod = kafka::producer::create(o.brokers);
  BOOST_REQUIRE_MESSAGE(prod, error_of(prod));
  pg_probe pg{url};

  // One event first: the group has joined and the node is caught up.
  BOOST_REQUIRE(!(*prod)->produce(topic, "u-idle", message("idle-0", wall_ms())));
  BOOST_REQUIRE(!(*prod)->flush(10s));
  auto err = wait_stored_offsets(pg, node, o.group_id, topic, 1);
  BOOST_TEST_REQUIRE(err.empty(), err);

  std::vector<double> delays_ms;
  for (int i = 1; i <= 7; ++i) {
    // Idle: the node's fetches find nothing new for a while. Pauses of
    // different lengths, so that the events arrive at different points
    // of a held fetch's wait.
    std::this_thread::sleep_for(150ms + i * 70ms);
    const std::string id = "idle-" + std::to_string(i);
    const auto t0 = steady::now();
    BOOST_REQUIRE(!(*prod)->produce(topic, "u-idle", message(id, wall_ms())));
    BOOST_REQUIRE(!(*prod)->flush(10s));
    const auto sql = "SELECT count(*) FROM user_activities WHERE event_id = "
                     + sql_quote(id);
    // (A failed test prints the node's log tail.)
    auto waited = wait_until(
      id + "'s row", 10s,
      [&] { return pg.try_scalar(sql).value_or(0) == 1; },
      [&] { return std::string{"no row"}; }, [&] { return node.death(); },
      5ms);
    BOOST_TEST_REQUIRE(waited.empty(), waited);
    delays_ms.push_back(seconds_since(t0) * 1000.0);
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  BOOST_TEST_MESSAGE("broker " << to_string(broker_from_env())
                     << ": produce -> row of a lone event, median of 7 "
                     << delays_ms[3] << " ms, max " << delays_ms.back()
                     << " ms");
  // The fetch wait (50 ms) and a one-event batch. With librdkafka's
  // 500 ms an event waits for what is left of a held fetch (≈ 200 ms
  // measured).
  BOOST_TEST(delays_ms[3] < 150.0);
}

BOOST_AUTO_TEST_SUITE_END()
