// (a) SIGKILL at random moments while 100,000 events stream in through a
// real Kafka broker; agentmem is restarted each time with the same config
// and data dir. Afterwards Postgres holds exactly the published event set,
// the rollups are exact and the vector index holds exactly the memories.

#include <random>

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(
  sigkill_at_five_random_moments_during_a_100k_event_stream_loses_and_duplicates_nothing,
  agentmem::test::pg_database) {
  const std::string topic = "agent.activity.faults.kill.v1";
  const std::string dlq = topic + ".dlq";
  const int partitions = 16;
  const size_t n_events = 100000;
  const auto publish_for = std::chrono::seconds(50);
  const int kills = 5;
  const uint64_t seed = test_seed(20260101);
  auto t_test = steady::now();

  temp_dir tmp{"agentmem-fault-kill"};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary() << " (ready after "
                               << seconds_since(t_test) << " s)");
  auto ev = make_events(topic, n_events, 100, seed, publish_for);

  node_options o;
  o.brokers = cluster.bootstrap();
  o.topic = topic;
  o.dlq_topic = dlq;
  o.group_id = "agentmem-fault-kill";
  o.postgres_url = url;
  o.data_dir = tmp / "data";
  agentmem_node node{o, tmp.path()};
  {
    auto err = node.start();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  pg_probe pg{url};

  // Kill moments: `kills` uniform points in [3 s, 48 s] of the publish
  // window, at least 5 s apart (so each process gets to consume).
  std::mt19937_64 rng{seed};
  std::vector<double> kill_at;
  {
    const double gap = 5.0;
    const double span = 45.0 - gap * (kills - 1);
    std::uniform_real_distribution<double> u{0.0, span};
    for (int i = 0; i < kills; ++i)
      kill_at.push_back(u(rng));
    std::sort(kill_at.begin(), kill_at.end());
    for (int i = 0; i < kills; ++i)
      kill_at[i] += 3.0 + gap * i;
    std::string plan;
    for (auto t : kill_at)
      plan += (plan.empty() ? "" : ", ") + std::to_string(t) + " s";
    BOOST_TEST_MESSAGE("seed " << seed << " (AGENTMEM_FAULT_SEED overrides): "
                               << fmt_count(n_events) << " events over "
                               << publish_for.count() << " s, SIGKILL at "
                               << plan);
  }

  auto prod = kafka::producer::create(o.brokers, patient_producer_properties());
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));
  auto t0 = steady::now();
  {
    paced_producer publisher{**prod, topic, ev.records, publish_for};
    auto stored_now = [&] {
      return pg.try_scalar("SELECT count(*) FROM user_activities").value_or(0);
    };
    int64_t stored_at_start = 0;
    for (int i = 0; i < kills; ++i) {
      std::this_thread::sleep_until(
        t0 + std::chrono::milliseconds(static_cast<int64_t>(kill_at[i] * 1000)));
      // A process that has not rejoined the group yet (the killed member's
      // session must expire first) has nothing in flight: let it store
      // something first, so every kill hits a consuming process.
      auto t_wait = steady::now();
      auto err = wait_until(
        "agentmem (process #" + std::to_string(i + 1)
          + ") to store events before SIGKILL #" + std::to_string(i + 1),
        60s, [&] { return stored_now() > stored_at_start; },
        [&] {
          return fmt_count(stored_now()) + " rows, "
                 + fmt_count(stored_at_start) + " when it started; "
                 + consumer_metrics_report(node.metrics());
        },
        [&] { return node.death(); }, 50ms);
      BOOST_TEST_REQUIRE(err.empty(), err);
      if (seconds_since(t_wait) > 0.1)
        BOOST_TEST_MESSAGE("  waited " << seconds_since(t_wait)
                                       << " s for the process to consume");
      auto in_flight = node.metric("agentmem_batches_in_flight").value_or(-1);
      auto stored = stored_now();
      node.kill9();
      BOOST_TEST_MESSAGE("SIGKILL #" << i + 1 << " at " << seconds_since(t0)
                                     << " s: " << fmt_count(publisher.sent())
                                     << " published, " << fmt_count(stored)
                                     << " stored, " << in_flight
                                     << " batches in flight");
      auto t_restart = steady::now();
      err = node.start(90s);
      BOOST_TEST_REQUIRE(err.empty(), err);
      stored_at_start = stored_now();
      BOOST_TEST_MESSAGE("  restarted, ready after "
                         << seconds_since(t_restart) << " s");
    }
    publisher.join();
    BOOST_TEST_REQUIRE(publisher.error().empty(), publisher.error());
    BOOST_TEST_MESSAGE("published " << fmt_count(publisher.sent())
                                    << " events in " << seconds_since(t0)
                                    << " s");
  }

  {
    auto err = wait_all_stored(pg, o.group_id, topic, ev.size(), 240s,
                               o.brokers, partitions, tmp / "kcat", {&node});
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("everything stored " << seconds_since(t0)
                                          << " s after the stream began");
  check_exactly_once(pg, ev);

  // The vector index holds exactly the stored memories: once idle ...
  {
    auto err = wait_index_matches(node, pg, "once idle");
    BOOST_TEST(err.empty(), err);
  }
  // ... and after a clean restart (snapshot + catch-up from Postgres).
  BOOST_TEST(node.terminate() == "exit code 0");
  {
    auto err = node.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), err);
    err = wait_index_matches(node, pg, "after a clean restart");
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities") == ev.size());
  BOOST_TEST(node.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

BOOST_AUTO_TEST_SUITE_END()
