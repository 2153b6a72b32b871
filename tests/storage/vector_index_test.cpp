#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "storage/simd_kernels.hpp"
#include "storage/vector_index.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using namespace agentmem::storage;

namespace {

using agentmem::test::temp_dir;

constexpr size_t dims = 32;

std::vector<float> unit(std::mt19937& rng, const std::vector<float>* center,
                        size_t d = dims) {
  std::normal_distribution<float> n{0, 1};
  std::vector<float> v(d);
  for (size_t i = 0; i < d; ++i)
    v[i] = (center ? (*center)[i] * 3 : 0) + n(rng);
  float norm = 0;
  for (auto x : v)
    norm += x * x;
  for (auto& x : v)
    x /= std::sqrt(norm);
  return v;
}

memory point(uint64_t id, const std::string& user, const std::string& type,
             int64_t ts, std::vector<float> v) {
  memory m;
  m.memory_id = "m" + std::to_string(id);
  m.point_id = id;
  m.user_id = user;
  m.session_id = user + "-s" + std::to_string(id % 3);
  m.memory_type = type;
  m.ts_ms = ts;
  m.vector = std::move(v);
  return m;
}

vector_index_config cfg(size_t exact_threshold) {
  vector_index_config c;
  c.dims = dims;
  c.model = "test";
  c.initial_capacity = 64; // forces resizes
  c.exact_threshold = exact_threshold;
  // Threshold 0 means "always HNSW": the planner's switch to exact scoring
  // (k' * visit factor >= candidates) is disabled too.
  if (exact_threshold == 0)
    c.hnsw_visit_factor = 0;
  return c;
}

// The same 3,000 points (20 clusters, users u0..u3) in two indexes:
// `approx` always searched through HNSW (threshold 0), `exact` always
// scored exactly.
struct clustered_pair {
  temp_dir d;
  std::mt19937 rng;
  std::vector<std::vector<float>> centers;
  std::vector<memory> ms;
  std::unique_ptr<vector_index> approx, exact;

  explicit clustered_pair(uint32_t seed) : rng{seed} {
    auto a = vector_index::open((d.path / "a").string(), cfg(0));
    auto e = vector_index::open((d.path / "b").string(), cfg(1'000'000));
    BOOST_REQUIRE(a && e);
    approx = std::move(*a);
    exact = std::move(*e);
    for (int c = 0; c < 20; ++c)
      centers.push_back(unit(rng, nullptr));
    for (uint64_t i = 0; i < 3000; ++i)
      ms.push_back(point(i, "u" + std::to_string(i % 4), "conversation", 0,
                         unit(rng, &centers[i % 20])));
    BOOST_REQUIRE_EQUAL(*approx->upsert(ms), 3000u);
    BOOST_REQUIRE_EQUAL(*exact->upsert(ms), 3000u);
  }

  // How many of the exact top 10 for `q` under `f` the HNSW search finds.
  size_t top10_overlap(const std::vector<float>& q, const vector_filter& f) {
    search_info info;
    auto a = approx->search(q.data(), 10, f, &info);
    BOOST_CHECK(info.plan == search_info::plan_kind::hnsw);
    auto e = exact->search(q.data(), 10, f);
    BOOST_REQUIRE_EQUAL(e.size(), 10u);
    std::set<uint64_t> truth;
    for (auto& h : e)
      truth.insert(h.point_id);
    size_t found = 0;
    for (auto& h : a)
      found += truth.count(h.point_id);
    return found;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(vector_index_suite)

BOOST_AUTO_TEST_CASE(searches_only_ever_return_the_requested_users_points) {
  temp_dir d;
  auto idx = vector_index::open(d.path.string(), cfg(20'000));
  BOOST_REQUIRE(idx);
  std::mt19937 rng{1};
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 300; ++i)
    ms.push_back(point(i, i % 3 == 0 ? "alice" : "bob", "conversation",
                       static_cast<int64_t>(i), unit(rng, nullptr)));
  auto added = (*idx)->upsert(ms);
  BOOST_REQUIRE(added);
  BOOST_CHECK_EQUAL(*added, 300u);
  BOOST_CHECK_EQUAL(*(*idx)->upsert(ms), 0u); // replays add nothing
  BOOST_CHECK_EQUAL((*idx)->user_size("alice"), 100u);
  // The query is one of alice's own vectors: it must be the top hit.
  vector_filter f;
  f.user_id = "alice";
  auto hits = (*idx)->search(ms[30].vector.data(), 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 10u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 30u);
  BOOST_CHECK_CLOSE(hits[0].score, 1.0f, 1e-3);
  for (auto& h : hits)
    BOOST_CHECK_EQUAL(h.point_id % 3, 0u);
  f.user_id = "nobody";
  BOOST_CHECK((*idx)->search(ms[30].vector.data(), 10, f).empty());
}

BOOST_AUTO_TEST_CASE(a_memory_updated_in_place_moves_its_point) {
  temp_dir d;
  auto idx = vector_index::open(d.path.string(), cfg(0)); // HNSW path
  BOOST_REQUIRE(idx);
  std::mt19937 rng{7};
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 200; ++i)
    ms.push_back(point(i, "alice", "episodic", 100, unit(rng, nullptr)));
  BOOST_REQUIRE_EQUAL(*(*idx)->upsert(ms), 200u);
  auto target = unit(rng, nullptr);
  vector_filter f;
  f.user_id = "alice";
  BOOST_CHECK_NE((*idx)->search(target.data(), 1, f)[0].point_id, 5u);
  // Point 5 is updated (dedup / rolling summary): new vector, new ts.
  auto updated = point(5, "alice", "episodic", 500, target);
  BOOST_CHECK_EQUAL(*(*idx)->upsert({updated}), 0u); // not a new point
  BOOST_CHECK_EQUAL((*idx)->size(), 200u);
  auto hits = (*idx)->search(target.data(), 1, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 5u);
  BOOST_CHECK_CLOSE(hits[0].score, 1.0f, 1e-3);
  f.since_ms = 500; // the payload follows the update
  hits = (*idx)->search(target.data(), 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 5u);
}

BOOST_AUTO_TEST_CASE(payload_filters_restrict_type_session_and_time) {
  temp_dir d;
  auto idx = vector_index::open(d.path.string(), cfg(20'000));
  BOOST_REQUIRE(idx);
  std::mt19937 rng{2};
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 90; ++i)
    ms.push_back(point(i, "u", i % 2 ? "episodic" : "conversation",
                       static_cast<int64_t>(i * 10), unit(rng, nullptr)));
  BOOST_REQUIRE((*idx)->upsert(ms));
  vector_filter f;
  f.user_id = "u";
  f.memory_types = {"episodic"};
  f.session_id = "u-s1";
  f.since_ms = 200;
  f.until_ms = 600;
  auto hits = (*idx)->search(ms[0].vector.data(), 100, f);
  BOOST_REQUIRE(!hits.empty());
  for (auto& h : hits) {
    BOOST_CHECK_EQUAL(h.point_id % 2, 1u);
    BOOST_CHECK_EQUAL(h.point_id % 3, 1u);
    BOOST_CHECK_GE(h.point_id * 10, 200u);
    BOOST_CHECK_LE(h.point_id * 10, 600u);
  }
  size_t expected = 0;
  for (uint64_t i = 0; i < 90; ++i)
    expected += (i % 2 == 1 && i % 3 == 1 && i * 10 >= 200 && i * 10 <= 600);
  BOOST_CHECK_EQUAL(hits.size(), expected);
  for (size_t i = 1; i < hits.size(); ++i)
    BOOST_CHECK_GE(hits[i - 1].score, hits[i].score);
}

BOOST_AUTO_TEST_CASE(the_hnsw_path_agrees_with_exact_scoring_on_clustered_data) {
  clustered_pair c{3};
  size_t found = 0;
  for (int q = 0; q < 50; ++q) {
    auto qv = unit(c.rng, &c.centers[q % 20]);
    vector_filter f;
    f.user_id = "u" + std::to_string(q % 4);
    found += c.top10_overlap(qv, f);
  }
  double recall = static_cast<double>(found) / 500.0;
  BOOST_TEST_MESSAGE("filtered HNSW recall@10 vs exact: " << recall);
  BOOST_CHECK_GE(recall, 0.9);
}

// Dedup and rolling summaries move points: same id, a new vector, often
// in another cluster. After every point has moved twice the graph must
// still find the top 10 as exact scoring does, and each point where it
// now is.
BOOST_AUTO_TEST_CASE(points_moved_in_place_are_found_where_they_now_are) {
  clustered_pair c{11};
  for (int round = 1; round <= 2; ++round) {
    for (auto& m : c.ms) {
      m.vector = unit(c.rng, &c.centers[c.rng() % 20]);
      m.ts_ms = round;
    }
    BOOST_REQUIRE_EQUAL(*c.approx->upsert(c.ms), 0u); // no new points
    BOOST_REQUIRE_EQUAL(*c.exact->upsert(c.ms), 0u);
  }
  BOOST_CHECK_EQUAL(c.approx->size(), 3000u);
  size_t found = 0, at_top = 0;
  for (int q = 0; q < 100; ++q) {
    auto& own = c.ms[c.rng() % c.ms.size()];
    vector_filter f;
    f.user_id = own.user_id;
    auto a = c.approx->search(own.vector.data(), 10, f);
    at_top += !a.empty() && a[0].point_id == own.point_id;
    found += c.top10_overlap(unit(c.rng, &c.centers[q % 20]), f);
  }
  double recall = static_cast<double>(found) / 1000.0;
  BOOST_TEST_MESSAGE("recall@10 after two rounds of moves: " << recall
                     << ", own vector at the top " << at_top << "/100");
  BOOST_CHECK_GE(recall, 0.9);
  BOOST_CHECK_GE(at_top, 98u);
}

BOOST_AUTO_TEST_CASE(snapshots_reload_with_their_watermark) {
  temp_dir d;
  std::mt19937 rng{4};
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 100; ++i)
    ms.push_back(point(i, "u", "document", 5, unit(rng, nullptr)));
  {
    auto idx = vector_index::open(d.path.string(), cfg(20'000));
    BOOST_REQUIRE(idx);
    BOOST_REQUIRE((*idx)->upsert(ms));
    BOOST_REQUIRE(!(*idx)->save(77));
  }
  auto idx = vector_index::open(d.path.string(), cfg(20'000));
  BOOST_REQUIRE(idx);
  BOOST_CHECK_EQUAL((*idx)->size(), 100u);
  BOOST_CHECK_EQUAL((*idx)->watermark(), 77);
  vector_filter f;
  f.user_id = "u";
  f.memory_types = {"document"};
  auto hits = (*idx)->search(ms[7].vector.data(), 1, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 7u);
  // A different embedding model must not silently reuse the vectors.
  auto other = cfg(20'000);
  other.model = "another-model";
  BOOST_CHECK(!vector_index::open(d.path.string(), other));
}

BOOST_AUTO_TEST_CASE(vectors_of_the_wrong_dimensionality_are_rejected) {
  temp_dir d;
  auto idx = vector_index::open(d.path.string(), cfg(20'000));
  BOOST_REQUIRE(idx);
  auto m = point(1, "u", "document", 0, std::vector<float>(dims + 1, 0.1f));
  BOOST_CHECK(!(*idx)->upsert({m}));
  BOOST_CHECK_EQUAL((*idx)->size(), 0u);
  // Checked before anything changes: the good points of the call stay out.
  std::mt19937 rng{9};
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 200; ++i)
    ms.push_back(point(100 + i, "u", "document", 0, unit(rng, nullptr)));
  ms.push_back(m);
  BOOST_CHECK(!(*idx)->upsert(ms));
  BOOST_CHECK_EQUAL((*idx)->size(), 0u);
}

BOOST_AUTO_TEST_CASE(two_inserting_threads_build_the_same_points_as_one) {
  temp_dir d;
  std::mt19937 rng{11};
  std::vector<std::vector<float>> centers;
  for (int c = 0; c < 10; ++c)
    centers.push_back(unit(rng, nullptr));
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 2000; ++i)
    ms.push_back(point(1000 + i, "u" + std::to_string(i % 3), "conversation",
                       static_cast<int64_t>(i), unit(rng, &centers[i % 10])));
  // A repeat inside one call is one point, updated to its last vector.
  auto repeat = ms[5];
  repeat.vector = unit(rng, &centers[7]);
  repeat.ts_ms = 99'999;
  ms.push_back(repeat);
  auto one = cfg(0);
  one.insert_threads = 1;
  auto two = cfg(0);
  two.insert_threads = 2;
  auto a = vector_index::open((d.path / "one").string(), one);
  auto b = vector_index::open((d.path / "two").string(), two);
  BOOST_REQUIRE(a && b);
  double helper_cpu = -1;
  // Batches of the pipeline's size, the first into an empty graph.
  for (size_t i = 0; i < ms.size(); i += 700) {
    std::vector<memory> part(ms.begin() + static_cast<long>(i),
                             ms.begin() + static_cast<long>(
                                            std::min(ms.size(), i + 700)));
    auto na = (*a)->upsert(part);
    auto nb = (*b)->upsert(part, &helper_cpu);
    BOOST_REQUIRE(na && nb);
    BOOST_CHECK_EQUAL(*na, *nb);
  }
  BOOST_CHECK_GE(helper_cpu, 0.0);
  BOOST_CHECK_EQUAL((*a)->size(), 2000u);
  BOOST_CHECK_EQUAL((*b)->size(), 2000u);
  // A replay adds nothing.
  auto again = (*b)->upsert(ms);
  BOOST_REQUIRE(again);
  BOOST_CHECK_EQUAL(*again, 0u);
  BOOST_CHECK_EQUAL((*b)->size(), 2000u);
  // Every point is found as its own nearest neighbour through HNSW in both
  // graphs (the repeated one at its last vector and ts).
  size_t self_a = 0, self_b = 0, n = 0;
  for (size_t i = 0; i < 2000; i += 7) {
    auto& m = i == 5 ? repeat : ms[i];
    vector_filter f;
    f.user_id = m.user_id;
    auto ha = (*a)->search(m.vector.data(), 1, f);
    auto hb = (*b)->search(m.vector.data(), 1, f);
    self_a += !ha.empty() && ha[0].point_id == m.point_id;
    self_b += !hb.empty() && hb[0].point_id == m.point_id;
    ++n;
  }
  BOOST_CHECK_GE(self_a, n * 99 / 100);
  BOOST_CHECK_GE(self_b, n * 99 / 100);
  vector_filter late;
  late.user_id = repeat.user_id;
  late.since_ms = 99'999;
  auto hit = (*b)->search(repeat.vector.data(), 1, late);
  BOOST_REQUIRE_EQUAL(hit.size(), 1u);
  BOOST_CHECK_EQUAL(hit[0].point_id, repeat.point_id);
}

BOOST_AUTO_TEST_CASE(simd_kernels_agree_with_the_scalar_inner_product) {
  std::mt19937 rng{5};
  std::normal_distribution<float> n{0, 1};
  auto best = detected_simd_level();
  BOOST_TEST_MESSAGE("CPU kernel level: " << to_string(best));
  for (auto level : {simd_level::avx2_fma, simd_level::avx512}) {
    if (static_cast<int>(level) > static_cast<int>(best))
      continue; // this CPU cannot run it
    for (size_t dims : {16u, 48u, 384u, 1536u}) {
      auto f = ip_distance(dims, level);
      BOOST_REQUIRE(f);
      for (int t = 0; t < 20; ++t) {
        std::vector<float> x(dims), y(dims);
        double dot = 0;
        for (size_t i = 0; i < dims; ++i) {
          x[i] = n(rng);
          y[i] = n(rng);
          dot += static_cast<double>(x[i]) * y[i];
        }
        float got = f(x.data(), y.data(), &dims);
        BOOST_CHECK_CLOSE_FRACTION(got, 1.0 - dot,
                                   1e-4 * (1.0 + std::abs(dot)));
      }
    }
  }
  size_t odd = 20;
  BOOST_CHECK(!ip_distance(odd, simd_level::avx512));
  BOOST_CHECK(!ip_distance(384, simd_level::sse));
}

// hnswlib constructs 65,536 update locks and one lock per element of
// capacity for every graph (3.3 MiB at 16,384 capacity, the node's shard
// size; 820 MiB for 256 shards): vector_index hands those zero pages back,
// so an empty shard costs little until points arrive.
BOOST_AUTO_TEST_CASE(empty_indexes_do_not_keep_hnswlibs_lock_arrays_resident) {
  auto rss_kb = [] {
    std::ifstream in{"/proc/self/status"};
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0)
        return std::stol(line.substr(6));
    return -1L;
  };
  vector_index_config c;
  c.dims = 384;
  c.model = "test";
  c.initial_capacity = 16384;
  constexpr size_t n = 64;
  std::vector<std::unique_ptr<vector_index>> shards;
  long before = rss_kb();
  BOOST_REQUIRE_GT(before, 0);
  for (size_t i = 0; i < n; ++i) {
    auto idx = vector_index::open("", c);
    BOOST_REQUIRE(idx);
    shards.push_back(std::move(*idx));
  }
  long grown = rss_kb() - before;
  BOOST_TEST_MESSAGE(n << " empty indexes: " << grown << " kB resident");
  // Unreleased: 3.3 MiB each (211 MiB). Released: the per-graph visited
  // list and bookkeeping, well under 0.5 MiB each.
  BOOST_CHECK_LT(grown, static_cast<long>(n * 512));
  // The released locks still work: inserts and an in-place update.
  std::mt19937 rng{7};
  std::vector<memory> ms;
  for (uint64_t i = 0; i < 100; ++i)
    ms.push_back(point(i, "alice", "conversation", static_cast<int64_t>(i),
                       unit(rng, nullptr, 384)));
  BOOST_CHECK_EQUAL(*shards[0]->upsert(ms), 100u);
  auto moved =
    point(7, "alice", "conversation", 1000, unit(rng, nullptr, 384));
  BOOST_CHECK_EQUAL(*shards[0]->upsert({moved}), 0u);
  vector_filter f;
  f.user_id = "alice";
  auto hits = shards[0]->search(moved.vector.data(), 1, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 7u);
}

BOOST_AUTO_TEST_SUITE_END()
