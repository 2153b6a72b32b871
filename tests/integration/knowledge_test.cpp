// End to end: chat events through Kafka into the real agentmem binary come
// back as facts (with a contradiction closed) and as graph memory through
// the HTTP API.

#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

std::string chat(const std::string& id, const std::string& ts,
                 const std::string& content) {
  return json{{"event_id", id},      {"ts", ts},
              {"user_id", "u-kg"},   {"session_id", "s-kg"},
              {"agent_type", "chat"}, {"agent_name", "Ana"},
              {"event_type", "message"}, {"role", "user"},
              {"content", content}}
    .dump();
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(facts_and_graph_memory_are_served_after_kafka,
                        agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-knowledge"};
  const std::string topic = "agent.activity.knowledge.v1";
  test_kafka cluster{broker_from_env(),
                     {{topic, 1}, {topic + ".dlq", 1}},
                     tmp.path()};
  node_options o{cluster, topic, "agentmem-knowledge", url, tmp / "data"};
  agentmem_node node{o, tmp.path()};
  auto started = node.start();
  BOOST_TEST_REQUIRE(started.empty(), started);
  // Published newest first: validity must follow event time, not arrival.
  std::vector<std::pair<std::string, std::string>> events = {
    {"u-kg", chat("kg-2", "2024-05-02T10:00:00Z",
                  "I moved to Berlin. I work at Initech with Tom.")},
    {"u-kg", chat("kg-1", "2024-05-01T10:00:00Z",
                  "I live in Paris and I love jazz.")},
  };
  publish_events(o.brokers, topic, events);
  pg_probe pg{url};
  auto err = wait_stored_offsets(pg, node, o.group_id, topic, 2);
  BOOST_TEST_REQUIRE(err.empty(), err);

  httplib::Client cli{"127.0.0.1", node.port()};
  cli.set_bearer_token_auth(test_token());
  auto get = [&](const std::string& path) {
    auto r = cli.Get(path.c_str());
    BOOST_REQUIRE_MESSAGE(r, "no response for " << path);
    BOOST_REQUIRE_MESSAGE(r->status == 200, path << ": " << r->status << " "
                                                 << r->body);
    return json::parse(r->body);
  };
  auto now = get("/v1/users/u-kg/facts?predicate=lives_in");
  BOOST_TEST_REQUIRE(now.at("facts").size() == 1u, now.dump());
  BOOST_TEST(now.at("facts")[0].at("object") == "Berlin");
  auto then = get("/v1/users/u-kg/facts?predicate=lives_in"
                  "&as_of=2024-05-01T12:00:00Z");
  BOOST_TEST_REQUIRE(then.at("facts").size() == 1u, then.dump());
  BOOST_TEST(then.at("facts")[0].at("object") == "Paris");
  BOOST_TEST(then.at("facts")[0].at("invalid_at")
             == "2024-05-02T10:00:00.000Z");
  auto all = get("/v1/users/u-kg/facts");
  BOOST_TEST(all.at("facts").size() == 3u, all.dump()); // Berlin, Initech, jazz

  auto people = get("/v1/users/u-kg/entities?type=person");
  std::string tom_id;
  for (auto& e : people.at("entities"))
    if (e.at("name") == "Tom")
      tom_id = e.at("entity_id").get<std::string>();
  BOOST_TEST_REQUIRE(!tom_id.empty(), people.dump());
  auto nb = get("/v1/users/u-kg/entities/" + tom_id + "/neighbors");
  bool with_initech = false;
  for (auto& n : nb.at("neighbors"))
    with_initech = with_initech
                   || (n.at("name") == "Initech"
                       && n.at("relation") == "co_occurs");
  BOOST_TEST(with_initech, nb.dump());
  const auto text = node.metrics();
  auto facts_metric = metric_value(text, "agentmem_facts_total", "kind=\"fact\"");
  BOOST_TEST_REQUIRE(facts_metric.has_value(), "no agentmem_facts_total");
  BOOST_TEST(*facts_metric >= 3.0); // Paris, Berlin, Initech
  auto prefs = metric_value(text, "agentmem_facts_total", "kind=\"preference\"");
  BOOST_TEST_REQUIRE(prefs.has_value());
  BOOST_TEST(*prefs >= 1.0); // jazz
  BOOST_TEST(node.terminate() == "exit code 0");
}

BOOST_AUTO_TEST_SUITE_END()
