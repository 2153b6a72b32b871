// (e) Two agentmem nodes in one consumer group (same Postgres, own data
// dirs and HTTP ports) share a 16-partition topic. Before any fault, each
// node finds the memories of every user, also of the users whose partitions
// the other node owns (index_sync tails Postgres on every node). Then one
// node is SIGKILLed mid-stream: the survivor takes over its partitions and
// nothing is lost or duplicated. The killed node, restarted, catches up.

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

/// The partition of `user`'s events (the key is the user id, so there is
/// one); -1 when it has none stored or they span several partitions.
int partition_of_user(pg_probe& pg, const std::string& user) {
  auto where = " FROM user_activities WHERE user_id = " + sql_quote(user);
  auto lo = pg.try_scalar("SELECT min(source_partition)" + where);
  auto hi = pg.try_scalar("SELECT max(source_partition)" + where);
  return lo && hi && *lo == *hi ? static_cast<int>(*lo) : -1;
}

/// One stored memory of a user, to search for.
struct probe_memory {
  std::string user_id;
  std::string memory_id;
  std::string session_id;
  std::string text;
  int64_t ts_ms = 0;
  int64_t seq = 0;
};

/// The newest stored memory of every user in `users` with seq <= `max_seq`;
/// fetched from Postgres column by column via scalar queries on the seq.
std::vector<probe_memory> newest_memories(pg_probe& pg, const std::string& url,
                                          const std::set<std::string>& users,
                                          int64_t max_seq) {
  auto store = storage::postgres_store::connect(url);
  if (!store)
    throw std::runtime_error("postgres: " + describe(store.error()));
  std::vector<probe_memory> out;
  for (auto& u : users) {
    auto seq = pg.try_scalar(
      "SELECT max(seq) FROM memories WHERE user_id = " + sql_quote(u)
      + " AND seq <= " + std::to_string(max_seq));
    if (!seq)
      continue; // no memory of that user yet
    // memories_after(seq - 1, 1) returns exactly that row, decoded.
    auto rows = (*store)->memories_after(*seq - 1, 1);
    if (!rows || rows->empty() || (*rows)[0].seq != *seq)
      throw std::runtime_error("cannot read memory seq " + std::to_string(*seq));
    auto& m = (*rows)[0].m;
    out.push_back({m.user_id, m.memory_id, m.session_id, m.text, m.ts_ms,
                   *seq});
  }
  return out;
}

/// Re-reads `m` when it was updated in place since it was picked (mem0-style
/// dedup gives it new text, ts and seq; docs/memory.md), so the search
/// below looks for what is stored now.
void refresh(pg_probe& pg, storage::postgres_store& store, probe_memory& m) {
  auto seq = pg.try_scalar("SELECT seq FROM memories WHERE memory_id = "
                           + sql_quote(m.memory_id));
  if (!seq || *seq == m.seq)
    return;
  auto rows = store.memories_after(*seq - 1, 1);
  if (!rows || rows->empty() || (*rows)[0].seq != *seq)
    return;
  auto& r = (*rows)[0].m;
  m.text = r.text;
  m.ts_ms = r.ts_ms;
  m.session_id = r.session_id;
  m.seq = *seq;
}

/// Searches `node` for `m` (query = its text, scoped to its user, session
/// and timestamp); "" when m.memory_id is among the hits.
std::string find_on(agentmem_node& node, const probe_memory& m) {
  json req = {{"user_id", m.user_id},
              {"query", m.text},
              {"top_k", 100},
              {"filter",
               {{"session_id", m.session_id},
                {"since", m.ts_ms},
                {"until", m.ts_ms}}}};
  auto r = http_client{node.port()}.post_json("/v1/memories/search", req.dump());
  if (r.status != 200)
    return "search failed: " + std::to_string(r.status) + " " + r.error + r.body;
  auto results = json::parse(r.body).at("results");
  for (auto& h : results)
    if (h.at("memory_id").get<std::string>() == m.memory_id)
      return {};
  return std::to_string(results.size()) + " hits, none is memory "
         + m.memory_id;
}

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(
  two_nodes_share_the_partitions_search_every_user_and_the_survivor_of_a_sigkill_takes_over_without_loss,
  agentmem::test::pg_database) {
  const std::string topic = "agent.activity.faults.group.v1";
  const std::string dlq = topic + ".dlq";
  const int partitions = 16;
  const size_t n_events = 30000;
  const auto publish_for = std::chrono::seconds(30);
  const uint64_t seed = test_seed(20260505);
  auto t_test = steady::now();

  temp_dir tmp{"agentmem-fault-group"};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary() << "; seed " << seed);
  auto ev = make_events(topic, n_events, 64, seed, publish_for);

  auto options = [&](const std::string& name) {
    node_options o;
    o.brokers = cluster.bootstrap();
    o.topic = topic;
    o.dlq_topic = dlq;
    o.group_id = "agentmem-fault-group";
    o.postgres_url = url;
    o.data_dir = tmp / (name + "/data");
    fs::create_directories(tmp / name);
    return o;
  };
  agentmem_node a{options("a"), tmp / "a"};
  agentmem_node b{options("b"), tmp / "b"};
  // A first, alone with all partitions; then B joins. B is assigned only its
  // own share, so the partitions in B's lag metrics are exactly B's.
  {
    auto err = a.start();
    BOOST_TEST_REQUIRE(err.empty(), "node A: " << err);
    err = wait_until(
      "node A to be assigned all " + std::to_string(partitions) + " partitions",
      60s,
      [&] { return last_assigned(read_text(a.log_path())) == partitions; },
      [&] {
        return "last assignment "
               + std::to_string(last_assigned(read_text(a.log_path())));
      },
      [&] { return a.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
    err = b.start();
    BOOST_TEST_REQUIRE(err.empty(), "node B: " << err);
  }
  // Wait for the group to settle with both members before publishing, so
  // each user's partition is consumed by one node only.
  {
    auto err = wait_until(
      "both nodes to own partitions (their last 'assigned N partition(s)' "
      "log lines summing to " + std::to_string(partitions) + ")",
      60s,
      [&] {
        int na = last_assigned(read_text(a.log_path()));
        int nb = last_assigned(read_text(b.log_path()));
        return na > 0 && nb > 0 && na + nb == partitions;
      },
      [&] {
        return "A: " + std::to_string(last_assigned(read_text(a.log_path())))
               + ", B: "
               + std::to_string(last_assigned(read_text(b.log_path())));
      },
      [&] {
        return a.running() ? b.death() : a.death();
      });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("group settled: A owns "
                     << last_assigned(read_text(a.log_path())) << ", B owns "
                     << last_assigned(read_text(b.log_path()))
                     << " partitions");
  pg_probe pg{url};

  auto prod = kafka::producer::create(a.options().brokers,
                                      patient_producer_properties());
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));
  auto t0 = steady::now();
  paced_producer publisher{**prod, topic, ev.records, publish_for};

  // --- both nodes up: each searches every user -------------------------------
  std::this_thread::sleep_until(t0 + 10s);
  {
    auto err = wait_until(
      "both nodes to consume", 60s,
      [&] {
        return a.metric("agentmem_events_consumed_total").value_or(0) > 0
               && b.metric("agentmem_events_consumed_total").value_or(0) > 0;
      },
      [&] {
        return "A: " + consumer_metrics_report(a.metrics()) + "; B: "
               + consumer_metrics_report(b.metrics());
      },
      [&] { return a.running() ? b.death() : a.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  const std::set<int> b_parts = lag_partitions(b.metrics());
  {
    const int64_t max_seq =
      pg.scalar("SELECT coalesce(max(seq), 0) FROM memories");
    auto probes = newest_memories(pg, url, ev.users, max_seq);
    BOOST_TEST_REQUIRE(probes.size() >= ev.users.size() / 2,
                       "only " << probes.size() << " of " << ev.users.size()
                               << " users have memories so far");
    // Users whose events went to partitions node B owns (and A never did).
    size_t b_owned = 0;
    for (auto& m : probes)
      b_owned += b_parts.count(partition_of_user(pg, m.user_id));
    std::string b_list;
    for (int p : b_parts)
      b_list += " " + std::to_string(p);
    BOOST_TEST_MESSAGE("node B consumed partitions" << b_list << "; "
                                                    << b_owned << " of "
                                                    << probes.size()
                                                    << " users are B's only");
    BOOST_TEST(b_owned > 0, "no user's events went only to node B's "
                            "partitions; the cross-node search below would "
                            "prove nothing");
    auto probe_store = storage::postgres_store::connect(url);
    BOOST_TEST_REQUIRE(static_cast<bool>(probe_store));
    for (auto* node : {&a, &b}) {
      const char* name = node == &a ? "A" : "B";
      auto t_search = steady::now();
      // index_sync tails Postgres once a second: wait (bounded) for each.
      std::string last_missing;
      auto err = wait_until(
        "node " + std::string{name} + " to find the newest memory (seq <= "
          + std::to_string(max_seq) + ") of each of " + std::to_string(probes.size())
          + " users",
        30s,
        [&] {
          size_t missing = 0;
          last_missing.clear();
          for (auto& m : probes) {
            refresh(pg, **probe_store, m);
            auto why = find_on(*node, m);
            if (!why.empty()) {
              if (++missing <= 3)
                last_missing += "\n  user " + m.user_id + " (seq "
                                + std::to_string(m.seq) + "): " + why;
            }
          }
          if (missing > 0)
            last_missing = std::to_string(missing) + " not found:" + last_missing;
          return missing == 0;
        },
        [&] {
          return last_missing + "\n  agentmem_index_watermark_seq "
                 + std::to_string(static_cast<int64_t>(
                   node->metric("agentmem_index_watermark_seq").value_or(-1)));
        },
        [&] { return node->death(); }, 1000ms);
      BOOST_TEST(err.empty(), err);
      BOOST_TEST_MESSAGE("node " << name << " found all " << probes.size()
                                 << " users' memories in "
                                 << seconds_since(t_search) << " s");
    }
  }

  // --- SIGKILL node B mid-stream ---------------------------------------------------
  const auto stored_at_kill =
    pg.scalar("SELECT count(*) FROM user_activities");
  b.kill9();
  auto t_kill = steady::now();
  BOOST_TEST_MESSAGE("SIGKILL node B at " << seconds_since(t0) << " s: "
                                          << fmt_count(publisher.sent())
                                          << " published, "
                                          << fmt_count(stored_at_kill)
                                          << " stored");
  {
    auto err = wait_until(
      "node A to take over all " + std::to_string(partitions)
        + " partitions after B's death",
      60s,
      [&] {
        return last_assigned(read_text(a.log_path())) == partitions;
      },
      [&] {
        return "A's last assignment: "
               + std::to_string(last_assigned(read_text(a.log_path())));
      },
      [&] { return a.death(); });
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("A owns all partitions " << seconds_since(t_kill)
                                              << " s after the kill");
  publisher.join();
  BOOST_TEST_REQUIRE(publisher.error().empty(), publisher.error());
  {
    auto err = wait_all_stored(pg, a.options().group_id, topic, ev.size(),
                               180s, a.options().brokers, partitions,
                               tmp / "kcat", {&a});
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("everything stored " << seconds_since(t0)
                                          << " s after the stream began");
  check_exactly_once(pg, ev);
  {
    auto err = wait_index_matches(a, pg, "on the survivor once idle");
    BOOST_TEST(err.empty(), err);
  }
  // The killed node, restarted, catches its index up from Postgres.
  {
    auto err = b.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), "restarting node B: " << err);
    err = wait_index_matches(b, pg, "on the restarted node B");
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities") == ev.size());
  BOOST_TEST(b.terminate() == "exit code 0");
  BOOST_TEST(a.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

BOOST_AUTO_TEST_SUITE_END()
