// (b) PostgreSQL goes away for 20 s in the middle of a stream (a private
// cluster stopped and started again on the same dir and port). While it is
// down agentmem reports not-ready, retries with backoff, pauses consumption
// and keeps its memory bounded; once it is back, processing resumes by
// itself and nothing is lost or duplicated.

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "storage/pg_cluster.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

/// One observation of agentmem while Postgres is down.
struct outage_sample {
  double t = 0;          ///< seconds since the stop
  int readyz = -1;       ///< status of GET /readyz (-1: no answer)
  double retries = -1;   ///< agentmem_postgres_retries_total
  double paused = -1;    ///< agentmem_consumer_paused
  double in_flight = -1; ///< agentmem_batches_in_flight
  int64_t rss_kib = -1;  ///< VmRSS
};

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(
  postgres_down_for_20_s_mid_stream_makes_agentmem_unready_and_retrying_with_bounded_memory_then_it_resumes_without_loss) {
  const std::string topic = "agent.activity.faults.pg.v1";
  const std::string dlq = topic + ".dlq";
  const int partitions = 8;
  const size_t n_events = 40000;
  const auto publish_for = std::chrono::seconds(40);
  const auto outage = std::chrono::seconds(20);
  const int max_in_flight = 4;
  const uint64_t seed = test_seed(20260202);
  auto t_test = steady::now();

  BOOST_TEST_REQUIRE(storage::pg_cluster::available(),
                     "no initdb/postgres binaries found");
  temp_dir tmp{"agentmem-fault-pg"};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary());
  const auto pg_dir = tmp / "pg";
  auto pgc = storage::pg_cluster::start(pg_dir, 0);
  BOOST_TEST_REQUIRE(!!pgc, "private Postgres: " << error_of(pgc));
  const uint16_t pg_port = (*pgc)->port();
  const std::string url = (*pgc)->url();
  BOOST_TEST_MESSAGE("Postgres: " << (*pgc)->redacted_url() << " in "
                                  << pg_dir);

  auto ev = make_events(topic, n_events, 50, seed, publish_for);
  node_options o;
  o.brokers = cluster.bootstrap();
  o.topic = topic;
  o.dlq_topic = dlq;
  o.group_id = "agentmem-fault-pg";
  o.postgres_url = url;
  o.data_dir = tmp / "data";
  o.max_in_flight = max_in_flight;
  agentmem_node node{o, tmp.path()};
  {
    auto err = node.start();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  pg_probe pg{url};
  http_client http{node.port(), 5s};

  auto prod = kafka::producer::create(o.brokers, patient_producer_properties());
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));
  auto t0 = steady::now();
  paced_producer publisher{**prod, topic, ev.records, publish_for};

  // Let the stream run for ~8 s and make sure agentmem commits.
  std::this_thread::sleep_until(t0 + 8s);
  {
    auto err = wait_until(
      "agentmem to store events before Postgres goes down", 60s,
      [&] {
        return pg.try_scalar("SELECT count(*) FROM user_activities").value_or(0)
               > 0;
      },
      [&] { return consumer_metrics_report(node.metrics()); },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  const auto rss_before = rss_kib(node.pid());
  const auto retries_before =
    node.metric("agentmem_postgres_retries_total").value_or(0);
  const auto stored_before =
    pg.scalar("SELECT count(*) FROM user_activities");

  // --- outage ------------------------------------------------------------------
  auto t_down = steady::now();
  {
    auto err = (*pgc)->stop();
    BOOST_TEST_REQUIRE(!err, "pg_cluster::stop: " << agentmem::describe(err));
  }
  pgc->reset();
  BOOST_TEST_MESSAGE("Postgres stopped at " << seconds_since(t0) << " s ("
                                            << fmt_count(stored_before)
                                            << " events stored, "
                                            << fmt_count(publisher.sent())
                                            << " published, RSS "
                                            << rss_before / 1024 << " MiB)");
  std::vector<outage_sample> samples;
  while (steady::now() - t_down < outage) {
    outage_sample s;
    s.t = seconds_since(t_down);
    s.readyz = http.get("/readyz").status;
    auto text = node.metrics();
    s.retries = metric_value(text, "agentmem_postgres_retries_total").value_or(-1);
    s.paused = metric_value(text, "agentmem_consumer_paused").value_or(-1);
    s.in_flight = metric_value(text, "agentmem_batches_in_flight").value_or(-1);
    s.rss_kib = rss_kib(node.pid());
    samples.push_back(s);
    BOOST_TEST_REQUIRE(node.running(), node.death());
    std::this_thread::sleep_for(500ms);
  }
  auto restarted = storage::pg_cluster::start(pg_dir, pg_port);
  BOOST_TEST_REQUIRE(!!restarted, "restarting Postgres on " << pg_dir
                                                            << " port "
                                                            << pg_port << ": "
                                                            << error_of(restarted));
  BOOST_TEST_REQUIRE((*restarted)->port() == pg_port);
  BOOST_TEST_MESSAGE("Postgres back after " << seconds_since(t_down)
                                            << " s (" << samples.size()
                                            << " samples taken)");
  {
    std::string table;
    for (size_t i = 0; i < samples.size(); i += 4) {
      auto& s = samples[i];
      table += "  t=" + std::to_string(s.t).substr(0, 4)
               + " s readyz=" + std::to_string(s.readyz) + " retries="
               + std::to_string(static_cast<int64_t>(s.retries)) + " paused="
               + std::to_string(static_cast<int>(s.paused)) + " in_flight="
               + std::to_string(static_cast<int>(s.in_flight)) + " rss="
               + std::to_string(s.rss_kib / 1024) + " MiB\n";
    }
    BOOST_TEST_MESSAGE("during the outage:\n" << table);
  }

  // /readyz: 503 within 5 s of the stop, and from then on for the outage.
  {
    size_t first_503 = samples.size();
    for (size_t i = 0; i < samples.size(); ++i)
      if (samples[i].readyz == 503) {
        first_503 = i;
        break;
      }
    BOOST_TEST_REQUIRE(first_503 < samples.size(),
                       "GET /readyz never answered 503 while Postgres was "
                       "down (first answer "
                         << (samples.empty() ? -1 : samples.front().readyz)
                         << ", last "
                         << (samples.empty() ? -1 : samples.back().readyz)
                         << ")");
    BOOST_TEST(samples[first_503].t <= 5.0,
               "GET /readyz first answered 503 only "
                 << samples[first_503].t << " s after Postgres stopped");
    size_t not_503 = 0;
    for (size_t i = first_503; i < samples.size(); ++i)
      not_503 += samples[i].readyz != 503;
    BOOST_TEST(not_503 == 0u, not_503 << " of " << samples.size() - first_503
                                      << " later /readyz answers while "
                                         "Postgres was down were not 503");
  }
  // agentmem_postgres_retries_total keeps growing (backoff ≤ 5 s).
  {
    auto at = [&](double t) {
      for (auto& s : samples)
        if (s.t >= t)
          return s.retries;
      return samples.back().retries;
    };
    const double r5 = at(5.0), r_end = samples.back().retries;
    BOOST_TEST(r5 > retries_before,
               "agentmem_postgres_retries_total " << retries_before
                                                  << " before the outage, "
                                                  << r5 << " 5 s into it");
    BOOST_TEST(r_end > r5, "agentmem_postgres_retries_total did not grow "
                           "between 5 s ("
                             << r5 << ") and " << samples.back().t
                             << " s (" << r_end << ") into the outage");
  }
  // Backpressure: partitions paused, at most max_in_flight batches pending.
  {
    bool paused = false;
    double max_in_flight_seen = 0;
    for (auto& s : samples) {
      paused = paused || s.paused == 1;
      max_in_flight_seen = std::max(max_in_flight_seen, s.in_flight);
    }
    BOOST_TEST(paused, "agentmem_consumer_paused was never 1 during the "
                       "outage (backpressure should pause the partitions "
                       "once " << max_in_flight << " batches are pending)");
    BOOST_TEST(max_in_flight_seen <= max_in_flight,
               "agentmem_batches_in_flight reached " << max_in_flight_seen
                                                     << " > max_in_flight "
                                                     << max_in_flight);
  }
  // Memory: below 1.5 GiB throughout, and flat once backpressure holds.
  {
    int64_t max_rss = 0;
    int64_t rss_at_5 = -1;
    for (auto& s : samples) {
      max_rss = std::max(max_rss, s.rss_kib);
      if (rss_at_5 < 0 && s.t >= 5.0)
        rss_at_5 = s.rss_kib;
    }
    const int64_t rss_end = samples.back().rss_kib;
    BOOST_TEST(max_rss > 0, "could not read VmRSS of pid " << node.pid());
    BOOST_TEST(max_rss < 1536 * 1024, "RSS reached " << max_rss / 1024
                                                     << " MiB during the "
                                                        "outage (limit 1536)");
    BOOST_TEST(rss_end - rss_at_5 < 256 * 1024,
               "RSS grew from " << rss_at_5 / 1024 << " MiB (5 s into the "
                                                      "outage) to "
                                << rss_end / 1024 << " MiB (at "
                                << samples.back().t << " s)");
    BOOST_TEST_MESSAGE("RSS: " << rss_before / 1024 << " MiB before, max "
                               << max_rss / 1024 << " MiB during, "
                               << rss_at_5 / 1024 << " -> " << rss_end / 1024
                               << " MiB from 5 s to the end of the outage");
  }

  // --- recovery ----------------------------------------------------------------
  {
    auto t_back = steady::now();
    std::string last;
    auto err = wait_until(
      "GET /readyz to answer 200 again after Postgres returned", 60s,
      [&] {
        auto r = http.get("/readyz");
        last = std::to_string(r.status) + " " + r.body;
        return r.status == 200;
      },
      [&] { return "last answer " + last; }, [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
    BOOST_TEST_MESSAGE("ready again " << seconds_since(t_back)
                                      << " s after Postgres returned");
  }
  publisher.join();
  BOOST_TEST_REQUIRE(publisher.error().empty(), publisher.error());
  {
    auto err = wait_all_stored(pg, o.group_id, topic, ev.size(), 180s,
                               o.brokers, partitions, tmp / "kcat", {&node});
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("everything stored " << seconds_since(t0)
                                          << " s after the stream began");
  BOOST_TEST(node.running(), "agentmem was restarted or died: " << node.death());
  check_exactly_once(pg, ev);
  {
    auto err = wait_index_matches(node, pg, "once idle");
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST(node.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

BOOST_AUTO_TEST_SUITE_END()
