// Payload indexes, query planning and filtered recall of the memories
// collection (storage/payload_store, storage/vector_index): filtered vector
// search must find >= 95% of the brute-force top 10 under the same filter,
// whichever plan the cardinality estimate picks.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "storage/keyword_index.hpp"
#include "storage/vector_index.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using namespace agentmem::storage;

namespace {

using agentmem::test::temp_dir;

constexpr size_t dims = 48;
const char* const types[] = {"conversation", "episodic", "document",
                             "session_summary"};
const char* const tag_names[] = {"work", "travel", "health", "family",
                                 "finance", "food", "music", "sport"};

void normalise(std::vector<float>& v) {
  float n = 0;
  for (auto x : v)
    n += x * x;
  for (auto& x : v)
    x /= std::sqrt(n);
}

// Clustered synthetic memories: each session talks about one topic (a
// random unit centre); a memory is its topic plus noise. Types are skewed
// (60/25/10/5 %), time grows with a jitter (so some points arrive out of
// order), each memory has 0-2 tags with the first tags the most common.
struct corpus {
  std::vector<std::vector<float>> topics;
  std::vector<memory> ms;
  int64_t t_max = 0;

  // A unit vector near a topic: noise of Euclidean norm ~`spread`.
  std::vector<float> around(std::mt19937& rng, size_t topic, float spread) {
    std::normal_distribution<float> g{0, 1};
    std::vector<float> v(dims);
    float per_dim = spread / std::sqrt(static_cast<float>(dims));
    for (size_t i = 0; i < dims; ++i)
      v[i] = topics[topic][i] + per_dim * g(rng);
    normalise(v);
    return v;
  }

  corpus(size_t n_points, size_t n_users, size_t per_session, uint32_t seed) {
    std::mt19937 rng{seed};
    std::normal_distribution<float> g{0, 1};
    for (int t = 0; t < 64; ++t) {
      std::vector<float> c(dims);
      for (auto& x : c)
        x = g(rng);
      normalise(c);
      topics.push_back(std::move(c));
    }
    std::uniform_real_distribution<double> u{0, 1};
    std::uniform_int_distribution<int> jitter{-50'000, 50'000};
    for (size_t i = 0; i < n_points; ++i) {
      memory m;
      m.point_id = i + 1;
      m.memory_id = "m" + std::to_string(i);
      // user 0 holds most points: the big user drives the HNSW path.
      m.user_id = i % 10 < 8 || n_users == 1
                    ? "u0"
                    : "u" + std::to_string(1 + i % (n_users - 1));
      size_t session = i / per_session;
      m.session_id = "s" + std::to_string(session);
      double r = u(rng);
      m.memory_type = types[r < 0.6 ? 0 : r < 0.85 ? 1 : r < 0.95 ? 2 : 3];
      m.ts_ms = 1'700'000'000'000 + static_cast<int64_t>(i) * 1000
                + jitter(rng);
      t_max = std::max(t_max, m.ts_ms);
      for (int t = 0; t < 2; ++t) {
        double x = u(rng);
        if (x < 0.6) { // tag k with probability ~ 0.6 * 2^-k
          size_t k = std::min<size_t>(7, static_cast<size_t>(
                                           -std::log2(1 - x / 0.6 + 1e-12)));
          std::string tag = tag_names[k];
          if (std::find(m.tags.begin(), m.tags.end(), tag) == m.tags.end())
            m.tags.push_back(tag);
        }
      }
      m.vector = around(rng, (session * 7) % topics.size(), 0.8f);
      ms.push_back(std::move(m));
    }
  }
};

bool matches(const memory& m, const vector_filter& f) {
  if (m.user_id != f.user_id)
    return false;
  if (!f.session_id.empty() && m.session_id != f.session_id)
    return false;
  if (!f.memory_types.empty()
      && std::find(f.memory_types.begin(), f.memory_types.end(),
                   m.memory_type) == f.memory_types.end())
    return false;
  if (f.since_ms && m.ts_ms < *f.since_ms)
    return false;
  if (f.until_ms && m.ts_ms > *f.until_ms)
    return false;
  if (!f.tags.empty()) {
    auto has = [&](const std::string& t) {
      return std::find(m.tags.begin(), m.tags.end(), t) != m.tags.end();
    };
    if (f.tags_all ? !std::all_of(f.tags.begin(), f.tags.end(), has)
                   : !std::any_of(f.tags.begin(), f.tags.end(), has))
      return false;
  }
  return true;
}

// Brute-force top-k ids under the filter, independent of the index.
std::vector<uint64_t> truth(const corpus& c, const float* q, size_t k,
                            const vector_filter& f) {
  std::vector<std::pair<float, uint64_t>> all;
  for (auto& m : c.ms)
    if (matches(m, f)) {
      float s = 0;
      for (size_t i = 0; i < dims; ++i)
        s += q[i] * m.vector[i];
      all.emplace_back(-s, m.point_id);
    }
  auto n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(all[i].second);
  return out;
}

struct named_filter {
  std::string name;
  vector_filter f;
};

std::vector<named_filter> filters(const corpus& c) {
  std::vector<named_filter> out;
  auto base = [] {
    vector_filter f;
    f.user_id = "u0";
    return f;
  };
  auto f = base();
  out.push_back({"user only", f});
  f = base();
  f.memory_types = {"conversation"};
  out.push_back({"type conversation", f});
  f = base();
  f.memory_types = {"document", "session_summary"};
  out.push_back({"types document|summary", f});
  f = base();
  f.session_id = "s3";
  out.push_back({"session", f});
  f = base();
  f.since_ms = c.t_max - (c.t_max - 1'700'000'000'000) / 3;
  out.push_back({"last third of time", f});
  f = base();
  f.since_ms = 1'700'000'000'000 + 2'000'000;
  f.until_ms = 1'700'000'000'000 + 2'600'000;
  out.push_back({"10 min window", f});
  f = base();
  f.tags = {"work"};
  out.push_back({"tag work", f});
  f = base();
  f.tags = {"music", "sport"};
  out.push_back({"tags music|sport", f});
  f = base();
  f.tags = {"work", "travel"};
  f.tags_all = true;
  out.push_back({"tags work&travel", f});
  f = base();
  f.memory_types = {"conversation"};
  f.tags = {"travel"};
  f.since_ms = c.t_max - (c.t_max - 1'700'000'000'000) / 2;
  out.push_back({"type+tag+time", f});
  f = base();
  f.session_id = "s10";
  f.memory_types = {"episodic"};
  out.push_back({"session+type", f});
  return out;
}

vector_index_config config(size_t exact_threshold, size_t visit_factor) {
  vector_index_config c;
  c.dims = dims;
  c.model = "test";
  c.initial_capacity = 1024;
  c.exact_threshold = exact_threshold;
  c.hnsw_visit_factor = visit_factor;
  return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(search_planning_suite)

BOOST_AUTO_TEST_CASE(the_planner_picks_the_most_selective_payload_index) {
  payload_store p;
  // 1000 points of one user: 10 sessions, 2 types, a tag on every 10th,
  // time descending (every add goes to the unsorted tail, merged later).
  for (uint64_t i = 0; i < 1000; ++i)
    p.add(i, "u", "s" + std::to_string(i % 10), i % 4 ? "episodic" : "document",
          static_cast<int64_t>(10'000 - i), 0,
          i % 10 == 0 ? std::vector<std::string>{"x"}
                      : std::vector<std::string>{});
  p.add(5000, "other", "s1", "episodic", 5, 0, {"x"});
  auto plan_of = [&](const vector_filter& f, size_t& matched) {
    auto cf = p.compile(f);
    auto q = p.plan(cf);
    matched = 0;
    p.for_each_match(cf, q, [&](uint32_t) { ++matched; });
    return q;
  };
  vector_filter f;
  f.user_id = "u";
  size_t n = 0;
  BOOST_CHECK_EQUAL(plan_of(f, n).upper_bound, 1000u);
  BOOST_CHECK_EQUAL(n, 1000u);
  f.session_id = "s3";
  f.memory_types = {"episodic"};
  auto q = plan_of(f, n);
  BOOST_CHECK_EQUAL(q.upper_bound, 100u); // the session, not the type (750)
  BOOST_CHECK_EQUAL(n, 100u);             // i % 10 == 3 is never i % 4 == 0
  BOOST_CHECK_CLOSE(q.estimate, 75.0, 1e-6); // 1000 * 0.1 * 0.75
  f = {};
  f.user_id = "u";
  f.since_ms = 9'100;
  f.until_ms = 9'200; // i in [800, 900]
  q = plan_of(f, n);
  BOOST_CHECK_EQUAL(q.upper_bound, 101u);
  BOOST_CHECK_EQUAL(n, 101u);
  f.tags = {"x"}; // i in [800, 900], i % 10 == 0
  q = plan_of(f, n);
  BOOST_CHECK_EQUAL(q.upper_bound, 100u); // the tag's posting list
  BOOST_CHECK_EQUAL(n, 11u);
  f.tags = {"x", "never-used"};
  plan_of(f, n);
  BOOST_CHECK_EQUAL(n, 11u); // any: unknown tags match nothing extra
  f.tags_all = true;
  BOOST_CHECK(p.compile(f).empty); // all: nobody carries "never-used"
  f = {};
  f.user_id = "nobody";
  BOOST_CHECK(p.compile(f).empty);
}

BOOST_AUTO_TEST_CASE(filtered_recall_at_10_is_at_least_0_95_for_every_filter) {
  temp_dir d;
  corpus c{30'000, 5, 300, 11};
  // The default planner, and the HNSW path forced for every filter.
  auto planned = vector_index::open((d.path / "p").string(), config(5'000, 8));
  auto forced = vector_index::open((d.path / "h").string(), config(0, 0));
  BOOST_REQUIRE(planned && forced);
  BOOST_REQUIRE((*planned)->upsert(c.ms));
  BOOST_REQUIRE((*forced)->upsert(c.ms));
  std::mt19937 rng{5};
  size_t hnsw_plans = 0, exact_plans = 0;
  for (auto& nf : filters(c)) {
    for (auto* idx : {planned->get(), forced->get()}) {
      size_t found = 0, wanted = 0;
      for (int qi = 0; qi < 40; ++qi) {
        auto qv = c.around(rng, static_cast<size_t>(qi * 7) % c.topics.size(),
                           0.8f);
        auto t = truth(c, qv.data(), 10, nf.f);
        search_info info;
        auto hits = idx->search(qv.data(), 10, nf.f, &info);
        if (idx == planned->get())
          (info.plan == search_info::plan_kind::hnsw ? hnsw_plans
                                                     : exact_plans)++;
        BOOST_REQUIRE_EQUAL(hits.size(), t.size());
        std::set<uint64_t> ts(t.begin(), t.end());
        for (auto& h : hits) {
          BOOST_REQUIRE(matches(c.ms[h.point_id - 1], nf.f));
          found += ts.count(h.point_id);
        }
        wanted += t.size();
      }
      BOOST_REQUIRE_GT(wanted, 0u);
      double recall = static_cast<double>(found) / static_cast<double>(wanted);
      BOOST_TEST_MESSAGE((idx == planned->get() ? "planned" : "forced hnsw")
                         << " recall@10 [" << nf.name << "]: " << recall);
      BOOST_CHECK_MESSAGE(recall >= 0.95, nf.name << ": " << recall);
    }
  }
  // Both plans were exercised by the default planner.
  BOOST_CHECK_GT(hnsw_plans, 0u);
  BOOST_CHECK_GT(exact_plans, 0u);
}

BOOST_AUTO_TEST_CASE(selective_filters_are_scored_exactly) {
  temp_dir d;
  corpus c{8'000, 2, 200, 12};
  auto idx = vector_index::open(d.path.string(), config(1'000, 8));
  BOOST_REQUIRE(idx);
  BOOST_REQUIRE((*idx)->upsert(c.ms));
  vector_filter f;
  f.user_id = "u0";
  search_info info;
  (*idx)->search(c.ms[0].vector.data(), 10, f, &info);
  BOOST_CHECK(info.plan == search_info::plan_kind::hnsw); // 6,400 points
  f.session_id = "s2";
  auto hits = (*idx)->search(c.ms[0].vector.data(), 10, f, &info);
  BOOST_CHECK(info.plan == search_info::plan_kind::exact);
  BOOST_CHECK_LE(info.upper_bound, 200u);
  auto t = truth(c, c.ms[0].vector.data(), 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), t.size());
  for (size_t i = 0; i < t.size(); ++i)
    BOOST_CHECK_EQUAL(hits[i].point_id, t[i]); // exact: same order
  f.session_id = "no-such-session";
  BOOST_CHECK((*idx)->search(c.ms[0].vector.data(), 10, f, &info).empty());
}

BOOST_AUTO_TEST_CASE(tags_survive_snapshots) {
  temp_dir d;
  corpus c{500, 1, 100, 13};
  {
    auto idx = vector_index::open(d.path.string(), config(5'000, 8));
    BOOST_REQUIRE(idx);
    BOOST_REQUIRE((*idx)->upsert(c.ms));
    BOOST_REQUIRE(!(*idx)->save(9));
  }
  auto idx = vector_index::open(d.path.string(), config(5'000, 8));
  BOOST_REQUIRE(idx);
  BOOST_REQUIRE_EQUAL((*idx)->size(), 500u);
  vector_filter f;
  f.user_id = "u0";
  f.tags = {"travel"};
  auto hits = (*idx)->search(c.ms[0].vector.data(), 100, f);
  auto t = truth(c, c.ms[0].vector.data(), 100, f);
  BOOST_REQUIRE(!t.empty());
  BOOST_REQUIRE_EQUAL(hits.size(), t.size());
  for (size_t i = 0; i < t.size(); ++i)
    BOOST_CHECK_EQUAL(hits[i].point_id, t[i]);
}

BOOST_AUTO_TEST_CASE(session_turns_are_the_neighbouring_conversation_turns) {
  temp_dir d;
  auto idx = vector_index::open(d.path.string(), config(5'000, 8));
  BOOST_REQUIRE(idx);
  std::vector<memory> ms;
  // Session "a": turns at t = 10, 20, ..., 100 (ids 1..10, added in reverse
  // order), an episodic memory at t = 55 (id 50); session "b" elsewhere.
  for (uint64_t i = 10; i >= 1; --i) {
    memory m;
    m.point_id = i;
    m.user_id = "u";
    m.session_id = "a";
    m.memory_type = "conversation";
    m.ts_ms = static_cast<int64_t>(i) * 10;
    m.vector.assign(dims, 0.1f);
    ms.push_back(m);
  }
  memory e = ms[0];
  e.point_id = 50;
  e.memory_type = "episodic";
  e.ts_ms = 55;
  ms.push_back(e);
  memory other = ms[0];
  other.point_id = 60;
  other.session_id = "b";
  other.ts_ms = 45;
  ms.push_back(other);
  BOOST_REQUIRE((*idx)->upsert(ms));
  std::vector<uint64_t> before, after;
  (*idx)->session_turns(4, 2, before, after);
  BOOST_CHECK((before == std::vector<uint64_t>{2, 3}));
  BOOST_CHECK((after == std::vector<uint64_t>{5, 6}));
  (*idx)->session_turns(1, 3, before, after); // the first turn
  BOOST_CHECK(before.empty());
  BOOST_CHECK((after == std::vector<uint64_t>{2, 3, 4}));
  (*idx)->session_turns(50, 1, before, after); // a non-turn at t = 55
  BOOST_CHECK((before == std::vector<uint64_t>{5}));
  BOOST_CHECK((after == std::vector<uint64_t>{6}));
  (*idx)->session_turns(999, 2, before, after);
  BOOST_CHECK(before.empty() && after.empty());
}

BOOST_AUTO_TEST_CASE(keyword_search_honours_tag_and_time_filters) {
  temp_dir d;
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  std::vector<memory> ms;
  auto add = [&](uint64_t id, int64_t ts, std::vector<std::string> tags) {
    memory m;
    m.point_id = id;
    m.memory_id = "m" + std::to_string(id);
    m.user_id = "u";
    m.session_id = "s";
    m.memory_type = "conversation";
    m.ts_ms = ts;
    m.text = "the marathon in Berlin";
    m.tags = std::move(tags);
    ms.push_back(m);
  };
  add(1, 100, {"sport"});
  add(2, 200, {"sport", "travel"});
  add(3, 300, {"travel"});
  add(4, 400, {});
  BOOST_REQUIRE_EQUAL((*idx)->upsert(ms), 4u);
  auto ids = [&](const vector_filter& f) {
    std::set<uint64_t> out;
    for (auto& h : (*idx)->search("marathon", 10, f))
      out.insert(h.point_id);
    return out;
  };
  vector_filter f;
  f.user_id = "u";
  f.tags = {"sport", "travel"};
  BOOST_CHECK((ids(f) == std::set<uint64_t>{1, 2, 3}));
  f.tags_all = true;
  BOOST_CHECK((ids(f) == std::set<uint64_t>{2}));
  f.tags_all = false;
  f.since_ms = 250;
  BOOST_CHECK((ids(f) == std::set<uint64_t>{3}));
}

BOOST_AUTO_TEST_SUITE_END()
