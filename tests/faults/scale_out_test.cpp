// (e) Scale-out on a real Apache Kafka broker, three agentmem nodes on
// loopback sharing a 12-partition topic (docs/operations.md, "Scaling
// out"). Each node keeps shards only for the partitions it owns; any node
// answers every search (forwarding to the owner, or from Postgres, stale).
// While events stream in:
//   - a third node joins mid-load: the partitions that do not move keep
//     committing throughout (cooperative-sticky);
//   - a node is SIGKILLed: a search on a survivor for one of its users is
//     answered from Postgres ("stale": true) although the routing table
//     still names the dead owner; the survivors take its partitions;
//     searches keep answering (the longest gap is recorded);
//   - a node is SIGKILLed and restarted at once with the same id (static
//     membership): it commits again within 5 s of its start (its shards'
//     catch-up from Postgres waits for that first commit);
//   - nothing is lost or duplicated in Postgres;
// and afterwards every partition has exactly one serving owner, the nodes'
// points sum to count(memories), the same searches return the same ranking
// on every node and on a single node rebuilt from Postgres.

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <pqxx/pqxx>

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

const std::string cluster_secret = "scale-out-test-node-credential";

/// partition -> (node_id, state) from the routing table.
std::map<int, std::pair<std::string, std::string>> owners(pg_probe& pg,
                                                          const std::string& url,
                                                          const std::string& group) {
  std::map<int, std::pair<std::string, std::string>> out;
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  for (const auto& row : tx.exec_params(
         "SELECT partition, node_id, state FROM partition_owners"
         " WHERE consumer_group = $1",
         group))
    out[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  (void) pg;
  return out;
}

/// partition -> stored next offset.
std::map<int, int64_t> stored_offsets(const std::string& url,
                                      const std::string& group) {
  std::map<int, int64_t> out;
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  for (const auto& row : tx.exec_params(
         "SELECT partition, next_offset FROM kafka_offsets"
         " WHERE consumer_group = $1",
         group))
    out[row[0].as<int>()] = row[1].as<int64_t>();
  return out;
}

/// One user whose events are on one partition, to search for.
struct probe {
  std::string user_id;
  int partition = -1;
};

/// A search for `user` on `node`: status, ids, stale.
struct search_result {
  int status = -1;
  std::vector<std::string> ids;
  bool stale = false;
  std::string body;
};

search_result search(uint16_t port, const std::string& user,
                     const std::string& query) {
  json req = {{"user_id", user}, {"query", query}, {"top_k", 8}};
  auto r = http_client{port, 5s}.post_json("/v1/memories/search", req.dump());
  search_result out;
  out.status = r.status;
  out.body = r.status < 0 ? r.error : r.body;
  if (r.status == 200) {
    auto doc = json::parse(r.body);
    for (auto& h : doc.at("results"))
      out.ids.push_back(h.at("memory_id").get<std::string>());
    out.stale = doc.value("stale", false);
  }
  return out;
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : " ") + x;
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(
  three_nodes_share_partition_owned_shards_route_searches_and_survive_a_join_a_sigkill_and_a_restart,
  agentmem::test::pg_database) {
  const std::string topic = "agent.activity.faults.scale.v1";
  const std::string dlq = topic + ".dlq";
  const std::string group = "agentmem-fault-scale";
  const int partitions = 12;
  const size_t n_events = 24000;
  const auto publish_for = std::chrono::seconds(40);
  const uint64_t seed = test_seed(20260909);
  auto t_test = steady::now();

  temp_dir tmp{"agentmem-fault-scale"};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary() << "; seed " << seed);
  auto ev = make_events(topic, n_events, 48, seed, publish_for);

  auto options = [&](const std::string& name) {
    node_options o{cluster, topic, group, url, tmp / (name + "/data")};
    fs::create_directories(tmp / name);
    // The first commit after a restart includes one whole batch: 500
    // records keep it short on a loaded 2-core machine.
    o.max_batch_records = 500;
    o.extra_toml = "[cluster]\nnode_id = " + toml_str("node-" + name)
                   + "\nsecret = " + toml_str(cluster_secret)
                   + "\nheartbeat_ms = 500\nnode_timeout_ms = 2000\n";
    return o;
  };
  agentmem_node a{options("a"), tmp / "a"};
  agentmem_node b{options("b"), tmp / "b"};
  agentmem_node c{options("c"), tmp / "c"};
  std::vector<agentmem_node*> nodes{&a, &b, &c};
  pg_probe pg{url};
  auto serving_owners = [&] {
    std::map<std::string, int> n;
    for (auto& [p, o] : owners(pg, url, group))
      if (o.second == "serving")
        n[o.first] += 1;
    return n;
  };
  auto all_serving = [&](std::set<std::string> by) {
    auto o = owners(pg, url, group);
    if (static_cast<int>(o.size()) != partitions)
      return false;
    std::set<std::string> seen;
    for (auto& [p, x] : o) {
      if (x.second != "serving" || !by.count(x.first))
        return false;
      seen.insert(x.first);
    }
    return seen == by;
  };
  {
    auto err = a.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), "node A: " << err);
    err = b.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), "node B: " << err);
    err = wait_until(
      "A and B to serve all partitions", 60s,
      [&] { return all_serving({"node-a", "node-b"}); },
      [&] { return std::to_string(owners(pg, url, group).size()) + " owned"; },
      [&] { return a.running() ? b.death() : a.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }

  auto prod = kafka::producer::create(cluster.bootstrap(),
                                      patient_producer_properties());
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));
  auto t0 = steady::now();
  // The last records are held back and published right after C's restart,
  // so that its partitions have new events to commit then, however long
  // the steps before took on a loaded machine.
  const size_t held_back = 1200;
  std::vector<std::pair<std::string, std::string>> paced_part(
    ev.records.begin(), ev.records.end() - held_back);
  std::vector<std::pair<std::string, std::string>> restart_part(
    ev.records.end() - held_back, ev.records.end());
  paced_producer publisher{**prod, topic, paced_part, publish_for};

  // Per-partition commit progress, sampled every 200 ms.
  std::mutex progress_mtx;
  std::map<int, std::vector<std::pair<double, int64_t>>> progress;
  std::atomic<bool> sampling{true};
  std::thread sampler{[&] {
    while (sampling) {
      try {
        auto offs = stored_offsets(url, group);
        double t = seconds_since(t0);
        std::lock_guard<std::mutex> guard{progress_mtx};
        for (auto& [p, o] : offs)
          progress[p].push_back({t, o});
      } catch (...) {
      }
      std::this_thread::sleep_for(200ms);
    }
  }};
  struct stop_sampler {
    std::atomic<bool>& on;
    std::thread& t;
    ~stop_sampler() {
      on = false;
      if (t.joinable())
        t.join();
    }
  } stop_sampling{sampling, sampler};

  // --- a third node joins mid-load ------------------------------------------
  std::this_thread::sleep_until(t0 + 8s);
  auto before_join = owners(pg, url, group);
  double join_at = seconds_since(t0);
  {
    auto err = c.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), "node C: " << err);
    err = wait_until(
      "A, B and C to serve all partitions", 60s,
      [&] { return all_serving({"node-a", "node-b", "node-c"}); },
      [&] { return std::to_string(serving_owners().size()) + " serving nodes"; },
      [&] { return c.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  // Cooperative rebalancing may take more than one round: wait until the
  // routing table has not changed for 3 s.
  {
    auto last = owners(pg, url, group);
    auto since = steady::now();
    auto err = wait_until(
      "the ownership to settle", 60s,
      [&] {
        auto now = owners(pg, url, group);
        if (now != last) {
          last = now;
          since = steady::now();
        }
        return all_serving({"node-a", "node-b", "node-c"})
               && steady::now() - since >= 3s;
      },
      [&] { return std::string{"still moving"}; }, [&] { return c.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  double join_done = seconds_since(t0);
  auto after_join = owners(pg, url, group);
  std::set<int> moved;
  for (auto& [p, o] : after_join)
    if (before_join[p].first != o.first)
      moved.insert(p);
  BOOST_TEST_MESSAGE("node C joined at " << join_at << " s, all serving at "
                                         << join_done << " s; "
                                         << moved.size()
                                         << " partitions moved");
  BOOST_TEST(!moved.empty());
  BOOST_TEST(moved.size() < static_cast<size_t>(partitions),
             "cooperative-sticky should move only C's share");

  // Probe users: the users of each partition (one partition per user).
  std::vector<probe> probes;
  for (auto& u : ev.users) {
    auto lo = pg.try_scalar("SELECT min(partition) FROM user_partitions WHERE "
                            "user_id = "
                            + sql_quote(u));
    if (lo)
      probes.push_back({u, static_cast<int>(*lo)});
  }
  BOOST_TEST_REQUIRE(probes.size() >= ev.users.size() / 2);

  // Searches keep running on every live node: the longest gap without an
  // answer is recorded, stale answers counted.
  std::atomic<bool> searching{true};
  std::mutex search_mtx;
  std::map<std::string, double> last_ok; // user -> time of last 200
  double longest_gap = 0;
  size_t answered = 0, stale = 0, failed = 0, server_errors = 0,
         transport_errors = 0;
  std::vector<std::string> failures;
  std::atomic<bool> b_alive{true}, c_alive{true};
  std::thread searcher{[&] {
    size_t i = 0;
    while (searching) {
      auto& pr = probes[i++ % probes.size()];
      std::vector<agentmem_node*> live{&a};
      if (b_alive)
        live.push_back(&b);
      if (c_alive)
        live.push_back(&c);
      auto* node = live[i % live.size()];
      auto r = search(node->port(), pr.user_id, "status update for the task");
      double t = seconds_since(t0);
      std::lock_guard<std::mutex> guard{search_mtx};
      if (r.status == 200) {
        ++answered;
        stale += r.stale ? 1 : 0;
        auto it = last_ok.find(pr.user_id);
        if (it != last_ok.end())
          longest_gap = std::max(longest_gap, t - it->second);
        last_ok[pr.user_id] = t;
      } else if (r.status < 0) {
        // A node killed while the request was on its way: the client
        // retries elsewhere; counted, not a failed answer.
        ++transport_errors;
      } else {
        ++failed;
        server_errors += r.status == 500 ? 1 : 0;
        if (failures.size() < 5)
          failures.push_back(std::to_string(r.status) + " " + r.body.substr(0, 200));
      }
    }
  }};
  struct stop_searcher {
    std::atomic<bool>& on;
    std::thread& t;
    ~stop_searcher() {
      on = false;
      if (t.joinable())
        t.join();
    }
  } stop_searching{searching, searcher};

  // --- SIGKILL B; a survivor asked for B's user answers from Postgres ------
  std::this_thread::sleep_until(t0 + 16s);
  std::string b_user;
  auto before_kill = owners(pg, url, group);
  for (auto& pr : probes)
    if (before_kill[pr.partition].first == "node-b") {
      b_user = pr.user_id;
      break;
    }
  BOOST_TEST_REQUIRE(!b_user.empty(), "node B owns no probe user");
  b_alive = false;
  b.kill9();
  auto t_kill = steady::now();
  {
    // The routing table still names B (its heartbeat is fresh for up to
    // 2 s): A forwards, the forward fails, A answers from Postgres.
    auto r = search(a.port(), b_user, "status update for the task");
    BOOST_TEST(r.status == 200, r.status << " " << r.body);
    BOOST_TEST(r.stale, "expected a stale answer from Postgres: " << r.body);
    BOOST_TEST(!r.ids.empty(), "a stale answer must not be empty: " << r.body);
    BOOST_TEST_MESSAGE("search for B's user " << b_user << " on A "
                                              << seconds_since(t_kill)
                                              << " s after the kill: "
                                              << r.status << ", stale "
                                              << r.stale << ", "
                                              << r.ids.size() << " hits");
  }
  {
    auto err = wait_until(
      "A and C to serve all partitions after B's death", 60s,
      [&] { return all_serving({"node-a", "node-c"}); },
      [&] { return std::to_string(serving_owners().size()) + " serving nodes"; },
      [&] { return a.running() ? c.death() : a.death(); });
    BOOST_TEST(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("survivors serve B's partitions "
                     << seconds_since(t_kill)
                     << " s after the SIGKILL (session.timeout.ms 6000)");

  // --- SIGKILL C and restart it at once with the same id ---------------------
  std::optional<paced_producer> late_publisher;
  c_alive = false;
  c.kill9();
  auto t_restart = steady::now();
  {
    c.start(1ms); // not waiting for readiness: the process goes on starting
    c_alive = true;
    late_publisher.emplace(**prod, topic, restart_part, 2s);
    double assigned_s = -1, committed_s = -1;
    std::string at_commit; // C's metrics when its first batch committed
    auto err = wait_until(
      "the restarted C to commit a batch", 60s,
      [&] {
        auto m = c.metrics();
        if (assigned_s < 0
            && metric_value(m, "agentmem_shard_handoffs_total").value_or(0) > 0)
          assigned_s = seconds_since(t_restart);
        if (metric_value(m, "agentmem_events_committed_total").value_or(0) > 0) {
          committed_s = seconds_since(t_restart);
          at_commit = std::move(m);
        }
        return committed_s >= 0;
      },
      [&] { return consumer_metrics_report(c.metrics()); },
      [&] { return c.death(); }, 50ms);
    BOOST_TEST(err.empty(), err);
    if (assigned_s < 0)
      assigned_s = committed_s;
    BOOST_TEST_MESSAGE("restarted C: partitions back " << assigned_s
                                                       << " s, first commit "
                                                       << committed_s
                                                       << " s after its start");
    // Where the first batch's time went (stage wall time, summed over the
    // batches done by then) and how far the shards' warm-up had got.
    std::string stages;
    for (auto* stage : {"capture", "extraction", "aggregation", "embedding",
                        "writer", "vector_linking"})
      stages += std::string{" "} + stage + " "
                + std::to_string(metric_value(at_commit,
                                              "agentmem_stage_duration_seconds_sum",
                                              std::string{"stage=\""} + stage
                                                + "\"")
                                   .value_or(-1));
    BOOST_TEST_MESSAGE("restarted C at its first commit: stages (s)"
                       << stages << "; consuming to first commit "
                       << metric_value(at_commit, "agentmem_first_commit_seconds")
                            .value_or(-1)
                       << " s; shards serving "
                       << metric_value(at_commit, "agentmem_shards",
                                       "phase=\"serving\"")
                            .value_or(-1)
                       << ", warming "
                       << metric_value(at_commit, "agentmem_shards",
                                       "phase=\"warming\"")
                            .value_or(-1));
    // Static membership: the partitions come back without a rebalance.
    BOOST_TEST(assigned_s <= 5.0, "partitions back after " << assigned_s << " s");
    // The first commit also includes one whole batch (issue #9: within
    // 5 s of the start). The shards' catch-up from Postgres waits for it
    // (index_sync_config::warm_after_first_commit); their snapshots are
    // loaded at once.
    BOOST_TEST(committed_s <= 5.0, "first commit after " << committed_s
                                                        << " s");
  }

  publisher.join();
  late_publisher->join();
  BOOST_TEST_REQUIRE(publisher.error().empty(), publisher.error());
  BOOST_TEST_REQUIRE(late_publisher->error().empty(), late_publisher->error());
  {
    auto err = wait_all_stored(pg, group, topic, ev.size(), 180s,
                               cluster.bootstrap(), partitions, tmp / "kcat",
                               {&a, &c});
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  searching = false;
  searcher.join();
  sampling = false;
  sampler.join();
  check_exactly_once(pg, ev);
  BOOST_TEST_MESSAGE("searches during the run: "
                     << answered << " answered (" << stale << " stale), "
                     << failed << " not answered, " << transport_errors
                     << " lost with a killed node; longest gap for a user "
                     << longest_gap << " s");
  BOOST_TEST(server_errors == 0u, "500s: " << join(failures));
  BOOST_TEST(failed == 0u, "unanswered searches: " << join(failures));

  // Partitions that did not move kept committing while C joined.
  {
    std::lock_guard<std::mutex> guard{progress_mtx};
    double worst = 0;
    int worst_p = -1;
    for (auto& [p, samples] : progress) {
      if (moved.count(p))
        continue;
      double last_change = -1;
      int64_t last = -1;
      for (auto& [t, o] : samples) {
        if (t > join_done + 1)
          break;
        if (o != last) {
          if (last_change >= 0 && t >= join_at)
            if (t - last_change > worst) {
              worst = t - last_change;
              worst_p = p;
            }
          last_change = t;
          last = o;
        }
      }
    }
    BOOST_TEST_MESSAGE("longest commit pause of a partition that did not "
                       "move while C joined: "
                       << worst << " s (partition " << worst_p << ")");
    // Moved partitions stop until their new owner consumes them; the others
    // only see the machine's load (2 cores, 3 nodes, a broker, Postgres).
    BOOST_TEST(worst < 8.0, "partition " << worst_p << " paused " << worst
                                         << " s while C joined");
  }

  // --- afterwards: one owner per partition, points add up, same rankings ----
  {
    auto err = b.start(90s);
    BOOST_TEST_REQUIRE(err.empty(), "restarting B: " << err);
  }
  const auto memories = pg.scalar("SELECT count(*) FROM memories");
  const auto max_seq = pg.scalar("SELECT coalesce(max(seq), 0) FROM memories");
  {
    auto err = wait_until(
      "every partition serving, the nodes' points summing to "
        + fmt_count(memories) + " and their watermarks at max(seq)",
      90s,
      [&] {
        if (!all_serving({"node-a", "node-b", "node-c"}))
          return false;
        double sum = 0;
        for (auto* n : nodes) {
          sum += n->metric("agentmem_index_vectors").value_or(-1);
          if (n->metric("agentmem_index_watermark_seq").value_or(-1)
              < static_cast<double>(max_seq))
            return false;
        }
        return sum == static_cast<double>(memories);
      },
      [&] {
        std::string s;
        for (auto* n : nodes)
          s += " " + std::to_string(static_cast<int64_t>(
                 n->metric("agentmem_index_vectors").value_or(-1)));
        return "points per node:" + s;
      },
      [&] { return a.running() ? b.death() : a.death(); }, 500ms);
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  // Each partition's shard is held by its owner only.
  {
    std::map<int, int> holders;
    for (auto* n : nodes) {
      static const std::regex re{
        R"re(^agentmem_shard_points\{partition="(\d+)"\})re"};
      std::istringstream in{n->metrics()};
      std::string line;
      std::smatch m;
      while (std::getline(in, line))
        if (std::regex_search(line, m, re))
          holders[std::stoi(m[1].str())] += 1;
    }
    BOOST_TEST(holders.size() == static_cast<size_t>(partitions));
    for (auto& [p, n] : holders)
      BOOST_TEST(n == 1, "partition " << p << " is held by " << n << " nodes");
  }
  std::map<std::string, std::vector<std::string>> expected;
  for (size_t i = 0; i < probes.size() && i < 12; ++i) {
    auto& u = probes[i].user_id;
    auto on_a = search(a.port(), u, "status update for the task");
    BOOST_TEST_REQUIRE(on_a.status == 200, on_a.body);
    BOOST_TEST(!on_a.stale);
    BOOST_TEST(!on_a.ids.empty(), "no hits for " << u);
    for (auto* n : {&b, &c}) {
      auto r = search(n->port(), u, "status update for the task");
      BOOST_TEST(r.status == 200);
      BOOST_TEST(join(r.ids) == join(on_a.ids),
                 "user " << u << ": node on port " << n->port() << " "
                         << join(r.ids) << " vs A " << join(on_a.ids));
    }
    expected[u] = on_a.ids;
  }
  // A single node rebuilt from Postgres answers the same.
  for (auto* n : nodes)
    BOOST_TEST(n->terminate() == "exit code 0");
  {
    std::error_code ec;
    fs::remove_all(a.options().data_dir, ec);
    auto err = a.start(120s);
    BOOST_TEST_REQUIRE(err.empty(), "single node A: " << err);
    err = wait_until(
      "the single node to hold every memory", 120s,
      [&] {
        return a.metric("agentmem_index_vectors").value_or(-1)
                 == static_cast<double>(memories)
               && all_serving({"node-a"});
      },
      [&] { return consumer_metrics_report(a.metrics()); },
      [&] { return a.death(); }, 500ms);
    BOOST_TEST_REQUIRE(err.empty(), err);
    for (auto& [u, ids] : expected) {
      auto r = search(a.port(), u, "status update for the task");
      BOOST_TEST(join(r.ids) == join(ids),
                 "user " << u << ": rebuilt " << join(r.ids) << " vs "
                         << join(ids));
    }
  }
  BOOST_TEST(a.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

BOOST_AUTO_TEST_SUITE_END()
