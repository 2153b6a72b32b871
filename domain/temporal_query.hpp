#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace agentmem::domain {

/// A half-open time range [since_ms, until_ms), ms since the Unix epoch.
struct time_range {
  int64_t since_ms = 0;
  int64_t until_ms = 0;
};

/// Calendar context of a user's memories that date expressions resolve
/// against: the user's newest memory (the end of the conversation's
/// timeline, "now") and the years the memories span.
struct timeline {
  int64_t now_ms = 0;
  int first_year = 0;
  int last_year = 0;
};

/// The time ranges that the date expressions of a search query denote,
/// resolved against the user's timeline (rules in docs/retrieval.md,
/// "Temporal questions"), for ranking memories whose `ts` falls inside:
///   - a full date ("October 13, 2023", "13 October 2023", "13th of Oct,
///     2023", "2023-10-13"): that day, widened by one day on either side
///     (a turn is often told the day after it happened);
///   - month and year ("in July 2023", "July, 2023"): that month;
///   - a month alone after in/during/since/of ("in June"): that month in
///     every year the timeline spans;
///   - a year after in/during/of ("in 2022"): that year;
///   - relative to now: "yesterday" (the two days before now), "last
///     week"/"last weekend" (the 14 days before now), "last month" (62
///     days), "last year" (2 years), "N days/weeks/months/years ago" (that
///     long before now, ±50%).
/// The first kind found wins (full dates, then month and year, then month
/// alone, then year, then relative). Empty when the query has none.
/// Month names match whole words, ASCII case-insensitively, full or
/// abbreviated ("Sep", "Sept"); "may" counts only after in/during/since/of
/// or beside a day or year. Never fails.
std::vector<time_range> resolve_query_time(std::string_view query,
                                           const timeline& t);

} // namespace agentmem::domain
