// End to end: events through Kafka into the real agentmem binary close
// hourly windows once the watermark passes them; their records reach the
// analytics topic as `final`, and an event later than the grace is counted
// and sent again as a `correction` with the next revision.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "kafka/consumer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

std::string tool_call(const std::string& id, const std::string& ts) {
  return json{{"event_id", id},        {"ts", ts},
              {"user_id", "u-an"},     {"session_id", "s-an"},
              {"agent_type", "chat"},  {"agent_name", "Ana"},
              {"event_type", "tool_call"},
              {"tool", {{"name", "search"}, {"category", "web"}}},
              {"processing_time_ms", 120}}
    .dump();
}

/// Records of `topic` until `n` arrived (or 30 s passed), as JSON by key.
std::vector<std::pair<std::string, json>>
consume(kafka::consumer& c, size_t n) {
  std::vector<std::pair<std::string, json>> out;
  auto deadline = steady::now() + 30s;
  while (out.size() < n && steady::now() < deadline)
    for (auto& r : c.poll_batch(100, 200ms))
      out.emplace_back(r.key, json::parse(r.value));
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(closed_windows_and_their_corrections_reach_the_analytics_topic,
                        agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-analytics"};
  const std::string topic = "agent.activity.analytics.v1";
  const std::string analytics_topic = "agent.analytics.it.v1";
  test_kafka cluster{broker_from_env(),
                     {{topic, 1}, {topic + ".dlq", 1}, {analytics_topic, 1}},
                     tmp.path()};
  node_options o{cluster, topic, "agentmem-analytics", url, tmp / "data"};
  o.extra_toml = "[analytics]\ntopic = " + toml_str(analytics_topic)
                 + "\ngrace_s = 3600\npublish_interval_ms = 100\n";
  agentmem_node node{o, tmp.path()};
  auto started = node.start();
  BOOST_TEST_REQUIRE(started.empty(), started);
  kafka::consumer_config cc;
  cc.brokers = o.brokers;
  cc.group_id = "analytics-reader";
  cc.topics = {analytics_topic};
  cc.properties = {{"auto.offset.reset", "earliest"}};
  auto reader = kafka::consumer::create(cc);
  BOOST_TEST_REQUIRE(!!reader, error_of(reader));

  // Hour 10 gets two calls; stream time 12:00:05 puts the watermark
  // (grace 1 h) at 11:00:05, past the window's end.
  publish_events(o.brokers, topic,
                 {{"u-an", tool_call("a1", "2024-05-01T10:00:01Z")},
                  {"u-an", tool_call("a2", "2024-05-01T10:20:00Z")},
                  {"u-an", tool_call("a3", "2024-05-01T11:30:00Z")},
                  {"u-an", tool_call("a4", "2024-05-01T12:00:05Z")}});
  pg_probe pg{url};
  auto err = wait_stored_offsets(pg, node, o.group_id, topic, 4);
  BOOST_TEST_REQUIRE(err.empty(), err);
  auto finals = consume(**reader, 2);
  BOOST_TEST_REQUIRE(finals.size() == 2u, finals.size() << " records");
  std::map<std::string, json> by_kind;
  for (auto& [key, rec] : finals) {
    BOOST_TEST(rec["status"] == "final");
    BOOST_TEST(rec["revision"] == 0);
    BOOST_TEST(rec["window_start"] == "2024-05-01T10:00:00Z");
    BOOST_TEST(rec["events"] == 2);
    BOOST_TEST(rec["latency_ms"]["p50"].get<double>() > 118.0);
    by_kind[rec["kind"].get<std::string>()] = rec;
    if (rec["kind"] == "agent")
      BOOST_TEST(key == R"(["agent", "u-an", "chat", "Ana"])");
  }
  BOOST_TEST(by_kind.count("agent") == 1u);
  BOOST_TEST(by_kind.count("tool") == 1u);
  BOOST_TEST(by_kind["tool"]["group"]["tool_name"] == "search");

  // After the grace: counted in Postgres and corrected on the topic.
  publish_events(o.brokers, topic,
                 {{"u-an", tool_call("a5", "2024-05-01T10:40:00Z")}});
  err = wait_stored_offsets(pg, node, o.group_id, topic, 5);
  BOOST_TEST_REQUIRE(err.empty(), err);
  auto corrections = consume(**reader, 2);
  BOOST_TEST_REQUIRE(corrections.size() == 2u);
  for (auto& [key, rec] : corrections) {
    BOOST_TEST(rec["status"] == "correction");
    BOOST_TEST(rec["revision"] == 1);
    BOOST_TEST(rec["events"] == 3);
  }
  BOOST_TEST(pg.scalar("SELECT events FROM analytics_rollups WHERE grain ="
                       " 'hour' AND kind = 'agent' AND bucket_start ="
                       " '2024-05-01 10:00:00+00'") == 3);
  auto metrics = node.metrics();
  BOOST_TEST(metric_value(metrics, "agentmem_late_events_total",
                          "disposition=\"after_grace\"")
               .value_or(-1) == 1.0);
  BOOST_TEST(node.terminate() == "exit code 0");
}

BOOST_AUTO_TEST_SUITE_END()
