// domain/batch_split: parts of a rejected batch and the bisection that
// finds the rejected units.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "domain/batch_split.hpp"
#include "domain/rollup.hpp"
#include "messages/errc.hpp"

using namespace agentmem;
using namespace agentmem::domain;

namespace {

// 2024-05-01T10:00:00Z
constexpr int64_t t0 = 1'714'557'600'000;

activity event(int i, const std::string& session) {
  activity a;
  a.event_id = "e" + std::to_string(i);
  a.ts_ms = t0 + i * 1000;
  a.user_id = "u" + std::to_string(i % 2);
  a.session_id = session;
  a.agent_type = i % 3 == 0 ? "planner" : "chat";
  a.event_type = a.activity_class = "message";
  a.tokens_used = 10 + i;
  a.processing_time_ms = 100 * i;
  a.success = i % 4 != 0;
  return a;
}

// A batch as the stages leave it: per event one memory, one fact, one
// mention, one relation; plus a rolling summary of an older event.
batch sample(int n) {
  batch b;
  b.id = 42;
  b.attempt = 1;
  b.offsets = {{"t", 0, 100}};
  for (int i = 0; i < n; ++i) {
    auto a = event(i, i < n / 2 ? "s1" : "s2");
    memory m;
    m.memory_id = "m" + std::to_string(i);
    m.event_id = a.event_id;
    b.memories.push_back(m);
    fact_record f;
    f.fact_id = "f" + std::to_string(i);
    f.event_id = a.event_id;
    b.knowledge.facts.push_back(f);
    b.knowledge.mentions.push_back({a.user_id, "x", "X", "other", a.event_id,
                                    a.ts_ms});
    b.knowledge.relations.push_back({a.user_id, "x", "y", "knows",
                                     a.event_id, a.ts_ms});
    b.activities.push_back(std::move(a));
  }
  b.usage = usage_deltas(b.activities);
  b.sessions = session_deltas(b.activities);
  return b;
}

template <class T>
std::set<std::string> event_ids(const std::vector<T>& xs) {
  std::set<std::string> out;
  for (auto& x : xs)
    out.insert(x.event_id);
  return out;
}

// Element-wise equality of two rollup vectors under `key` (a std::tie).
template <class T, class Key>
bool same(const std::vector<T>& x, const std::vector<T>& y, Key key) {
  return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                    [&](const T& a, const T& b) { return key(a) == key(b); });
}

bool same_usage(const std::vector<usage_delta>& x,
                const std::vector<usage_delta>& y) {
  return same(x, y, [](const usage_delta& u) {
    return std::tie(u.user_id, u.day, u.agent_type, u.activity_count,
                    u.error_count, u.total_processing_time_ms, u.tokens_used,
                    u.files_uploaded);
  });
}

bool same_sessions(const std::vector<session_delta>& x,
                   const std::vector<session_delta>& y) {
  return same(x, y, [](const session_delta& s) {
    return std::tie(s.user_id, s.session_id, s.agent_type, s.started_at_ms,
                    s.ended_at_ms, s.last_activity_ms, s.interactions);
  });
}

struct attempt {
  size_t lo, hi;
  bool last;
};

// Runs bisect_units with units in `bad` rejected (alone or in any part).
struct bisect_run {
  std::vector<attempt> tries;
  std::vector<size_t> isolated;
  std::vector<size_t> isolated_at_before_last; // isolated.size() per call
  caf::error err;

  bisect_run(size_t n, const std::set<size_t>& bad) {
    err = bisect_units(
      n,
      [&](size_t lo, size_t hi, bool last)
        -> caf::expected<part_status> {
        tries.push_back({lo, hi, last});
        for (auto u : bad)
          if (u >= lo && u < hi)
            return part_status::rejected;
        return part_status::committed;
      },
      [&](size_t u) {
        isolated.push_back(u);
        return caf::error{};
      },
      [&] {
        isolated_at_before_last.push_back(isolated.size());
        return caf::error{};
      });
  }

  // Units committed, in order, each once.
  std::vector<size_t> committed(const std::set<size_t>& bad) const {
    std::vector<size_t> out;
    for (auto& t : tries) {
      bool rejected = false;
      for (auto u : bad)
        rejected = rejected || (u >= t.lo && u < t.hi);
      if (!rejected)
        for (auto u = t.lo; u < t.hi; ++u)
          out.push_back(u);
    }
    return out;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(batch_split)

BOOST_AUTO_TEST_CASE(derived_rows_follow_their_activity_and_rollups_are_recomputed) {
  auto b = sample(8);
  BOOST_TEST(split_units(b) == 8u);
  auto p = split_part(b, 2, 5);
  BOOST_TEST(p.id == 42u);
  BOOST_TEST(p.attempt == 1);
  BOOST_TEST(p.offsets.empty());
  std::set<std::string> want{"e2", "e3", "e4"};
  BOOST_TEST((event_ids(p.activities) == want));
  BOOST_TEST((event_ids(p.memories) == want));
  BOOST_TEST((event_ids(p.knowledge.facts) == want));
  BOOST_TEST((event_ids(p.knowledge.mentions) == want));
  BOOST_TEST((event_ids(p.knowledge.relations) == want));
  BOOST_TEST(same_usage(p.usage, usage_deltas(p.activities)));
  BOOST_TEST(same_sessions(p.sessions, session_deltas(p.activities)));
  // The part's rollup counts only its own events.
  int64_t n = 0;
  for (auto& u : p.usage)
    n += u.activity_count;
  BOOST_TEST(n == 3);
}

BOOST_AUTO_TEST_CASE(appending_parts_except_one_equals_the_batch_without_that_event) {
  auto b = sample(8);
  batch out;
  auto base1 = append_part(out, split_part(b, 0, 3));
  auto base2 = append_part(out, split_part(b, 4, 8)); // e3 left out
  BOOST_TEST(base1 == 0u);
  BOOST_TEST(base2 == 3u);
  BOOST_TEST(out.memories[3].event_id == "e4");
  std::vector<activity> expected = b.activities;
  expected.erase(expected.begin() + 3);
  BOOST_TEST(out.activities.size() == 7u);
  BOOST_TEST(event_ids(out.memories).count("e3") == 0u);
  BOOST_TEST(event_ids(out.knowledge.facts).count("e3") == 0u);
  BOOST_TEST(out.memories.size() == 7u);
  BOOST_TEST(same_usage(out.usage, usage_deltas(expected)));
  BOOST_TEST(same_sessions(out.sessions, session_deltas(expected)));
  BOOST_TEST(!same_usage(out.usage, b.usage));
}

BOOST_AUTO_TEST_CASE(rows_of_events_outside_the_batch_form_one_last_unit) {
  auto b = sample(4);
  memory summary;
  summary.memory_id = "summary";
  summary.event_id = "older-event";
  b.memories.push_back(summary);
  BOOST_TEST(split_units(b) == 5u);
  BOOST_TEST(split_part(b, 0, 4).memories.size() == 4u);
  auto extra = split_part(b, 4, 5);
  BOOST_TEST(extra.activities.empty());
  BOOST_REQUIRE(extra.memories.size() == 1u);
  BOOST_TEST(extra.memories[0].memory_id == "summary");
  BOOST_TEST(extra.usage.empty());
}

BOOST_AUTO_TEST_CASE(a_repeated_event_id_keeps_its_derived_rows_with_the_first_copy) {
  auto b = sample(3);
  b.activities.push_back(b.activities[1]);
  BOOST_TEST(split_units(b) == 4u);
  BOOST_TEST(split_part(b, 1, 2).memories.size() == 1u);
  BOOST_TEST(split_part(b, 3, 4).memories.empty());
  BOOST_TEST(split_part(b, 3, 4).activities.size() == 1u);
}

BOOST_AUTO_TEST_CASE(bisection_isolates_exactly_the_rejected_units) {
  for (size_t n : {1u, 2u, 3u, 7u, 16u, 33u}) {
    for (std::set<size_t> bad :
         {std::set<size_t>{0}, std::set<size_t>{n - 1},
          std::set<size_t>{n / 2}, std::set<size_t>{0, n - 1},
          std::set<size_t>{n / 3, n / 2}}) {
      bisect_run r{n, bad};
      BOOST_TEST_CONTEXT("n=" << n << " bad=" << *bad.begin()) {
        BOOST_TEST(!r.err);
        BOOST_TEST((std::set<size_t>(r.isolated.begin(), r.isolated.end())
                    == bad));
        BOOST_TEST(r.isolated.size() == bad.size());
        // Every good unit is committed exactly once, in order.
        std::vector<size_t> good;
        for (size_t u = 0; u < n; ++u)
          if (bad.count(u) == 0)
            good.push_back(u);
        BOOST_TEST((r.committed(bad) == good));
        // The offsets ride on the final try, which commits, and all
        // isolated units were reported before it.
        BOOST_REQUIRE(!r.tries.empty());
        auto& final_try = r.tries.back();
        BOOST_TEST(final_try.last);
        BOOST_TEST(final_try.hi == n);
        bool final_committed = true;
        for (auto u : bad)
          final_committed = final_committed
                            && !(u >= final_try.lo && u < final_try.hi);
        BOOST_TEST(final_committed);
        BOOST_REQUIRE(!r.isolated_at_before_last.empty());
        BOOST_TEST(r.isolated_at_before_last.back() == bad.size());
        size_t lasts = 0;
        for (auto& t : r.tries)
          lasts += t.last && t.hi == n ? 1 : 0;
        BOOST_TEST(lasts == r.isolated_at_before_last.size());
        // O(k log n) commits, not n.
        BOOST_TEST(r.tries.size() <= 2 * bad.size() * (1 + std::log2(n)) + 1);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_rejected_last_unit_leaves_an_empty_part_for_the_offsets) {
  bisect_run r{4, {3}};
  BOOST_REQUIRE(!r.tries.empty());
  BOOST_TEST(r.tries.back().lo == 4u);
  BOOST_TEST(r.tries.back().hi == 4u);
  BOOST_TEST(r.tries.back().last);
}

BOOST_AUTO_TEST_CASE(an_error_of_a_try_stops_the_bisection) {
  size_t calls = 0;
  auto err = bisect_units(
    8,
    [&](size_t, size_t, bool) -> caf::expected<part_status> {
      ++calls;
      return make_error(errc::postgres_error, "connection lost");
    },
    [](size_t) { return caf::error{}; }, [] { return caf::error{}; });
  BOOST_TEST(calls == 1u);
  BOOST_TEST(describe(err) == "postgres_error: connection lost");
}

BOOST_AUTO_TEST_SUITE_END()
