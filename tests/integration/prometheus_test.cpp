// A real Prometheus server scrapes a real agentmem that has processed
// events, and promtool lints agentmem's exposition; every panel query of
// the Grafana dashboards in deploy/grafana returns data, from that
// Prometheus and from the PostgreSQL agentmem wrote its rollups to.

#include <fstream>
#include <regex>
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
        std::vector<kafka::topic_spec>{{topic, 4}, {topic + ".dlq", 1},
                                       {"agent.analytics.v1", 1}},
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
    // Traffic also has broken events (dead-letter panels).
    for (const char* bad : {"not json", "{\"event_id\": 1}", "[]"}) {
      if (auto err = (*prod)->produce(topic, "bad", bad))
        throw std::runtime_error("produce: " + describe(err));
      ++bad_events;
    }
    if (auto err = (*prod)->flush(std::chrono::seconds(30)))
      throw std::runtime_error("flush: " + describe(err));
    pg_probe pg{url};
    const auto total = static_cast<int64_t>(n + bad_events);
    auto err = wait_stored_offsets(pg, *node, o.group_id, topic, total);
    if (!err.empty())
      throw std::runtime_error(err);
  }

  const std::string topic = "agent.activity.prometheus.v1";
  size_t bad_events = 0;
  std::unique_ptr<test_kafka> cluster;
  std::unique_ptr<agentmem_node> node;
};

/// The dashboard file deploy/grafana/<name>.
json dashboard(const std::string& name) {
  std::ifstream in{std::string{AGENTMEM_SOURCE_DIR} + "/deploy/grafana/" + name};
  BOOST_TEST_REQUIRE(in.good(), "cannot read deploy/grafana/" << name);
  return json::parse(in);
}

/// (panel title, query) of every target of every panel.
std::vector<std::pair<std::string, std::string>>
panel_queries(const json& dash, const char* field) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& p : dash.at("panels"))
    for (auto& t : p.at("targets"))
      out.emplace_back(p.at("title").get<std::string>(),
                       t.at(field).get<std::string>());
  return out;
}

/// Grafana's PostgreSQL macros as Grafana expands them for a time range
/// (from, to given as SQL timestamptz literals).
std::string expand_sql_macros(std::string sql, const std::string& from,
                              const std::string& to) {
  sql = std::regex_replace(sql, std::regex{R"(\$__timeFilter\(([^)]+)\))"},
                           "$1 BETWEEN " + from + " AND " + to);
  sql = std::regex_replace(
    sql, std::regex{R"(\$__timeGroupAlias\(([^,]+), *1h\))"},
    "floor(extract(epoch from $1)/3600)*3600 AS \"time\"");
  sql = std::regex_replace(sql, std::regex{R"(\$__timeFrom\(\))"}, from);
  sql = std::regex_replace(sql, std::regex{R"(\$__timeTo\(\))"}, to);
  BOOST_TEST(sql.find("$__") == std::string::npos,
             "a Grafana macro the test does not expand: " << sql);
  return sql;
}

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

  // Searches, so that the search panels have series.
  {
    http_client api{node.port()};
    for (const char* mode : {"hybrid", "vector", "keyword"}) {
      auto r = api.post_json("/v1/memories/search",
                             json{{"user_id", "user-0001"},
                                  {"query", "code review"},
                                  {"mode", mode}}.dump());
      BOOST_TEST(r.status == 200, r.status << " " << r.body);
    }
  }
  // Every panel of "agentmem pipeline" returns data from this Prometheus
  // ($__rate_interval as Grafana sets it for a 1 s scrape interval: 1m).
  {
    auto queries = panel_queries(dashboard("agentmem-pipeline.json"), "expr");
    BOOST_TEST(queries.size() >= 14u);
    for (auto& [title, expr] : queries) {
      auto q = std::regex_replace(expr, std::regex{R"(\$__rate_interval)"},
                                  "1m");
      size_t series = 0;
      std::string answer;
      auto err = wait_until(
        "Prometheus data for panel '" + title + "'", 30s,
        [&] {
          auto r = http.get("/api/v1/query?query=" + url_encode(q));
          answer = std::to_string(r.status) + " " + r.body;
          if (r.status != 200)
            return false;
          auto j = json::parse(r.body, nullptr, false);
          if (j.is_discarded() || j.value("status", "") != "success")
            return false;
          series = j["data"]["result"].size();
          return series > 0;
        },
        [&] { return "query " + q + ", last answer: " + answer; },
        [&] { return node.death(); }, 500ms);
      BOOST_TEST(err.empty(), err);
      BOOST_TEST_MESSAGE("panel '" << title << "': " << series
                                   << " series for " << q);
    }
  }
  // Every panel of "agent analytics" runs on the rollups agentmem wrote,
  // with Grafana's time macros expanded for the last 7 days, and has rows.
  {
    pg_probe pg{url};
    auto queries = panel_queries(dashboard("agent-analytics.json"), "rawSql");
    BOOST_TEST(queries.size() >= 8u);
    for (auto& [title, sql] : queries) {
      auto q = expand_sql_macros(sql, "now() - interval '7 days'",
                                 "now() + interval '1 day'");
      auto rows = pg.try_scalar("SELECT count(*) FROM (" + q + ") panel");
      BOOST_TEST(rows.has_value(), "panel '" << title << "' failed: " << q);
      BOOST_TEST(rows.value_or(0) > 0, "panel '" << title << "' has no rows");
      BOOST_TEST_MESSAGE("panel '" << title << "': " << rows.value_or(-1)
                                   << " rows");
    }
  }

  prom.signal(SIGTERM);
  BOOST_TEST(prom.wait_exit(30s).has_value(),
             "prometheus did not stop within 30 s of SIGTERM");
  BOOST_TEST(node.terminate() == "exit code 0");
}

BOOST_AUTO_TEST_SUITE_END()
