#include "domain/temporal_query.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "domain/text.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::domain {

namespace {

constexpr int64_t day_ms = 86'400'000;

// Month number (1..12) of a lower-case word, or 0. Full names and the
// usual abbreviations.
unsigned month_of(const std::string& w) {
  static const char* names[] = {"january", "february", "march",
                                "april",   "may",      "june",
                                "july",    "august",   "september",
                                "october", "november", "december"};
  for (unsigned i = 0; i < 12; ++i) {
    std::string_view full{names[i]};
    if (w == full)
      return i + 1;
    if (w.size() == 3 && full.compare(0, 3, w) == 0)
      return i + 1;
  }
  if (w == "sept")
    return 9;
  return 0;
}

// A day of the month: "13", "13th", "1st", "22nd", "3rd".
int day_of(const std::string& w) {
  size_t i = 0;
  while (i < w.size() && std::isdigit(static_cast<unsigned char>(w[i])))
    ++i;
  if (i == 0 || i > 2)
    return 0;
  auto rest = w.substr(i);
  if (!rest.empty() && rest != "st" && rest != "nd" && rest != "rd"
      && rest != "th")
    return 0;
  int d = std::stoi(w.substr(0, i));
  return d >= 1 && d <= 31 ? d : 0;
}

int year_of(const std::string& w) {
  if (w.size() != 4
      || !std::all_of(w.begin(), w.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  int y = std::stoi(w);
  return y >= 1900 && y <= 2199 ? y : 0;
}

int64_t day_start(int y, unsigned m, unsigned d) {
  return days_from_civil(y, m, d) * day_ms;
}

time_range month_range(int y, unsigned m) {
  return {day_start(y, m, 1),
          m == 12 ? day_start(y + 1, 1, 1) : day_start(y, m + 1, 1)};
}

bool is_preposition(const std::string& w) {
  return w == "in" || w == "during" || w == "since" || w == "of";
}

} // namespace

std::vector<time_range> resolve_query_time(std::string_view query,
                                           const timeline& t) {
  // Words with digits kept ("13th", "2023"); ISO dates split on '-'.
  std::vector<std::string> w;
  tokenizer::words(query, w);
  std::vector<time_range> days, months, lone_months, years, relative;
  auto add_day = [&](int y, unsigned m, int d) {
    auto s = day_start(y, m, static_cast<unsigned>(d));
    days.push_back({s - day_ms, s + 2 * day_ms});
  };
  for (size_t i = 0; i < w.size(); ++i) {
    auto at = [&](size_t j) -> const std::string& {
      static const std::string none;
      return j < w.size() ? w[j] : none;
    };
    // ISO date: tokenizer::words splits "2023-10-13" into three words.
    if (int y = year_of(w[i]); y && at(i + 1).size() <= 2
                               && at(i + 2).size() <= 2) {
      int m = day_of(at(i + 1)), d = day_of(at(i + 2));
      if (m >= 1 && m <= 12 && d && query.find(w[i] + "-") != std::string::npos) {
        add_day(y, static_cast<unsigned>(m), d);
        continue;
      }
    }
    unsigned m = month_of(w[i]);
    if (!m)
      continue;
    bool after_prep = i > 0 && is_preposition(w[i - 1]);
    // "October 13, 2023" / "October 13th 2023"
    if (int d = day_of(at(i + 1)); d) {
      if (int y = year_of(at(i + 2)); y) {
        add_day(y, m, d);
        continue;
      }
    }
    // "13 October 2023" / "13th of October, 2023"
    if (i > 0) {
      size_t j = i - 1;
      if (w[j] == "of" && j > 0)
        --j;
      if (int d = day_of(w[j]); d) {
        if (int y = year_of(at(i + 1)); y) {
          add_day(y, m, d);
          continue;
        }
      }
    }
    if (int y = year_of(at(i + 1)); y) {
      months.push_back(month_range(y, m));
      continue;
    }
    if (after_prep && t.first_year > 0)
      for (int y = t.first_year; y <= t.last_year; ++y)
        lone_months.push_back(month_range(y, m));
  }
  for (size_t i = 0; i + 1 < w.size(); ++i)
    if (w[i] == "in" || w[i] == "during" || w[i] == "of")
      if (int y = year_of(w[i + 1]); y)
        years.push_back({day_start(y, 1, 1), day_start(y + 1, 1, 1)});
  if (t.now_ms != 0) {
    auto back = [&](int64_t span) {
      relative.push_back({t.now_ms - span, t.now_ms + day_ms});
    };
    for (size_t i = 0; i < w.size(); ++i) {
      const auto& x = w[i];
      auto next = i + 1 < w.size() ? w[i + 1] : std::string{};
      if (x == "yesterday" || x == "yesterdays")
        back(2 * day_ms);
      else if (x == "last" && (next == "week" || next == "weekend"))
        back(14 * day_ms);
      else if (x == "last" && next == "month")
        back(62 * day_ms);
      else if (x == "last" && next == "year")
        back(730 * day_ms);
      else if (next == "ago" && i > 0) {
        // "3 weeks ago", "two years ago" (numbers as digits only)
        int n = std::all_of(w[i - 1].begin(), w[i - 1].end(),
                            [](char c) { return c >= '0' && c <= '9'; })
                    && w[i - 1].size() <= 3
                  ? std::stoi(w[i - 1])
                  : (w[i - 1] == "a" || w[i - 1] == "one" ? 1 : 0);
        int64_t unit = x.rfind("day", 0) == 0     ? day_ms
                       : x.rfind("week", 0) == 0  ? 7 * day_ms
                       : x.rfind("month", 0) == 0 ? 30 * day_ms
                       : x.rfind("year", 0) == 0  ? 365 * day_ms
                                                  : 0;
        if (n > 0 && unit > 0) {
          auto mid = t.now_ms - n * unit;
          relative.push_back({mid - n * unit / 2, mid + n * unit / 2});
        }
      }
    }
  }
  for (auto* kind : {&days, &months, &lone_months, &years, &relative})
    if (!kind->empty())
      return *kind;
  return {};
}

} // namespace agentmem::domain
