// A real Prometheus server scrapes a real agentmem that has processed
// events, and promtool lints agentmem's exposition.

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "kafka/producer.hpp"
#include "kafka/simulator.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

const char* prometheus_bin = "/usr/bin/prometheus";
const char* promtool_bin = "/usr/bin/promtool";

/// agentmem with `n` synthetic events fully processed.
struct processed_node {
  processed_node(const std::string& url, const temp_dir& tmp, size_t n)
    : cluster(std::make_unique<test_kafka>(
        broker_from_env(),
        std::vector<kafka::topic_spec>{{topic, 4}, {topic + ".dlq", 1}},
        tmp.path())) {
    BOOST_TEST_MESSAGE("Kafka: " << cluster->summary());
    node_options o{*cluster, topic, "agentmem-prometheus", url, tmp / "data"};
    node = std::make_unique<agentmem_node>(o, tmp.path());
    if (auto err = node->start(); !err.empty())
      throw std::runtime_error(err);
    kafka::simulator_config sc;
    sc.topic = topic;
    sc.users = 10;
    sc.rate = 100;
    sc.seed = 7;
    sc.start_time_ms = wall_ms() - 60'000;
    auto events = kafka::generate_events(sc, n);
    auto prod = kafka::producer::create(o.brokers);
    if (!prod)
      throw std::runtime_error(describe(prod.error()));
    for (auto& [k, v] : events)
      if (auto err = (*prod)->produce(topic, k, v))
        throw std::runtime_error("produce: " + describe(err));
    if (auto err = (*prod)->flush(std::chrono::seconds(30)))
      throw std::runtime_error("flush: " + describe(err));
    pg_probe pg{url};
    const auto total = static_cast<int64_t>(n);
    auto err = wait_stored_offsets(pg, *node, o.group_id, topic, total);
    if (!err.empty())
      throw std::runtime_error(err);
  }

  const std::string topic = "agent.activity.prometheus.v1";
  std::unique_ptr<test_kafka> cluster;
  std::unique_ptr<agentmem_node> node;
};

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(
  a_real_prometheus_scrapes_agentmem_and_promtool_finds_no_problems_in_its_metrics,
  agentmem::test::pg_database) {
  const size_t published = 600;
  temp_dir tmp{"agentmem-it-prometheus"};
  processed_node p{url, tmp, published};
  auto& node = *p.node;

  const auto text = node.metrics();
  BOOST_TEST_REQUIRE(!text.empty(), "GET /metrics failed");
  const auto consumed = metric_value(text, "agentmem_events_consumed_total");
  BOOST_TEST_REQUIRE(consumed.has_value(),
                     "no agentmem_events_consumed_total in /metrics");
  BOOST_TEST(*consumed >= static_cast<double>(published));

  // promtool: the exposition parses and passes the lint checks.
  {
    auto [status, output] =
      run_with_input({promtool_bin, "check", "metrics"}, text, tmp / "promtool");
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0),
               "promtool check metrics exited with wait status "
                 << status << ":\n" << output);
    BOOST_TEST(output.empty(), "promtool check metrics reported:\n" << output);
  }

  // Prometheus scraping agentmem every second.
  const uint16_t prom_port = free_port();
  {
    std::ofstream f{tmp / "prometheus.yml"};
    f << "global:\n"
      << "  scrape_interval: 1s\n"
      << "  evaluation_interval: 1s\n"
      << "scrape_configs:\n"
      << "  - job_name: agentmem\n"
      << "    metrics_path: /metrics\n"
      << "    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << node.port() << "']\n";
  }
  const auto prom_log = tmp / "prometheus.log";
  child_process prom{{prometheus_bin, "--config.file=" + (tmp / "prometheus.yml"),
                      "--storage.tsdb.path=" + (tmp / "tsdb"),
                      "--web.listen-address=127.0.0.1:"
                        + std::to_string(prom_port)},
                     prom_log};
  struct log_on_failure {
    std::string path;
    ~log_on_failure() {
      if (current_test_failed())
        std::cerr << "[integration] tail of " << path << ":\n"
                  << file_tail(path, 40) << std::endl;
    }
  } prom_log_guard{prom_log};

  http_client http{prom_port, 5s};
  double scraped = -1;
  std::string last;
  auto err = wait_until(
    "Prometheus to return agentmem_events_consumed_total > 0", 60s,
    [&] {
      auto r = http.get("/api/v1/query?query=agentmem_events_consumed_total");
      last = r.status < 0 ? r.error : std::to_string(r.status) + " " + r.body;
      if (r.status != 200)
        return false;
      auto j = json::parse(r.body, nullptr, false);
      if (j.is_discarded() || j.value("status", "") != "success")
        return false;
      auto& result = j["data"]["result"];
      if (!result.is_array() || result.empty())
        return false;
      scraped = std::stod(result[0]["value"][1].get<std::string>());
      return scraped > 0;
    },
    [&] { return "last answer: " + last; },
    [&] {
      if (!prom.running())
        return "prometheus exited (" + prom.describe_status() + ")";
      return node.death();
    },
    500ms);
  BOOST_TEST_REQUIRE(err.empty(), err);
  BOOST_TEST_MESSAGE("Prometheus sees agentmem_events_consumed_total = "
                     << scraped << " (published " << published
                     << ", /metrics said " << *consumed << ")");
  BOOST_TEST(scraped >= static_cast<double>(published));
  // Nothing was published since: the scraped value is the final one.
  BOOST_TEST(scraped == *consumed);

  // The target is healthy from Prometheus' point of view.
  {
    auto r = http.get("/api/v1/query?query=up%7Bjob%3D%22agentmem%22%7D");
    BOOST_TEST_REQUIRE(r.status == 200, r.status << " " << r.error << r.body);
    auto j = json::parse(r.body);
    auto& result = j["data"]["result"];
    BOOST_TEST_REQUIRE(result.size() == 1u);
    BOOST_TEST(result[0]["value"][1].get<std::string>() == "1");
  }

  prom.signal(SIGTERM);
  BOOST_TEST(prom.wait_exit(30s).has_value(),
             "prometheus did not stop within 30 s of SIGTERM");
  BOOST_TEST(node.terminate() == "exit code 0");
}

BOOST_AUTO_TEST_SUITE_END()
