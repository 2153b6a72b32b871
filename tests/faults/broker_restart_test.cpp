// (c) The Kafka broker is stopped and started again (same dir, same port)
// in the middle of a stream. The test's producer buffers and retries across
// the outage (librdkafka, message.timeout.ms = 5 min); agentmem's consumer
// reconnects by itself, the same agentmem process resumes, and nothing is
// lost or duplicated.

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(
  kafka_broker_restarted_mid_stream_agentmem_resumes_by_itself_without_loss_or_duplicates,
  agentmem::test::pg_database) {
  const std::string topic = "agent.activity.faults.broker.v1";
  const std::string dlq = topic + ".dlq";
  const int partitions = 8;
  const size_t n_events = 30000;
  const auto publish_for = std::chrono::seconds(30);
  const auto down_for = std::chrono::seconds(5);
  const uint64_t seed = test_seed(20260303);
  auto t_test = steady::now();

  temp_dir tmp{"agentmem-fault-broker"};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary());
  auto ev = make_events(topic, n_events, 50, seed, publish_for);

  node_options o;
  o.brokers = cluster.bootstrap();
  o.topic = topic;
  o.dlq_topic = dlq;
  o.group_id = "agentmem-fault-broker";
  o.postgres_url = url;
  o.data_dir = tmp / "data";
  agentmem_node node{o, tmp.path()};
  {
    auto err = node.start();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  const pid_t agentmem_pid = node.pid();
  pg_probe pg{url};

  auto prod = kafka::producer::create(o.brokers, patient_producer_properties());
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));
  auto t0 = steady::now();
  paced_producer publisher{**prod, topic, ev.records, publish_for,
                           std::chrono::minutes(3)};
  auto stored_now = [&] {
    return pg.try_scalar("SELECT count(*) FROM user_activities").value_or(0);
  };

  std::this_thread::sleep_until(t0 + 8s);
  {
    auto err = wait_until(
      "agentmem to store events before the broker restart", 60s,
      [&] { return stored_now() > 0; },
      [&] { return consumer_metrics_report(node.metrics()); },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }

  // --- broker down and up again --------------------------------------------------
  const auto stored_before = stored_now();
  auto t_stop = steady::now();
  {
    auto err = cluster.stop_broker();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("broker stopped at " << seconds_since(t0) << " s (took "
                                          << seconds_since(t_stop) << " s; "
                                          << fmt_count(stored_before)
                                          << " stored, "
                                          << fmt_count(publisher.sent())
                                          << " published)");
  std::this_thread::sleep_for(down_for);
  BOOST_TEST_REQUIRE(node.running(),
                     "agentmem died while the broker was down: "
                       << node.death());
  const auto stored_while_down = stored_now();
  auto t_start = steady::now();
  {
    // Fails (instead of reconfiguring agentmem) if the port changed.
    auto err = cluster.start_broker();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("broker back on " << cluster.bootstrap() << " at "
                                       << seconds_since(t0) << " s (start took "
                                       << seconds_since(t_start)
                                       << " s; outage "
                                       << seconds_since(t_stop) << " s; "
                                       << fmt_count(stored_while_down)
                                       << " stored)");

  // Processing resumes by itself.
  {
    auto err = wait_until(
      "agentmem to store new events after the broker came back", 90s,
      [&] { return stored_now() > stored_while_down; },
      [&] {
        return fmt_count(stored_now()) + " stored; "
               + consumer_metrics_report(node.metrics());
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("consumption resumed " << seconds_since(t_start)
                                            << " s after the broker start");
  publisher.join();
  BOOST_TEST_REQUIRE(publisher.error().empty(),
                     "the producer did not deliver across the outage: "
                       << publisher.error());
  BOOST_TEST_MESSAGE("published " << fmt_count(publisher.sent()) << " in "
                                  << seconds_since(t0) << " s ("
                                  << (*prod)->failed_total()
                                  << " failed deliveries)");
  {
    auto err = wait_all_stored(pg, o.group_id, topic, ev.size(), 180s,
                               o.brokers, partitions, tmp / "kcat", {&node});
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("everything stored " << seconds_since(t0)
                                          << " s after the stream began");
  BOOST_TEST((node.running() && node.pid() == agentmem_pid),
             "the agentmem process that saw the outage is not the one that "
             "finished: "
               << node.death());
  check_exactly_once(pg, ev);
  {
    auto err = wait_index_matches(node, pg, "once idle");
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST(http_client{node.port()}.get("/readyz").status == 200);
  BOOST_TEST(node.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

BOOST_AUTO_TEST_SUITE_END()
