#include "metrics/registry.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

using namespace agentmem::metrics;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Lines of `text` that start with `prefix`, in order.
std::vector<std::string> lines_with(const std::string& text,
                                    const std::string& prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    auto line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0)
      out.push_back(line);
    if (end == std::string::npos)
      break;
    pos = end + 1;
  }
  return out;
}

/// Result of running a shell command: exit code and combined output.
struct run_result {
  int exit_code = -1;
  std::string output;
};

run_result run(const std::string& cmd) {
  run_result r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p)
    return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// A registry with every kind of family, labels that need escaping, and
/// special values -- what promtool gets to judge.
void fill(registry& reg) {
  reg.get_counter("agentmem_events_total", "Events consumed").inc(41);
  reg.get_counter("agentmem_events_total", "Events consumed").inc();
  reg.get_counter("agentmem_dlq_total", "Events sent to the dead-letter topic",
                  {{"reason", "invalid_json"}})
    .inc(3);
  reg.get_counter("agentmem_dlq_total", "Events sent to the dead-letter topic",
                  {{"reason", "bad \"quote\" \\ back\nslash"}})
    .inc(0.5);
  reg.get_gauge("agentmem_consumer_lag", "Kafka consumer lag in messages",
                {{"topic", "events"}, {"partition", "0"}})
    .set(1234);
  reg.get_gauge("agentmem_temperature_ratio", "A ratio that can go negative")
    .set(-0.25);
  reg.get_gauge("agentmem_huge_bytes", "A big value").set(1.5e300);
  auto& h = reg.get_histogram("agentmem_stage_latency_seconds",
                              "Per-stage latency in seconds",
                              latency_buckets(), {{"stage", "embedding"}});
  for (double v : {0.0001, 0.003, 0.003, 0.2, 45.0})
    h.observe(v);
  reg.get_histogram("agentmem_stage_latency_seconds",
                    "Per-stage latency in seconds", latency_buckets(),
                    {{"stage", "writer"}})
    .observe(0.01);
  reg.get_histogram("agentmem_batch_size_events", "Events per batch",
                    size_buckets())
    .observe(120);
}

} // namespace

BOOST_AUTO_TEST_SUITE(registry_rendering)

BOOST_AUTO_TEST_CASE(counters_render_with_help_type_and_value) {
  registry reg;
  auto& c = reg.get_counter("agentmem_things_total", "Things seen");
  c.inc();
  c.inc(2.5);
  c.inc(-7); // counters never go down
  BOOST_TEST(c.value() == 3.5);
  auto text = reg.render();
  BOOST_TEST(text
             == "# HELP agentmem_things_total Things seen\n"
                "# TYPE agentmem_things_total counter\n"
                "agentmem_things_total 3.5\n");
}

BOOST_AUTO_TEST_CASE(the_same_name_and_labels_return_the_same_series) {
  registry reg;
  auto& a = reg.get_counter("agentmem_x_total", "X", {{"k", "v"}});
  auto& b = reg.get_counter("agentmem_x_total", "X", {{"k", "v"}});
  auto& c = reg.get_counter("agentmem_x_total", "X", {{"k", "w"}});
  BOOST_TEST(&a == &b);
  BOOST_TEST(&a != &c);
  BOOST_CHECK_THROW(reg.get_gauge("agentmem_x_total", "X"), std::logic_error);
}

BOOST_AUTO_TEST_CASE(gauges_go_up_and_down) {
  registry reg;
  auto& g = reg.get_gauge("agentmem_queue_depth", "Queued items",
                          {{"queue", "writer"}});
  g.set(10);
  g.add(-3);
  g.add(0.5);
  BOOST_TEST(g.value() == 7.5);
  auto text = reg.render();
  BOOST_TEST(contains(text, "# TYPE agentmem_queue_depth gauge\n"));
  BOOST_TEST(contains(text, "agentmem_queue_depth{queue=\"writer\"} 7.5\n"));
}

BOOST_AUTO_TEST_CASE(gauge_functions_are_evaluated_at_each_render_and_can_be_removed) {
  registry reg;
  double ready = 1;
  reg.set_gauge_function("agentmem_ready", "Ready", [&] { return ready; });
  BOOST_TEST(contains(reg.render(), "# TYPE agentmem_ready gauge\nagentmem_ready 1\n"));
  ready = 0;
  BOOST_TEST(contains(reg.render(), "agentmem_ready 0\n"));
  reg.remove_gauge("agentmem_ready", {});
  BOOST_TEST(!contains(reg.render(), "agentmem_ready 0\n"));
}

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
  BOOST_TEST(escape_label_value("plain") == "plain");
  BOOST_TEST(escape_label_value("a\\b") == "a\\\\b");
  BOOST_TEST(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  BOOST_TEST(escape_label_value("two\nlines") == "two\\nlines");
  registry reg;
  reg.get_counter("agentmem_e_total", "E", {{"v", "a\\b\"c\nd"}}).inc();
  BOOST_TEST(contains(reg.render(), "agentmem_e_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"));
}

BOOST_AUTO_TEST_CASE(help_text_is_escaped) {
  registry reg;
  reg.get_gauge("agentmem_g", "back\\slash and\nnewline").set(1);
  BOOST_TEST(contains(reg.render(),
                      "# HELP agentmem_g back\\\\slash and\\nnewline\n"));
}

BOOST_AUTO_TEST_CASE(histograms_render_cumulative_buckets_inf_sum_and_count) {
  registry reg;
  auto& h = reg.get_histogram("agentmem_op_seconds", "Op time", {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0, 30.0})
    h.observe(v);
  auto text = reg.render();
  BOOST_TEST(text.rfind("# HELP agentmem_op_seconds Op time\n"
                        "# TYPE agentmem_op_seconds histogram\n",
                        0)
             == 0u);
  // Bounds print in their shortest exact form.
  BOOST_TEST(text.find("agentmem_op_seconds_bucket{le=\"0.1\"}") != std::string::npos);
  auto buckets = lines_with(text, "agentmem_op_seconds_bucket{le=\"");
  BOOST_TEST_REQUIRE(buckets.size() == 4u);
  auto le_of = [](const std::string& line) {
    auto start = line.find('"') + 1;
    return line.substr(start, line.find('"', start) - start);
  };
  auto value_of = [](const std::string& line) {
    return line.substr(line.rfind(' ') + 1);
  };
  BOOST_TEST(std::stod(le_of(buckets[0])) == 0.1);
  BOOST_TEST(std::stod(le_of(buckets[1])) == 1.0);
  BOOST_TEST(std::stod(le_of(buckets[2])) == 10.0);
  BOOST_TEST(le_of(buckets[3]) == "+Inf");
  // Cumulative: 0.05 and 0.1 (le is inclusive), then 0.5, then 2.
  BOOST_TEST(value_of(buckets[0]) == "2");
  BOOST_TEST(value_of(buckets[1]) == "3");
  BOOST_TEST(value_of(buckets[2]) == "4");
  BOOST_TEST(value_of(buckets[3]) == "6");
  BOOST_TEST(contains(text, "agentmem_op_seconds_count 6\n"));
  auto sum = lines_with(text, "agentmem_op_seconds_sum ");
  BOOST_TEST_REQUIRE(sum.size() == 1u);
  BOOST_TEST(std::stod(sum[0].substr(sum[0].find(' ') + 1))
             == 52.65, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(labelled_histograms_put_le_last) {
  registry reg;
  reg.get_histogram("agentmem_lat_seconds", "L", {0.5}, {{"stage", "a"}})
    .observe(0.25);
  reg.get_histogram("agentmem_lat_seconds", "L", {0.5}, {{"stage", "b"}})
    .observe(1);
  auto text = reg.render();
  BOOST_TEST(contains(text,
                      "agentmem_lat_seconds_bucket{stage=\"a\",le=\"0.5\"} 1\n"
                      "agentmem_lat_seconds_bucket{stage=\"a\",le=\"+Inf\"} 1\n"
                      "agentmem_lat_seconds_sum{stage=\"a\"} 0.25\n"
                      "agentmem_lat_seconds_count{stage=\"a\"} 1\n"));
  BOOST_TEST(contains(text,
                      "agentmem_lat_seconds_bucket{stage=\"b\",le=\"0.5\"} 0\n"
                      "agentmem_lat_seconds_bucket{stage=\"b\",le=\"+Inf\"} 1\n"
                      "agentmem_lat_seconds_sum{stage=\"b\"} 1\n"
                      "agentmem_lat_seconds_count{stage=\"b\"} 1\n"));
  // One HELP/TYPE pair per family, however many series.
  BOOST_TEST(lines_with(text, "# TYPE agentmem_lat_seconds").size() == 1u);
}

BOOST_AUTO_TEST_CASE(bucket_bounds_parse_back_to_the_exact_bounds) {
  registry reg;
  auto bounds = latency_buckets();
  reg.get_histogram("agentmem_h_seconds", "H", bounds).observe(0);
  auto buckets = lines_with(reg.render(), "agentmem_h_seconds_bucket{le=\"");
  BOOST_TEST_REQUIRE(buckets.size() == bounds.size() + 1);
  for (size_t i = 0; i < bounds.size(); ++i) {
    auto& line = buckets[i];
    auto start = line.find('"') + 1;
    auto le = line.substr(start, line.find('"', start) - start);
    BOOST_TEST(std::stod(le) == bounds[i], line);
  }
  BOOST_TEST(buckets.back() == "agentmem_h_seconds_bucket{le=\"+Inf\"} 1");
}

BOOST_AUTO_TEST_CASE(special_values_render_as_prometheus_spells_them) {
  registry reg;
  reg.get_gauge("agentmem_a", "A").set(std::numeric_limits<double>::infinity());
  reg.get_gauge("agentmem_b", "B").set(-std::numeric_limits<double>::infinity());
  reg.get_gauge("agentmem_c", "C").set(std::nan(""));
  reg.get_gauge("agentmem_d", "D").set(1e20);
  reg.get_gauge("agentmem_e", "E").set(0.1);
  auto text = reg.render();
  BOOST_TEST(contains(text, "agentmem_a +Inf\n"));
  BOOST_TEST(contains(text, "agentmem_b -Inf\n"));
  BOOST_TEST(contains(text, "agentmem_c NaN\n"));
  BOOST_TEST(contains(text, "agentmem_d 1e+20\n"));
  auto e = lines_with(text, "agentmem_e ");
  BOOST_TEST_REQUIRE(e.size() == 1u);
  BOOST_TEST(std::stod(e[0].substr(11)) == 0.1);
}

BOOST_AUTO_TEST_CASE(families_render_sorted_by_name) {
  registry reg;
  reg.get_gauge("agentmem_zeta", "Z").set(1);
  reg.get_counter("agentmem_alpha_total", "A").inc();
  reg.get_gauge("agentmem_mid", "M").set(1);
  auto text = reg.render();
  auto a = text.find("# HELP agentmem_alpha_total");
  auto m = text.find("# HELP agentmem_mid");
  auto z = text.find("# HELP agentmem_zeta");
  BOOST_TEST(a < m);
  BOOST_TEST(m < z);
}

BOOST_AUTO_TEST_CASE(concurrent_updates_are_all_counted) {
  registry reg;
  auto& c = reg.get_counter("agentmem_c_total", "C");
  auto& h = reg.get_histogram("agentmem_h_seconds", "H", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
        reg.get_gauge("agentmem_g", "G").add(1);
      }
    });
  for (auto& t : threads)
    t.join();
  BOOST_TEST(c.value() == 40000);
  BOOST_TEST(h.snap().count == 40000u);
  BOOST_TEST(reg.get_gauge("agentmem_g", "G").value() == 40000);
  BOOST_TEST(contains(reg.render(), "agentmem_h_seconds_count 40000\n"));
}

BOOST_AUTO_TEST_CASE(promtool_accepts_the_rendered_registry_without_lint) {
  const char* promtool = "/usr/bin/promtool";
  if (::access(promtool, X_OK) != 0) {
    BOOST_TEST_MESSAGE("skipped: " << promtool << " is not installed");
    return;
  }
  registry reg;
  fill(reg);
  auto text = reg.render();
  char path[] = "/tmp/agentmem_metrics_XXXXXX";
  int fd = ::mkstemp(path);
  BOOST_TEST_REQUIRE(fd >= 0);
  ::close(fd);
  {
    std::ofstream out{path, std::ios::binary};
    out << text;
  }
  auto r = run(std::string{promtool} + " check metrics < " + path);
  ::unlink(path);
  BOOST_TEST_INFO("exposition:\n" << text);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.output.empty(), "promtool said: " << r.output);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(a_removed_gauge_series_disappears_from_the_output) {
  agentmem::metrics::registry reg;
  reg.get_gauge("agentmem_lag_records", "Lag", {{"partition", "0"}}).set(3);
  reg.get_gauge("agentmem_lag_records", "Lag", {{"partition", "1"}}).set(4);
  reg.remove_gauge("agentmem_lag_records", {{"partition", "0"}});
  auto text = reg.render();
  BOOST_TEST(text.find("agentmem_lag_records{partition=\"0\"}") == std::string::npos);
  BOOST_TEST(text.find("agentmem_lag_records{partition=\"1\"} 4") != std::string::npos);
}
