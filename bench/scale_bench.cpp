// scale_bench: what adding nodes buys (docs/performance.md, "Scaling out").
// One machine, a real Apache Kafka broker (scripts/kafka-broker.sh), one
// private PostgreSQL, a fixed workload (default 200,000 synthetic events of
// 10,000 users on a 12-partition topic, published before the nodes start),
// and N = 1, 2, 3 agentmem nodes (the real binary, one consumer group,
// partition-owned shards). For each N, a fresh database and topic; the
// nodes run until every event is committed and every node's shards have
// caught up. Reported per node and in total: CPU-seconds (utime + stime
// from /proc, not wall time: the machine has 2 cores) per 1,000 indexed
// events, index points, resident memory, and events/s; and the ratio of
// total CPU per event at N = 3 vs N = 1.
//
//   build/bench/scale_bench [--events 200000] [--users 10000] [--nodes 1,2,3]
//
// Reuses the end-to-end and fault tests' harness
// (tests/integration/harness.hpp, tests/faults/fault_support.hpp): real
// processes, no fakes.

#include <sstream>

#include "../tests/faults/fault_support.hpp"
#include "kafka/simulator.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using namespace agentmem::it;

namespace {

/// utime + stime of `pid` in seconds (/proc/<pid>/stat), -1 when unreadable.
double cpu_seconds(pid_t pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text((std::istreambuf_iterator<char>(f)), {});
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream in{text.substr(close + 2)};
  std::string field;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 13; ++i)
    in >> field;
  long long ut = 0, st = 0;
  in >> ut >> st;
  return static_cast<double>(ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct node_row {
  double cpu_s = 0;
  double points = 0;
  int64_t rss_kib = 0;
};

struct run_row {
  int nodes = 0;
  double wall_s = 0;
  std::vector<node_row> per_node;
  double total_cpu() const {
    double s = 0;
    for (auto& n : per_node)
      s += n.cpu_s;
    return s;
  }
};

run_row run(int n_nodes, size_t n_events, int users, uint64_t seed) {
  const std::string topic = "agent.activity.scale.v1";
  const std::string group = "agentmem-scale-bench";
  const int partitions = 12;
  temp_dir tmp{"agentmem-scale-bench"};
  test_kafka cluster{broker_kind::real, {{topic, partitions},
                                         {topic + ".dlq", 1}},
                     tmp.path()};
  auto& server = test::pg_server::instance();
  auto db = server.unique_name();
  auto url = server.fresh_database(db);
  kafka::simulator_config sc;
  sc.topic = topic;
  sc.users = users;
  sc.rate = 1000;
  sc.seed = seed;
  sc.start_time_ms = wall_ms() - static_cast<int64_t>(n_events);
  auto events = kafka::generate_events(sc, n_events);
  {
    auto prod = kafka::producer::create(cluster.bootstrap());
    if (!prod)
      throw std::runtime_error(describe(prod.error()));
    for (auto& [k, v] : events)
      if (auto err = (*prod)->produce(topic, k, v))
        throw std::runtime_error(describe(err));
    if (auto err = (*prod)->flush(std::chrono::minutes(2)))
      throw std::runtime_error(describe(err));
  }
  std::cerr << "[scale_bench] N=" << n_nodes << ": " << n_events
            << " events of " << users << " users published\n";
  std::vector<std::unique_ptr<agentmem_node>> nodes;
  for (int i = 0; i < n_nodes; ++i) {
    auto name = "n" + std::to_string(i + 1);
    fs::create_directories(tmp / name);
    node_options o{cluster, topic, group, url, tmp / (name + "/data")};
    o.snapshot_interval_ms = 30000;
    o.extra_toml = "[cluster]\nnode_id = \"" + name
                   + "\"\nsecret = \"scale-bench\"\n";
    nodes.push_back(std::make_unique<agentmem_node>(o, tmp / name));
  }
  auto t0 = steady::now();
  for (auto& n : nodes) // not waiting for readiness: start them together
    n->start(std::chrono::milliseconds(1));
  pg_probe pg{url};
  auto err = wait_until(
    "every event committed", std::chrono::minutes(30),
    [&] {
      return pg.stored_offsets(group, topic).value_or(0)
             == static_cast<int64_t>(n_events);
    },
    [&] { return fmt_count(pg.stored_offsets(group, topic).value_or(-1)); },
    {}, 500ms);
  if (!err.empty())
    throw std::runtime_error(err);
  const auto memories = pg.scalar("SELECT count(*) FROM memories");
  const auto max_seq = pg.scalar("SELECT coalesce(max(seq), 0) FROM memories");
  err = wait_until(
    "every shard caught up", std::chrono::minutes(10),
    [&] {
      double sum = 0;
      for (auto& n : nodes) {
        sum += n->metric("agentmem_index_vectors").value_or(-1);
        if (n->metric("agentmem_index_watermark_seq").value_or(-1)
            < static_cast<double>(max_seq))
          return false;
      }
      return sum == static_cast<double>(memories);
    },
    [&] { return std::string{"points not yet summing up"}; }, {}, 500ms);
  if (!err.empty())
    throw std::runtime_error(err);
  run_row r;
  r.nodes = n_nodes;
  r.wall_s = seconds_since(t0);
  for (auto& n : nodes) {
    node_row nr;
    nr.cpu_s = cpu_seconds(n->pid());
    nr.points = n->metric("agentmem_index_vectors").value_or(-1);
    nr.rss_kib = faults::rss_kib(n->pid());
    r.per_node.push_back(nr);
  }
  for (auto& n : nodes)
    n->terminate();
  server.drop_database(db);
  return r;
}

} // namespace

int main(int argc, char** argv) {
  size_t n_events = 200000;
  int users = 10000;
  std::vector<int> ns{1, 2, 3};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--events")
      n_events = std::stoull(v);
    else if (k == "--users")
      users = std::stoi(v);
    else if (k == "--nodes") {
      ns.clear();
      std::stringstream ss{v};
      for (std::string x; std::getline(ss, x, ',');)
        ns.push_back(std::stoi(x));
    }
  }
  std::vector<run_row> rows;
  for (int n : ns)
    rows.push_back(run(n, n_events, users, 42));
  std::cout << "| nodes | events/s | CPU-s per 1,000 events (total) | per node: "
               "CPU-s per 1,000 events, points, RSS MiB |\n|---|---|---|---|\n";
  for (auto& r : rows) {
    std::cout << "| " << r.nodes << " | "
              << static_cast<int64_t>(static_cast<double>(n_events) / r.wall_s)
              << " | " << r.total_cpu() * 1000.0 / static_cast<double>(n_events)
              << " |";
    for (auto& n : r.per_node)
      std::cout << " " << n.cpu_s * 1000.0 / static_cast<double>(n_events)
                << ", " << static_cast<int64_t>(n.points) << ", "
                << n.rss_kib / 1024 << ";";
    std::cout << " |\n";
  }
  double base = 0;
  for (auto& r : rows)
    if (r.nodes == 1)
      base = r.total_cpu();
  for (auto& r : rows)
    if (base > 0 && r.nodes > 1)
      std::cout << "total CPU at N=" << r.nodes << " vs N=1: "
                << r.total_cpu() / base << "\n";
  return 0;
}
