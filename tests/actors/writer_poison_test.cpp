// The writer against a real PostgreSQL (tests/storage/pg_fixture.hpp) and
// librdkafka's mock cluster for the dead-letter topic, on CAF's
// deterministic test coordinator: events Postgres rejects are isolated and
// dead-lettered, the rest is committed once; transient errors are retried.
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/poison_isolation.hpp"
#include "actors/writer.hpp"
#include "domain/extraction.hpp"
#include "domain/rollup.hpp"
#include "kafka/consumer.hpp"
#include "kafka/dead_letter.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "messages/type_ids.hpp"
#include "metrics/registry.hpp"
#include "tests/kafka/test_util.hpp"
#include "tests/storage/pg_exec.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::test::why;

namespace {

// 2024-05-01T10:00:00Z
constexpr int64_t t0 = 1'714'557'600'000;
const std::string topic = "agent.activity.v1";
const std::string dlq_topic = "agent.activity.v1.dlq";
const std::string group = "agentmem-writer-test";

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
  }
};

caf::behavior sink(caf::event_based_actor*,
                   std::shared_ptr<std::vector<batch>> got) {
  return {[got](batch& b) { got->push_back(std::move(b)); }};
}

activity event(const std::string& id, int64_t offset) {
  activity a;
  a.event_id = id;
  a.ts_ms = t0 + offset * 1000;
  a.user_id = "u1";
  a.session_id = "s1";
  a.agent_type = "chat";
  a.event_type = a.activity_class = "message";
  a.role = "user";
  a.content = "turn " + id + " talks about the weather in Lisbon";
  a.tokens_used = 7;
  a.raw_json = R"({"event_id":")" + id + R"(","user_id":"u1"})";
  a.source = {topic, 0, offset};
  return a;
}

// A batch as aggregation sends it: offsets [first, first + ids.size()).
batch make_batch(uint64_t id, const std::vector<std::string>& ids,
                 int64_t first) {
  batch b;
  b.id = id;
  for (size_t i = 0; i < ids.size(); ++i) {
    b.activities.push_back(event(ids[i], first + static_cast<int64_t>(i)));
    domain::extract_memories(b.activities.back(), {}, b.memories);
  }
  b.usage = domain::usage_deltas(b.activities);
  b.sessions = domain::session_deltas(b.activities);
  b.offsets = {{topic, 0, first + static_cast<int64_t>(ids.size())}};
  return b;
}

double storage_rejected_total() {
  return metrics::global()
    .get_counter("agentmem_events_dead_lettered_total",
                 "Events sent to the dead-letter topic, by reason.",
                 {{"reason", "storage_rejected"}})
    .value();
}

struct fixture : test::pg_database {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::unique_ptr<kafka::mock_cluster> cluster;
  std::unique_ptr<storage::postgres_store> store;
  std::shared_ptr<actors::health> status = std::make_shared<actors::health>();
  std::shared_ptr<std::vector<batch>> got
    = std::make_shared<std::vector<batch>>();
  caf::actor writer;

  fixture() {
    auto s = storage::postgres_store::connect(url);
    BOOST_REQUIRE_MESSAGE(s, why(s));
    store = std::move(*s);
    auto applied = store->migrate();
    BOOST_REQUIRE_MESSAGE(applied, why(applied));
    auto mc = kafka::mock_cluster::start(1, {{dlq_topic, 1}});
    BOOST_REQUIRE_MESSAGE(mc, why(mc));
    cluster = std::move(*mc);
    auto p = kafka::producer::create(cluster->bootstrap());
    BOOST_REQUIRE_MESSAGE(p, why(p));
    actors::writer_config wc;
    wc.next = sys.spawn(sink, got);
    wc.postgres_url = url;
    wc.consumer_group = group;
    wc.embedding_model = "hash-384";
    wc.dlq_topic = dlq_topic;
    wc.dlq_producer = std::shared_ptr<kafka::producer>(std::move(*p));
    wc.status = status;
    writer = sys.spawn(actors::writer, wc);
  }

  ~fixture() {
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    sched.run();
  }

  void exec(const std::string& sql) {
    test::exec_sql(url, sql);
  }

  int64_t count(const std::string& sql) {
    auto v = store->scalar(sql);
    BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
    return *v;
  }

  void send(batch b) {
    caf::anon_send(writer, std::move(b));
    sched.run();
  }

  std::vector<kafka_record> dead_letters(size_t n) {
    auto c = kafka::consumer::create(kafka::test::test_consumer_config(
      cluster->bootstrap(), kafka::test::unique_group("dlq"), {dlq_topic}));
    BOOST_REQUIRE_MESSAGE(c, why(c));
    auto xs = kafka::test::collect(**c, n);
    // Nothing more arrives.
    auto more = kafka::test::drain_for(**c, std::chrono::milliseconds(500));
    xs.insert(xs.end(), more.begin(), more.end());
    return xs;
  }
};

std::map<std::string, std::string> header_map(const kafka_record& r) {
  return {r.headers.begin(), r.headers.end()};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(writer_poison, fixture)

BOOST_AUTO_TEST_CASE(rejected_events_go_to_the_dlq_and_the_rest_of_the_batch_is_stored_once) {
  exec("ALTER TABLE user_activities ADD CONSTRAINT test_poison"
       " CHECK (event_id NOT LIKE 'poison-%')");
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i)
    ids.push_back(i == 3 || i == 7 ? "poison-" + std::to_string(i)
                                   : "ev-" + std::to_string(i));
  auto first = make_batch(1, ids, 100);
  auto replay = first;
  auto before = storage_rejected_total();
  send(first);

  // Downstream gets one batch holding exactly what was committed.
  BOOST_REQUIRE_EQUAL(got->size(), 1u);
  auto& b = got->front();
  BOOST_TEST(b.id == 1u);
  BOOST_TEST(b.activities.size() == 8u);
  BOOST_TEST(b.memories.size() == 8u);
  for (auto& a : b.activities)
    BOOST_TEST(a.event_id.rfind("poison-", 0) != 0, a.event_id);
  for (auto& m : b.memories)
    BOOST_TEST(m.event_id.rfind("poison-", 0) != 0, m.event_id);
  BOOST_REQUIRE_EQUAL(b.offsets.size(), 1u);
  BOOST_TEST(b.offsets[0].next_offset == 110);
  BOOST_REQUIRE_EQUAL(b.dead_letters.size(), 2u);
  for (auto& dl : b.dead_letters) {
    BOOST_TEST(dl.reason_code == "storage_rejected");
    BOOST_TEST(dl.reason.find("SQLSTATE 23514") != std::string::npos,
               dl.reason);
  }
  BOOST_TEST(storage_rejected_total() - before == 2.0);
  BOOST_TEST(status->postgres_ok.load());

  // Postgres: the 8 good events once, their derived rows, offsets past all.
  BOOST_TEST(count("SELECT count(*) FROM user_activities") == 8);
  BOOST_TEST(count("SELECT count(*) FROM memories") == 8);
  BOOST_TEST(count("SELECT count(*) FROM memories WHERE event_id LIKE"
                   " 'poison-%'")
             == 0);
  BOOST_TEST(count("SELECT sum(activity_count) FROM usage_analytics") == 8);
  BOOST_TEST(count("SELECT sum(tokens_used) FROM usage_analytics") == 56);
  BOOST_TEST(count("SELECT total_interactions FROM agent_sessions") == 8);
  BOOST_TEST(count("SELECT next_offset FROM kafka_offsets") == 110);

  // The DLQ: the two poison records with Connect's headers and the SQLSTATE.
  auto dlq = dead_letters(2);
  BOOST_REQUIRE_EQUAL(dlq.size(), 2u);
  std::map<std::string, kafka_record> by_offset;
  for (auto& r : dlq)
    by_offset[header_map(r)[kafka::dlq_headers::offset]] = r;
  for (auto [off, id] : {std::pair{"103", "poison-3"},
                         std::pair{"107", "poison-7"}}) {
    BOOST_REQUIRE_MESSAGE(by_offset.count(off) == 1, off);
    auto& r = by_offset[off];
    auto h = header_map(r);
    BOOST_TEST(h[kafka::dlq_headers::exception_class]
               == "agentmem.contract.storage_rejected");
    BOOST_TEST(h[kafka::dlq_headers::exception_message].find("23514")
                 != std::string::npos);
    BOOST_TEST(h[kafka::dlq_headers::topic] == topic);
    BOOST_TEST(r.key == "u1");
    BOOST_TEST(r.value == event(id, 0).raw_json);
  }

  // The next batch commits normally, in one piece.
  send(make_batch(2, {"ev-10", "ev-11", "ev-12"}, 110));
  BOOST_REQUIRE_EQUAL(got->size(), 2u);
  BOOST_TEST((*got)[1].activities.size() == 3u);
  BOOST_TEST((*got)[1].dead_letters.empty());
  BOOST_TEST(count("SELECT count(*) FROM user_activities") == 11);
  BOOST_TEST(count("SELECT next_offset FROM kafka_offsets") == 113);

  // A replay of the first batch (a crash before its ack) changes nothing.
  send(replay);
  BOOST_REQUIRE_EQUAL(got->size(), 3u);
  BOOST_TEST((*got)[2].activities.size() == 8u);
  BOOST_TEST(count("SELECT count(*) FROM user_activities") == 11);
  BOOST_TEST(count("SELECT count(*) FROM memories") == 11);
  BOOST_TEST(count("SELECT sum(activity_count) FROM usage_analytics") == 11);
  BOOST_TEST(count("SELECT total_interactions FROM agent_sessions") == 11);
  BOOST_TEST(count("SELECT next_offset FROM kafka_offsets") == 113);
}

BOOST_AUTO_TEST_CASE(a_batch_whose_only_event_is_rejected_still_commits_its_offsets) {
  exec("ALTER TABLE user_activities ADD CONSTRAINT test_poison"
       " CHECK (event_id NOT LIKE 'poison-%')");
  send(make_batch(1, {"poison-0"}, 40));
  BOOST_REQUIRE_EQUAL(got->size(), 1u);
  BOOST_TEST(got->front().activities.empty());
  BOOST_TEST(got->front().memories.empty());
  BOOST_REQUIRE_EQUAL(got->front().dead_letters.size(), 1u);
  BOOST_TEST(count("SELECT count(*) FROM user_activities") == 0);
  BOOST_TEST(count("SELECT count(*) FROM memories") == 0);
  BOOST_TEST(count("SELECT next_offset FROM kafka_offsets") == 41);
  BOOST_TEST(dead_letters(1).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_lost_connection_is_retried_with_backoff_not_dead_lettered) {
  send(make_batch(1, {"ev-0"}, 0)); // the writer now holds a connection
  BOOST_REQUIRE_EQUAL(got->size(), 1u);
  exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
       " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  store = std::move(*storage::postgres_store::connect(url));
  auto before = storage_rejected_total();
  send(make_batch(2, {"ev-1", "ev-2"}, 1));
  // The commit failed on the dead connection: nothing forwarded yet.
  BOOST_TEST(got->size() == 1u);
  BOOST_TEST(!status->postgres_ok.load());
  BOOST_TEST(count("SELECT count(*) FROM user_activities") == 1);
  // The retry timer fires: the writer reconnects and commits the batch.
  BOOST_TEST(sched.trigger_timeout());
  sched.run();
  BOOST_REQUIRE_EQUAL(got->size(), 2u);
  BOOST_TEST((*got)[1].activities.size() == 2u);
  BOOST_TEST((*got)[1].dead_letters.empty());
  BOOST_TEST(status->postgres_ok.load());
  BOOST_TEST(storage_rejected_total() == before);
  BOOST_TEST(count("SELECT count(*) FROM user_activities") == 3);
  BOOST_TEST(count("SELECT next_offset FROM kafka_offsets") == 3);
}

BOOST_AUTO_TEST_SUITE_END()
