// (d) A pipeline stage throws (test-only fault injection, [testing] in the
// TOML: the stage fails at its 3rd batch and again at the next one). The
// supervisor restarts the stage chain twice, ingress replays the
// unacknowledged batches, the process keeps running, and nothing is lost or
// duplicated.

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

void stage_throws_twice(const std::string& stage, const std::string& url,
                        uint64_t seed_fallback) {
  const std::string topic = "agent.activity.faults." + stage + ".v1";
  const std::string dlq = topic + ".dlq";
  const int partitions = 8;
  const size_t n_events = 8000;
  const auto publish_for = std::chrono::seconds(8);
  const uint64_t seed = test_seed(seed_fallback);
  auto t_test = steady::now();

  temp_dir tmp{"agentmem-fault-" + stage};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary() << "; seed " << seed);
  auto ev = make_events(topic, n_events, 40, seed, publish_for);

  node_options o;
  o.brokers = cluster.bootstrap();
  o.topic = topic;
  o.dlq_topic = dlq;
  o.group_id = "agentmem-fault-" + stage;
  o.postgres_url = url;
  o.data_dir = tmp / "data";
  // Small batches: the 3rd one arrives early and many follow.
  o.max_batch_records = 500;
  o.extra_toml = "[testing]\nfault_stage = " + toml_str(stage)
                 + "\nfault_at_batch = 3\nfault_times = 2\n";
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
  {
    paced_producer publisher{**prod, topic, ev.records, publish_for};
    publisher.join();
    BOOST_TEST_REQUIRE(publisher.error().empty(), publisher.error());
  }
  {
    auto err = wait_all_stored(pg, o.group_id, topic, ev.size(), 120s,
                               o.brokers, partitions, tmp / "kcat", {&node});
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("everything stored " << seconds_since(t0)
                                          << " s after the stream began");

  // The supervisor restarted the chain (at least) twice, the same process
  // kept running, and the failed batches were replayed.
  const auto restarts =
    node.metric("agentmem_actor_restarts_total").value_or(-1);
  const auto log = log_since_start(node.log_path(), 1);
  BOOST_TEST(restarts >= 2,
             "agentmem_actor_restarts_total = "
               << restarts << ", expected >= 2 after " << stage
               << " threw twice; supervisor log lines:\n"
               << lines_with(log, "[supervisor]"));
  BOOST_TEST((node.running() && node.pid() == agentmem_pid),
             "agentmem did not keep running: " << node.death());
  BOOST_TEST(count_of(log, "injected fault in " + stage) >= 2,
             "the log does not show the injected fault twice; supervisor "
             "lines:\n"
               << lines_with(log, "[supervisor]"));
  {
    // "[ingress] replayed N in-flight batches" once per restart, N >= 1:
    // the batch that failed was still unacknowledged and went again.
    static const std::regex re{R"(\[ingress\] replayed (\d+) in-flight)"};
    std::vector<int> replayed;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), re);
         it != std::sregex_iterator(); ++it)
      replayed.push_back(std::stoi((*it)[1].str()));
    BOOST_TEST(replayed.size() >= 2u,
               "ingress replayed " << replayed.size()
                                   << " times, expected once per restart; "
                                      "lines:\n"
                                   << lines_with(log, "[ingress]"));
    for (int n : replayed)
      BOOST_TEST(n >= 1, "a restart replayed " << n
                                               << " batches; the failed "
                                                  "batch must be replayed");
  }
  BOOST_TEST_MESSAGE("restarts " << restarts << "; log:\n"
                                 << lines_with(log, "[supervisor]")
                                 << lines_with(log, "[ingress] replayed"));
  check_exactly_once(pg, ev);
  {
    auto err = wait_index_matches(node, pg, "once idle");
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST(http_client{node.port()}.get("/readyz").status == 200);
  BOOST_TEST(node.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(
  embedding_stage_throwing_twice_is_restarted_by_the_supervisor_and_its_batches_are_replayed_exactly_once,
  agentmem::test::pg_database) {
  stage_throws_twice("embedding", url, 20260404);
}

BOOST_FIXTURE_TEST_CASE(
  writer_stage_throwing_twice_is_restarted_by_the_supervisor_and_its_batches_are_replayed_exactly_once,
  agentmem::test::pg_database) {
  stage_throws_twice("writer", url, 20260405);
}

BOOST_AUTO_TEST_SUITE_END()
