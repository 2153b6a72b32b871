// search_bench: filtered recall and latency of vector search
// (storage::vector_index with its payload indexes and query planner) on
// synthetic clustered memories; docs/performance.md and docs/retrieval.md
// hold the results and how to run it.
//
// Scenarios:
//   one-user   N memories of one user (default 100,000), plus a calibration
//              of the planner's full-scan threshold: exact scoring vs
//              filtered HNSW on time windows of growing size;
//   many-users N memories across U users (default 1,000,000 / 10,000),
//              user sizes Zipf-distributed (s = 1), queries for uniformly
//              drawn users and for the 10 largest.
// For every filter: p50/p99 latency, recall@10 against brute force over
// the same filter, and the plans taken.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>

#include "messages/memory.hpp"
#include "storage/vector_index.hpp"

using namespace agentmem;
using namespace agentmem::storage;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

const char* const types[] = {"conversation", "episodic", "document",
                             "session_summary"};
const char* const tag_names[] = {"work", "travel", "health", "family",
                                 "finance", "food", "music", "sport"};
constexpr int64_t t0 = 1'700'000'000'000;

double since(clk::time_point t) {
  return std::chrono::duration<double>(clk::now() - t).count();
}

void normalise(float* v, size_t d) {
  float n = 0;
  for (size_t i = 0; i < d; ++i)
    n += v[i] * v[i];
  n = std::sqrt(n);
  for (size_t i = 0; i < d; ++i)
    v[i] /= n;
}

// Compact corpus: payloads and one flat vector array (the bench keeps its
// own copy for brute force).
struct corpus {
  size_t dims;
  std::vector<std::vector<float>> topics;
  std::vector<float> vecs; // n * dims
  std::vector<uint32_t> user, session, type;
  std::vector<uint16_t> topic; // the topic of each point's session
  std::vector<int64_t> ts;
  std::vector<uint8_t> tag_bits;
  std::vector<std::vector<uint32_t>> by_user; // user -> point indexes
  int64_t t_end = t0;

  size_t size() const {
    return user.size();
  }

  std::vector<std::vector<float>> subtopics; // 16 per topic

  // A unit vector of a topic's subtopic: topic centre + subtopic offset
  // (norm 0.6) + isotropic noise (norm ~`spread`): a two-level cluster
  // hierarchy, so a memory's nearest neighbours are its subtopic, then its
  // topic (embeddings of real text have far fewer effective dimensions
  // than isotropic noise in 384; with noise alone HNSW at ef 64 finds
  // ~0.63 of the top 10, see docs/performance.md).
  void topic_vector(std::mt19937& rng, size_t topic, float spread, float* out) {
    std::normal_distribution<float> g{0, 1};
    auto& sub = subtopics[topic * 16 + rng() % 16];
    float per_dim = spread / std::sqrt(static_cast<float>(dims));
    for (size_t i = 0; i < dims; ++i)
      out[i] = topics[topic][i] + sub[i] + per_dim * g(rng);
    normalise(out, dims);
  }

  // Sessions of 20-80 turns per user, a topic per session (one of 1,000
  // cluster centres; a user favours 8 of them), types 60/25/10/5 %, time
  // one turn per ~minute within a session and sessions spread over a year,
  // 0-2 tags with geometric popularity.
  corpus(size_t n, size_t n_users, size_t d, uint32_t seed, double zipf_s)
    : dims(d) {
    std::mt19937 rng{seed};
    std::normal_distribution<float> g{0, 1};
    for (int t = 0; t < 1000; ++t) {
      std::vector<float> c(dims);
      for (auto& x : c)
        x = g(rng);
      normalise(c.data(), dims);
      topics.push_back(std::move(c));
      for (int k = 0; k < 16; ++k) {
        std::vector<float> o(dims);
        for (auto& x : o)
          x = g(rng);
        normalise(o.data(), dims);
        for (auto& x : o)
          x *= 0.6f;
        subtopics.push_back(std::move(o));
      }
    }
    // user sizes
    std::vector<double> w(n_users);
    double sum = 0;
    for (size_t u = 0; u < n_users; ++u)
      sum += w[u] = 1.0 / std::pow(static_cast<double>(u + 1), zipf_s);
    std::vector<size_t> sizes(n_users);
    size_t assigned = 0;
    for (size_t u = 0; u < n_users; ++u)
      assigned += sizes[u] = std::max<size_t>(
        1, static_cast<size_t>(std::floor(w[u] / sum * n)));
    for (size_t u = 0; assigned < n; u = (u + 1) % n_users, ++assigned)
      ++sizes[u];
    while (assigned > n) { // floors of 1 may overshoot: trim the largest
      --sizes[0];
      --assigned;
    }
    vecs.resize(n * dims);
    user.reserve(n);
    by_user.resize(n_users);
    std::uniform_real_distribution<double> u01{0, 1};
    std::uniform_int_distribution<int> sess_len{20, 80};
    const int64_t year = int64_t{365} * 24 * 3600 * 1000;
    uint32_t next_session = 0;
    for (size_t u = 0; u < n_users; ++u) {
      size_t favourite[8];
      for (auto& f : favourite)
        f = rng() % topics.size();
      size_t left = sizes[u];
      size_t n_sessions = std::max<size_t>(1, left / 50);
      int64_t gap = year / static_cast<int64_t>(n_sessions);
      int64_t start = t0;
      while (left > 0) {
        size_t len = std::min<size_t>(left, sess_len(rng));
        size_t topic = favourite[rng() % 8];
        uint32_t s = next_session++;
        for (size_t i = 0; i < len; ++i) {
          auto idx = static_cast<uint32_t>(user.size());
          user.push_back(static_cast<uint32_t>(u));
          session.push_back(s);
          double r = u01(rng);
          type.push_back(r < 0.6 ? 0 : r < 0.85 ? 1 : r < 0.95 ? 2 : 3);
          ts.push_back(start + static_cast<int64_t>(i) * 60'000
                       + static_cast<int64_t>(rng() % 30'000));
          t_end = std::max(t_end, ts.back());
          uint8_t bits = 0;
          for (int t = 0; t < 2; ++t) {
            double x = u01(rng);
            if (x < 0.6)
              bits |= static_cast<uint8_t>(
                1u << std::min<int>(7, static_cast<int>(
                                         -std::log2(1 - x / 0.6 + 1e-12))));
          }
          tag_bits.push_back(bits);
          this->topic.push_back(static_cast<uint16_t>(topic));
          topic_vector(rng, topic, 0.4f, &vecs[size_t{idx} * dims]);
          by_user[u].push_back(idx);
        }
        left -= len;
        start += gap;
      }
    }
  }

  memory to_memory(size_t i) const {
    memory m;
    m.point_id = i + 1;
    m.memory_id = std::to_string(i);
    m.user_id = "u" + std::to_string(user[i]);
    m.session_id = "s" + std::to_string(session[i]);
    m.memory_type = types[type[i]];
    m.ts_ms = ts[i];
    for (int b = 0; b < 8; ++b)
      if (tag_bits[i] & (1u << b))
        m.tags.push_back(tag_names[b]);
    m.vector.assign(vecs.begin() + static_cast<ptrdiff_t>(i * dims),
                    vecs.begin() + static_cast<ptrdiff_t>((i + 1) * dims));
    return m;
  }
};

// A filter in both forms: the index's and a predicate for brute force.
struct bench_filter {
  vector_filter f;
  uint32_t user = 0;
  int64_t session = -1;
  int type_mask = 0;
  std::optional<int64_t> since_ms, until_ms;
  uint8_t tags = 0;
  bool tags_all = false;

  bool matches(const corpus& c, uint32_t i) const {
    if (c.user[i] != user)
      return false;
    if (session >= 0 && c.session[i] != static_cast<uint32_t>(session))
      return false;
    if (type_mask && !(type_mask & (1 << c.type[i])))
      return false;
    if (since_ms && c.ts[i] < *since_ms)
      return false;
    if (until_ms && c.ts[i] > *until_ms)
      return false;
    if (tags) {
      if (tags_all ? (c.tag_bits[i] & tags) != tags : !(c.tag_bits[i] & tags))
        return false;
    }
    return true;
  }
};

std::vector<uint64_t> brute_force(const corpus& c, const float* q, size_t k,
                                  const bench_filter& bf, size_t& matched) {
  std::vector<std::pair<float, uint64_t>> all;
  for (auto i : c.by_user[bf.user])
    if (bf.matches(c, i)) {
      const float* v = &c.vecs[size_t{i} * c.dims];
      float s = 0;
      for (size_t j = 0; j < c.dims; ++j)
        s += q[j] * v[j];
      all.emplace_back(-s, i + 1);
    }
  matched = all.size();
  auto n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(all[i].second);
  return out;
}

// Filter kinds over a user's points, built from a sample point of that
// user (so session/time/tag filters match something).
enum class fk { user, session, type_conv, type_rare, time_10pct, time_day,
                tag_any, tags_all, type_time, type_tag_time };
const char* fk_name(fk k) {
  switch (k) {
    case fk::user: return "user only";
    case fk::session: return "session";
    case fk::type_conv: return "type conversation";
    case fk::type_rare: return "types document|summary";
    case fk::time_10pct: return "last 10% of user's time";
    case fk::time_day: return "one day";
    case fk::tag_any: return "tags any(travel,music)";
    case fk::tags_all: return "tags all(work,travel)";
    case fk::type_time: return "type conv + last 50% time";
    case fk::type_tag_time: return "conv + tag work + last 50%";
  }
  return "?";
}
const fk all_kinds[] = {fk::user, fk::session, fk::type_conv, fk::type_rare,
                        fk::time_10pct, fk::time_day, fk::tag_any,
                        fk::tags_all, fk::type_time, fk::type_tag_time};

bench_filter make_filter(const corpus& c, uint32_t u, fk k, std::mt19937& rng) {
  bench_filter b;
  b.user = u;
  b.f.user_id = "u" + std::to_string(u);
  auto& pts = c.by_user[u];
  auto sample = pts[rng() % pts.size()];
  int64_t lo = c.ts[pts.front()], hi = lo;
  for (auto i : pts) {
    lo = std::min(lo, c.ts[i]);
    hi = std::max(hi, c.ts[i]);
  }
  auto set_types = [&](int mask) {
    b.type_mask = mask;
    for (int t = 0; t < 4; ++t)
      if (mask & (1 << t))
        b.f.memory_types.push_back(types[t]);
  };
  auto set_tags = [&](uint8_t bits, bool all) {
    b.tags = bits;
    b.tags_all = all;
    b.f.tags_all = all;
    for (int t = 0; t < 8; ++t)
      if (bits & (1u << t))
        b.f.tags.push_back(tag_names[t]);
  };
  switch (k) {
    case fk::user: break;
    case fk::session:
      b.session = c.session[sample];
      b.f.session_id = "s" + std::to_string(c.session[sample]);
      break;
    case fk::type_conv: set_types(1); break;
    case fk::type_rare: set_types(4 | 8); break;
    case fk::time_10pct: b.since_ms = hi - (hi - lo) / 10; break;
    case fk::time_day:
      b.since_ms = c.ts[sample] - 12 * 3600 * 1000;
      b.until_ms = c.ts[sample] + 12 * 3600 * 1000;
      break;
    case fk::tag_any: set_tags(2 | 64, false); break;
    case fk::tags_all: set_tags(1 | 2, true); break;
    case fk::type_time:
      set_types(1);
      b.since_ms = hi - (hi - lo) / 2;
      break;
    case fk::type_tag_time:
      set_types(1);
      set_tags(1, false);
      b.since_ms = hi - (hi - lo) / 2;
      break;
  }
  b.f.since_ms = b.since_ms;
  b.f.until_ms = b.until_ms;
  return b;
}

double pct(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(xs.size()))) - 1;
  return xs[std::min(i, xs.size() - 1)];
}

struct row_stats {
  std::vector<double> lat_ms;
  size_t found = 0, wanted = 0, exact = 0, hnsw = 0, none = 0;
  double matched_sum = 0;
};

// Runs `queries` searches of filter kind k for users drawn by pick_user.
template <class PickUser>
row_stats run_kind(const corpus& c, const vector_index& idx, fk k,
                   size_t queries, size_t top_k, std::mt19937& rng,
                   PickUser pick_user) {
  row_stats st;
  std::vector<float> q(c.dims);
  for (size_t i = 0; i < queries; ++i) {
    auto u = pick_user();
    auto bf = make_filter(c, u, k, rng);
    // queries: near one of the user's own points' topic
    auto& pts = c.by_user[u];
    auto p = pts[rng() % pts.size()];
    std::normal_distribution<float> g{0, 1};
    for (size_t j = 0; j < c.dims; ++j)
      q[j] = c.vecs[size_t{p} * c.dims + j]
             + 0.35f / std::sqrt(static_cast<float>(c.dims)) * g(rng);
    normalise(q.data(), c.dims);
    search_info info;
    auto t = clk::now();
    auto hits = idx.search(q.data(), top_k, bf.f, &info);
    st.lat_ms.push_back(since(t) * 1000);
    size_t matched = 0;
    auto truth = brute_force(c, q.data(), top_k, bf, matched);
    st.matched_sum += static_cast<double>(matched);
    std::set<uint64_t> ts(truth.begin(), truth.end());
    for (auto& h : hits)
      st.found += ts.count(h.point_id);
    st.wanted += truth.size();
    (info.plan == search_info::plan_kind::exact  ? st.exact
     : info.plan == search_info::plan_kind::hnsw ? st.hnsw
                                                 : st.none)++;
  }
  return st;
}

void print_header() {
  std::printf("%-30s %9s %8s %8s %9s %12s %10s\n", "filter", "matches",
              "p50 ms", "p99 ms", "recall@10", "exact/hnsw", "queries");
}

void print_row(const char* name, const row_stats& st, size_t queries) {
  double recall = st.wanted ? static_cast<double>(st.found)
                                / static_cast<double>(st.wanted)
                            : 1.0;
  char plans[32];
  std::snprintf(plans, sizeof plans, "%zu/%zu", st.exact, st.hnsw);
  std::printf("%-30s %9.0f %8.3f %8.3f %9.4f %12s %10zu\n", name,
              st.matched_sum / static_cast<double>(queries),
              pct(st.lat_ms, 0.5), pct(st.lat_ms, 0.99), recall, plans,
              queries);
  std::fflush(stdout);
}

std::unique_ptr<vector_index> build(const corpus& c, const std::string& dir,
                                    vector_index_config cfg, double& secs) {
  cfg.initial_capacity = c.size() + 1;
  auto idx = vector_index::open(dir, cfg);
  if (!idx) {
    std::fprintf(stderr, "open failed\n");
    std::exit(1);
  }
  auto t = clk::now();
  std::vector<memory> batch;
  for (size_t i = 0; i < c.size(); ++i) {
    batch.push_back(c.to_memory(i));
    if (batch.size() == 10'000 || i + 1 == c.size()) {
      if (!(*idx)->upsert(batch)) {
        std::fprintf(stderr, "upsert failed\n");
        std::exit(1);
      }
      batch.clear();
      if ((i + 1) % 100'000 == 0) {
        std::printf("  ... %zu points, %.0f s\n", i + 1, since(t));
        std::fflush(stdout);
      }
    }
  }
  secs = since(t);
  return std::move(*idx);
}

// Updates about `fraction` of the points in place, as dedup and rolling
// summaries do in the pipeline: same id and payload, a new vector (another
// subtopic of the point's topic: the text changed, the subject did not),
// through upsert() in batches of 10,000. `c` takes the new vectors, so the
// brute force that follows measures recall against them. Returns the
// number of points updated; `secs` the time the upserts took.
size_t update_in_place(corpus& c, vector_index& idx, double fraction,
                       std::mt19937& rng, double& secs) {
  std::uniform_real_distribution<double> u01{0, 1};
  std::vector<memory> batch;
  size_t updated = 0;
  secs = 0;
  auto flush = [&] {
    auto t = clk::now();
    if (!idx.upsert(batch)) {
      std::fprintf(stderr, "upsert failed\n");
      std::exit(1);
    }
    secs += since(t);
    batch.clear();
  };
  for (size_t i = 0; i < c.size(); ++i) {
    if (u01(rng) >= fraction)
      continue;
    c.topic_vector(rng, c.topic[i], 0.4f, &c.vecs[i * c.dims]);
    batch.push_back(c.to_memory(i));
    ++updated;
    if (batch.size() == 10'000)
      flush();
  }
  if (!batch.empty())
    flush();
  return updated;
}

std::unique_ptr<vector_index> reopen(const std::string& dir,
                                     vector_index_config cfg, size_t n) {
  cfg.initial_capacity = n + 1;
  auto idx = vector_index::open(dir, cfg);
  if (!idx) {
    std::fprintf(stderr, "reopen failed\n");
    std::exit(1);
  }
  return std::move(*idx);
}

std::string machine() {
  std::ifstream cpu{"/proc/cpuinfo"};
  std::string line, model = "?";
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream mem{"/proc/meminfo"};
  std::string key;
  double kb = 0;
  mem >> key >> kb;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%u cores, %s, %.1f GiB RAM",
                std::thread::hardware_concurrency(), model.c_str(),
                kb / 1024 / 1024);
  return buf;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"agentmem filtered vector search benchmark (docs/performance.md)"};
  std::string scenario = "one-user";
  size_t points = 0, users = 0, dims = 384, queries = 200, top_k = 10;
  double zipf = 1.0;
  uint32_t seed = 42;
  std::string dir = "/tmp/agentmem-search-bench";
  vector_index_config cfg;
  bool calibrate = true;
  double update_fraction = 0;
  app.add_option("--scenario", scenario, "one-user | many-users")
    ->capture_default_str();
  app.add_option("--points", points,
                 "Memories (default 100,000 one-user, 1,000,000 many-users)");
  app.add_option("--users", users, "Users of many-users (default 10,000)");
  app.add_option("--dims", dims, "Vector dimensions")->capture_default_str();
  app.add_option("--queries", queries, "Queries per filter kind")
    ->capture_default_str();
  app.add_option("--top-k", top_k, "k")->capture_default_str();
  app.add_option("--zipf", zipf, "Zipf exponent of user sizes")
    ->capture_default_str();
  app.add_option("--seed", seed, "Seed")->capture_default_str();
  app.add_option("--dir", dir, "Scratch directory (removed)")
    ->capture_default_str();
  app.add_option("--exact-threshold", cfg.exact_threshold,
                 "Planner full-scan threshold (points)")
    ->capture_default_str();
  app.add_option("--ef", cfg.ef_search, "ef_search")->capture_default_str();
  app.add_option("--oversample", cfg.oversample, "Filtered HNSW oversampling")
    ->capture_default_str();
  app.add_option("--update-fraction", update_fraction,
                 "Before the queries, update this fraction of the points in "
                 "place (new vector, same id: dedup, rolling summaries)")
    ->capture_default_str()
    ->check(CLI::Range(0.0, 1.0));
  app.add_option("--update-neighbor-probability",
                 cfg.update_neighbor_probability,
                 "vector_index_config::update_neighbor_probability")
    ->capture_default_str()
    ->check(CLI::Range(0.0, 1.0));
  app.add_flag("!--no-calibration", calibrate,
               "Skip the exact-vs-HNSW threshold calibration (one-user)");
  CLI11_PARSE(app, argc, argv);
  bool many = scenario == "many-users";
  if (!many && scenario != "one-user") {
    std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  if (points == 0)
    points = many ? 1'000'000 : 100'000;
  if (users == 0)
    users = many ? 10'000 : 1;
  cfg.dims = dims;
  cfg.model = "bench";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);

  std::printf("== search_bench: %s ==\n", scenario.c_str());
  std::printf("  machine: %s\n", machine().c_str());
#ifdef NDEBUG
  std::printf("  build: optimised (NDEBUG)\n");
#else
  std::printf("  build: assertions on (not NDEBUG)\n");
#endif
  std::printf("  index: hnswlib M=%zu efC=%zu ef=%zu, exact_threshold=%zu, "
              "oversample=%.1f, visit_factor=%zu\n",
              cfg.m, cfg.ef_construction, cfg.ef_search, cfg.exact_threshold,
              cfg.oversample, cfg.hnsw_visit_factor);
  auto tg = clk::now();
  corpus c{points, users, dims, seed, zipf};
  std::vector<size_t> sizes;
  for (auto& b : c.by_user)
    sizes.push_back(b.size());
  std::sort(sizes.rbegin(), sizes.rend());
  std::printf("  corpus: %zu memories, %zu users (largest %zu, median %zu, "
              "smallest %zu), %zu dims, 1000 topics x 16 subtopics; "
              "generated in %.1f s\n",
              c.size(), users, sizes.front(), sizes[sizes.size() / 2],
              sizes.back(), dims, since(tg));
  double build_s = 0;
  auto idx = build(c, (fs::path{dir} / "main").string(), cfg, build_s);
  std::printf("  build: %.1f s (%.0f points/s, 1 thread, vector_index::upsert "
              "in batches of 10,000)\n",
              build_s, static_cast<double>(c.size()) / build_s);
  std::mt19937 rng{seed + 1};
  if (update_fraction > 0) {
    double upd_s = 0;
    auto n = update_in_place(c, *idx, update_fraction, rng, upd_s);
    std::printf("  updates in place: %zu points (%.0f %%) in %.1f s = %.0f "
                "µs per update (update_neighbor_probability %.2f; the "
                "build: %.0f µs per point)\n",
                n, 100.0 * static_cast<double>(n) / static_cast<double>(c.size()),
                upd_s, upd_s * 1e6 / static_cast<double>(std::max<size_t>(n, 1)),
                static_cast<double>(cfg.update_neighbor_probability),
                build_s * 1e6 / static_cast<double>(c.size()));
  }
  if (!many) {
    std::printf("\n== latency and recall@%zu, one user, %zu queries per "
                "filter ==\n", top_k, queries);
    print_header();
    for (auto k : all_kinds) {
      auto st = run_kind(c, *idx, k, queries, top_k, rng, [] { return 0u; });
      print_row(fk_name(k), st, queries);
    }
    if (calibrate) {
      // The same graph reopened with the plan forced either way.
      if (auto err = idx->save(0)) {
        std::fprintf(stderr, "save failed\n");
        return 1;
      }
      fs::rename(fs::path{dir} / "main" / "snapshot", fs::path{dir} / "snap");
      for (auto d : {"exact", "hnsw"}) {
        fs::create_directories(fs::path{dir} / d);
        fs::copy(fs::path{dir} / "snap", fs::path{dir} / d / "snapshot");
      }
      auto ce = cfg;
      ce.exact_threshold = c.size();
      auto ch = cfg;
      ch.exact_threshold = 0;
      ch.hnsw_visit_factor = 0;
      auto ex = reopen((fs::path{dir} / "exact").string(), ce, c.size());
      auto hn = reopen((fs::path{dir} / "hnsw").string(), ch, c.size());
      std::printf("\n== threshold calibration: time windows of growing size, "
                  "exact vs forced filtered HNSW (oversample %.1f) ==\n",
                  cfg.oversample);
      std::printf("%10s %12s %12s %12s %12s %10s\n", "matches", "exact p50",
                  "exact p99", "hnsw p50", "hnsw p99", "hnsw rec");
      int64_t span = c.t_end - t0;
      for (double frac : {0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5}) {
        row_stats se, sh;
        std::vector<float> q(dims);
        size_t nq = std::min<size_t>(queries, 100);
        for (size_t i = 0; i < nq; ++i) {
          bench_filter bf;
          bf.f.user_id = "u0";
          int64_t len = static_cast<int64_t>(static_cast<double>(span) * frac);
          int64_t start = t0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(span - len));
          bf.since_ms = bf.f.since_ms = start;
          bf.until_ms = bf.f.until_ms = start + len;
          auto p = c.by_user[0][rng() % c.by_user[0].size()];
          std::normal_distribution<float> g{0, 1};
          for (size_t j = 0; j < dims; ++j)
            q[j] = c.vecs[size_t{p} * dims + j]
                   + 0.35f / std::sqrt(static_cast<float>(dims)) * g(rng);
          normalise(q.data(), dims);
          size_t matched = 0;
          auto truth = brute_force(c, q.data(), top_k, bf, matched);
          std::set<uint64_t> ts(truth.begin(), truth.end());
          for (auto* pair : {&se, &sh}) {
            auto& ix = pair == &se ? *ex : *hn;
            auto t = clk::now();
            auto hits = ix.search(q.data(), top_k, bf.f);
            pair->lat_ms.push_back(since(t) * 1000);
            for (auto& h : hits)
              pair->found += ts.count(h.point_id);
            pair->wanted += truth.size();
          }
          se.matched_sum += static_cast<double>(matched);
        }
        std::printf("%10.0f %12.3f %12.3f %12.3f %12.3f %10.4f\n",
                    se.matched_sum / static_cast<double>(nq),
                    pct(se.lat_ms, 0.5), pct(se.lat_ms, 0.99),
                    pct(sh.lat_ms, 0.5), pct(sh.lat_ms, 0.99),
                    sh.wanted ? static_cast<double>(sh.found)
                                  / static_cast<double>(sh.wanted)
                              : 1.0);
        std::fflush(stdout);
      }
    }
  } else {
    std::vector<uint32_t> largest;
    {
      std::vector<std::pair<size_t, uint32_t>> us;
      for (uint32_t u = 0; u < users; ++u)
        us.emplace_back(c.by_user[u].size(), u);
      std::sort(us.rbegin(), us.rend());
      for (size_t i = 0; i < 10 && i < us.size(); ++i)
        largest.push_back(us[i].second);
    }
    std::uniform_int_distribution<uint32_t> any_user{
      0, static_cast<uint32_t>(users - 1)};
    std::printf("\n== latency and recall@%zu, users drawn uniformly "
                "(mostly small), %zu queries per filter ==\n", top_k, queries);
    print_header();
    for (auto k : all_kinds) {
      auto st = run_kind(c, *idx, k, queries, top_k, rng,
                         [&] { return any_user(rng); });
      print_row(fk_name(k), st, queries);
    }
    std::printf("\n== latency and recall@%zu, the 10 largest users "
                "(%zu..%zu memories), %zu queries per filter ==\n",
                top_k, c.by_user[largest.back()].size(),
                c.by_user[largest.front()].size(), queries);
    print_header();
    for (auto k : all_kinds) {
      auto st = run_kind(c, *idx, k, queries, top_k, rng,
                         [&] { return largest[rng() % largest.size()]; });
      print_row(fk_name(k), st, queries);
    }
  }
  idx.reset();
  fs::remove_all(dir, ec);
  return 0;
}
