#include "domain/temporal_query.hpp"

#include <boost/test/unit_test.hpp>

#include "domain/timestamp.hpp"

using namespace agentmem::domain;

namespace {

constexpr int64_t day = 86'400'000;

int64_t at(int y, unsigned m, unsigned d) {
  return days_from_civil(y, m, d) * day;
}

// A timeline from 2022 to 2023-10-20 noon.
const timeline tl{at(2023, 10, 20) + day / 2, 2022, 2023};

bool same(const std::vector<time_range>& got,
          const std::vector<time_range>& want) {
  if (got.size() != want.size())
    return false;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].since_ms != want[i].since_ms
        || got[i].until_ms != want[i].until_ms)
      return false;
  return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(temporal_query)

BOOST_AUTO_TEST_CASE(full_dates_are_the_day_widened_by_a_day_either_side) {
  std::vector<time_range> oct13{{at(2023, 10, 12), at(2023, 10, 15)}};
  for (auto q : {"What painting did Melanie show on October 13, 2023?",
                 "what happened on 13 October 2023",
                 "plans for the 13th of Oct, 2023?",
                 "anything on oct 13th 2023", "notes from 2023-10-13 please"})
    BOOST_TEST(same(resolve_query_time(q, tl), oct13), q);
}

BOOST_AUTO_TEST_CASE(month_and_year_is_that_month) {
  BOOST_TEST(same(resolve_query_time("What did they paint in July 2023?", tl),
                  {{at(2023, 7, 1), at(2023, 8, 1)}}));
  BOOST_TEST(same(resolve_query_time("trips in December, 2022", tl),
                  {{at(2022, 12, 1), at(2023, 1, 1)}}));
}

BOOST_AUTO_TEST_CASE(a_month_alone_is_that_month_in_every_year_of_the_timeline) {
  BOOST_TEST(same(resolve_query_time("When did Melanie go camping in June?", tl),
                  {{at(2022, 6, 1), at(2022, 7, 1)},
                   {at(2023, 6, 1), at(2023, 7, 1)}}));
  // "may" is a month only after a preposition or beside a day or year.
  BOOST_TEST(resolve_query_time("What may Caroline do next?", tl).empty());
  BOOST_TEST(!resolve_query_time("Where did she go in May?", tl).empty());
}

BOOST_AUTO_TEST_CASE(a_year_after_a_preposition_is_that_year) {
  BOOST_TEST(same(resolve_query_time("How many times in 2023?", tl),
                  {{at(2023, 1, 1), at(2024, 1, 1)}}));
  // A bare number is not a year ("2023 kids" is no date expression).
  BOOST_TEST(resolve_query_time("She has 2023 followers", tl).empty());
}

BOOST_AUTO_TEST_CASE(relative_expressions_count_back_from_the_newest_memory) {
  auto now = tl.now_ms;
  BOOST_TEST(same(resolve_query_time("what did I say last week", tl),
                  {{now - 14 * day, now + day}}));
  BOOST_TEST(same(resolve_query_time("yesterday's plan", tl),
                  {{now - 2 * day, now + day}}));
  BOOST_TEST(same(resolve_query_time("Where did she move from 4 years ago?", tl),
                  {{now - 4 * 365 * day - 2 * 365 * day,
                    now - 4 * 365 * day + 2 * 365 * day}}));
  // Without a timeline (a user without memories) nothing is relative.
  BOOST_TEST(resolve_query_time("last week", timeline{}).empty());
}

BOOST_AUTO_TEST_CASE(the_most_precise_kind_wins_and_plain_queries_have_none) {
  BOOST_TEST(same(resolve_query_time(
                    "in June, and on June 3, 2023, and last week", tl),
                  {{at(2023, 6, 2), at(2023, 6, 5)}}));
  BOOST_TEST(resolve_query_time("What books has Melanie read?", tl).empty());
  BOOST_TEST(resolve_query_time("", tl).empty());
  BOOST_TEST(resolve_query_time("March on, soldier", tl).empty());
}

BOOST_AUTO_TEST_SUITE_END()
