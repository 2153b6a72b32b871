// Crash safety: the agentmem child is SIGKILLed at random moments while a
// producer publishes synthetic activity at a steady pace, and restarted each
// time with the same config and data dir. Afterwards Postgres must hold
// every published event exactly once, the rollups must not double count
// replays, the vector index must hold exactly the stored memories, and the
// memory change stream must hold every stored memory (no lost change).

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "harness.hpp"
#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
#include "kafka/simulator.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

uint64_t test_seed() {
  if (const char* s = std::getenv("AGENTMEM_IT_SEED"); s && *s)
    return std::strtoull(s, nullptr, 10);
  return 20240611;
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(
  sigkilling_agentmem_while_it_consumes_neither_loses_nor_duplicates_events,
  agentmem::test::pg_database) {
  const std::string topic = "agent.activity.crash.v1";
  const std::string dlq = topic + ".dlq";
  const size_t n_events = 20000;
  const auto publish_for = std::chrono::seconds(20);
  const uint64_t seed = test_seed();

  temp_dir tmp{"agentmem-it-crash"};
  const std::string changes = "agent.memory.crash.v1";
  test_kafka cluster{broker_from_env(), {{topic, 16}, {dlq, 1}, {changes, 16}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary());

  // The events: deterministic for the seed; ts paced like the sends.
  kafka::simulator_config sc;
  sc.topic = topic;
  sc.users = 50;
  sc.rate = static_cast<double>(n_events)
            / std::chrono::duration<double>(publish_for).count();
  sc.seed = seed;
  sc.start_time_ms = wall_ms();
  auto events = kafka::generate_events(sc, n_events);
  BOOST_TEST_REQUIRE(events.size() == n_events);
  std::vector<std::string> event_ids;
  event_ids.reserve(n_events);
  for (auto& [key, value] : events)
    event_ids.push_back(json::parse(value).at("event_id").get<std::string>());
  {
    std::set<std::string> distinct(event_ids.begin(), event_ids.end());
    BOOST_TEST_REQUIRE(distinct.size() == n_events,
                       "generate_events produced repeated event ids");
  }

  node_options o{cluster, topic, "agentmem-crash", url, tmp / "data"};
  o.extra_toml = "[memory_stream]\ntopic = " + toml_str(changes)
                 + "\npublish_interval_ms = 200\n";
  agentmem_node node{o, tmp.path()};
  {
    auto err = node.start();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  pg_probe pg{url};

  // 2 or 3 kill moments in [2 s, 17 s], at least 3 s apart; each kill is
  // postponed until the running process has stored something.
  std::mt19937_64 rng{seed};
  const int kills = 2 + static_cast<int>(rng() % 2);
  std::vector<double> kill_at;
  {
    const double span = 15.0 - 3.0 * (kills - 1); // room after spacing
    std::uniform_real_distribution<double> u{0.0, span};
    for (int i = 0; i < kills; ++i)
      kill_at.push_back(u(rng));
    std::sort(kill_at.begin(), kill_at.end());
    for (int i = 0; i < kills; ++i)
      kill_at[i] += 2.0 + 3.0 * i;
  }
  {
    std::string plan;
    for (auto t : kill_at)
      plan += (plan.empty() ? "" : ", ") + std::to_string(t) + " s";
    BOOST_TEST_MESSAGE("seed " << seed << ": SIGKILL at " << plan
                               << " into a " << publish_for.count()
                               << " s publish of " << fmt_count(n_events)
                               << " events (AGENTMEM_IT_SEED overrides)");
  }

  auto prod = kafka::producer::create(o.brokers);
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));
  auto t0 = steady::now();
  {
    paced_producer publisher{**prod, topic, events, publish_for};
    auto stored_now = [&] {
      return pg.try_scalar("SELECT count(*) FROM user_activities").value_or(0);
    };
    int64_t stored_at_start = 0; // rows when the current process started
    for (int i = 0; i < kills; ++i) {
      std::this_thread::sleep_until(
        t0 + std::chrono::milliseconds(static_cast<int64_t>(kill_at[i] * 1000)));
      // Kill mid-consumption: a process that has not joined the group yet
      // (a restart waits for the killed member's session to expire) has
      // nothing to lose, so first let it store something (bounded).
      auto t_wait = steady::now();
      auto err = wait_until(
        "agentmem (process #" + std::to_string(i + 1)
          + ") to store events before SIGKILL #" + std::to_string(i + 1),
        45s,
        [&] {
          // Or nothing is left to consume: a restarted process may have
          // stored every remaining event before stored_at_start was read.
          auto now = stored_now();
          return now > stored_at_start
                 || now >= static_cast<int64_t>(n_events);
        },
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
      auto stored = stored_now();
      if (stored >= static_cast<int64_t>(n_events)) {
        BOOST_TEST_MESSAGE("every event stored before SIGKILL #"
                           << i + 1 << ": nothing left to interrupt");
        break;
      }
      node.kill9();
      BOOST_TEST_MESSAGE("SIGKILL #" << i + 1 << " at "
                                     << seconds_since(t0) << " s: "
                                     << fmt_count(publisher.sent())
                                     << " events published, "
                                     << fmt_count(stored) << " stored");
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

  // Catch up: the offsets stored with the rows cover the whole topic.
  {
    const int64_t total = static_cast<int64_t>(n_events);
    auto err = wait_until(
      "stored offsets of " + topic + " to sum to " + fmt_count(total), 180s,
      [&] { return pg.stored_offsets(o.group_id, topic) == total; },
      [&] {
        return fmt_count(pg.stored_offsets(o.group_id, topic).value_or(-1))
               + " (user_activities: "
               + fmt_count(pg.try_scalar("SELECT count(*) FROM user_activities")
                             .value_or(-1))
               + "; " + offsets_report(pg, o.brokers, o.group_id, topic, 16,
                                       tmp / "kcat")
               + "; " + consumer_metrics_report(node.metrics()) + ")";
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("caught up " << seconds_since(t0) << " s after the start");

  // Exactly the published events, once each.
  const int64_t n = static_cast<int64_t>(n_events);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities") == n);
  BOOST_TEST(pg.scalar("SELECT count(DISTINCT event_id) FROM user_activities")
             == n);
  BOOST_TEST(pg.count_present("user_activities", "event_id", event_ids) == n);

  // Rollups count every event once, however often it was delivered.
  BOOST_TEST(pg.scalar("SELECT coalesce(sum(activity_count), 0)::bigint FROM "
                       "usage_analytics")
             == pg.scalar("SELECT count(*) FROM user_activities"));
  BOOST_TEST(pg.scalar("SELECT coalesce(sum(total_interactions), 0)::bigint "
                       "FROM agent_sessions")
             == pg.scalar("SELECT count(*) FROM user_activities"));
  // usage per (user, day, agent type) = activities per (user, UTC day, type).
  BOOST_TEST(pg.scalar(
               "SELECT count(*) FROM (SELECT user_id, (ts AT TIME ZONE 'UTC')::date "
               "AS day, agent_type, count(*) AS n FROM user_activities GROUP BY "
               "1, 2, 3) a FULL JOIN usage_analytics u USING (user_id, day, "
               "agent_type) WHERE a.n IS DISTINCT FROM u.activity_count")
             == 0);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memory_links")
             == pg.scalar("SELECT count(*) FROM memories"));

  // The vector index holds exactly the stored memories: first while running
  // (once the consumer is idle) ...
  const int64_t memories = pg.scalar("SELECT count(*) FROM memories");
  BOOST_TEST_MESSAGE(fmt_count(memories) << " memories stored");
  auto index_matches = [&](const char* when) {
    auto err = wait_until(
      "agentmem_index_vectors to equal " + fmt_count(memories) + " " + when,
      30s,
      [&] {
        return node.metric("agentmem_index_vectors")
               == static_cast<double>(memories);
      },
      [&] {
        auto v = node.metric("agentmem_index_vectors");
        return v ? fmt_count(static_cast<int64_t>(*v)) : std::string{"none"};
      },
      [&] { return node.death(); });
    BOOST_TEST(err.empty(), err);
  };
  index_matches("while running");

  // The change stream lost no change across the SIGKILLs: once the outbox
  // is drained, every stored memory's current version is on the topic
  // (repeats are allowed: at least once).
  {
    auto err = wait_until(
      "the memory outbox to drain", 60s,
      [&] { return pg.try_scalar("SELECT count(*) FROM memory_outbox") == 0; },
      [&] {
        return fmt_count(pg.try_scalar("SELECT count(*) FROM memory_outbox")
                           .value_or(-1));
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
    std::map<std::string, int> stored;
    {
      pqxx::connection c{url};
      pqxx::read_transaction tx{c};
      for (const auto& row : tx.exec("SELECT memory_id, version FROM memories"))
        stored[row[0].as<std::string>()] = row[1].as<int>();
    }
    kafka::consumer_config cc;
    cc.brokers = o.brokers;
    cc.group_id = "memory-stream-crash-reader";
    cc.topics = {changes};
    cc.properties = {{"auto.offset.reset", "earliest"}};
    auto reader = kafka::consumer::create(cc);
    BOOST_TEST_REQUIRE(!!reader, error_of(reader));
    std::map<std::string, int> streamed; // highest version per memory
    size_t records = 0, current = 0;
    for (auto deadline = steady::now() + 60s;
         current < stored.size() && steady::now() < deadline;)
      for (auto& r : (*reader)->poll_batch(5000, 200ms)) {
        ++records;
        auto v = json::parse(r.value);
        auto id = v.at("memory_id").get<std::string>();
        auto version = v.at("version").get<int>();
        auto& best = streamed[id];
        if (version > best) {
          auto it = stored.find(id);
          if (it != stored.end() && best < it->second && version >= it->second)
            ++current;
          best = version;
        }
      }
    BOOST_TEST_MESSAGE(fmt_count(static_cast<int64_t>(records))
                       << " change records for "
                       << fmt_count(static_cast<int64_t>(stored.size()))
                       << " memories");
    size_t missing = 0;
    for (auto& [id, version] : stored)
      missing += streamed[id] == version ? 0 : 1;
    BOOST_TEST(missing == 0u);
    BOOST_TEST(current == stored.size());
  }
  // ... then after a clean restart, which reloads the snapshot and catches
  // the index up from Postgres.
  BOOST_TEST(node.terminate() == "exit code 0");
  {
    auto err = node.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  index_matches("after a clean restart");
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities") == n);
  BOOST_TEST(node.terminate() == "exit code 0");
}

BOOST_AUTO_TEST_SUITE_END()
