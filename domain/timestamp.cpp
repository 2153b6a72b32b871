#include "domain/timestamp.hpp"

#include <cstdio>

namespace agentmem::domain {

namespace {

constexpr int64_t ms_per_day = 86'400'000;

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int64_t y, int64_t m) {
  static constexpr int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `n` digits at `pos`; false if any is not a digit.
bool read_digits(std::string_view s, size_t pos, size_t n, int64_t& out) {
  if (pos + n > s.size())
    return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!digit(c))
      return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

} // namespace

std::optional<int64_t> parse_rfc3339_ms(std::string_view s) {
  // Fixed part: YYYY-MM-DDThh:mm:ss = 19 characters.
  int64_t year, month, day, hour, minute, second;
  if (s.size() < 20)
    return std::nullopt;
  if (!read_digits(s, 0, 4, year) || s[4] != '-'
      || !read_digits(s, 5, 2, month) || s[7] != '-'
      || !read_digits(s, 8, 2, day))
    return std::nullopt;
  char sep = s[10];
  if (sep != 'T' && sep != 't' && sep != ' ')
    return std::nullopt;
  if (!read_digits(s, 11, 2, hour) || s[13] != ':'
      || !read_digits(s, 14, 2, minute) || s[16] != ':'
      || !read_digits(s, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)
      || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && digit(s[pos])) {
      // Truncate: only the first three digits matter.
      if (pos - start < 3)
        frac_ms = frac_ms * 10 + (s[pos] - '0');
      ++pos;
    }
    size_t n = pos - start;
    if (n == 0)
      return std::nullopt;
    for (; n < 3; ++n)
      frac_ms *= 10;
  }
  if (pos >= s.size())
    return std::nullopt; // the offset is mandatory
  int64_t offset_min = 0;
  char o = s[pos];
  if (o == 'Z' || o == 'z') {
    ++pos;
  } else if (o == '+' || o == '-') {
    int64_t oh, om;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size()
        || s[pos + 3] != ':' || !read_digits(s, pos + 4, 2, om))
      return std::nullopt;
    if (oh > 23 || om > 59)
      return std::nullopt;
    offset_min = (oh * 60 + om) * (o == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  int64_t days = days_from_civil(year, month, day);
  int64_t secs = hour * 3600 + minute * 60 + second - offset_min * 60;
  int64_t ms = days * ms_per_day + secs * 1000 + frac_ms;
  // An offset can push year 0000 / 9999 over the edge of what RFC 3339
  // (and format_rfc3339_ms) can write.
  if (ms < min_rfc3339_ms || ms > max_rfc3339_ms)
    return std::nullopt;
  return ms;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

civil_date civil_from_days(int64_t days) {
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  auto d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  auto m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return {y + (m <= 2), m, d};
}

std::optional<int64_t> parse_day(std::string_view s) {
  int64_t y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !read_digits(s, 0, 4, y)
      || !read_digits(s, 5, 2, m) || !read_digits(s, 8, 2, d) || m < 1
      || m > 12 || d < 1 || d > days_in_month(y, m))
    return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

std::string format_rfc3339_ms(int64_t ms) {
  ms = ms < min_rfc3339_ms ? min_rfc3339_ms
                           : (ms > max_rfc3339_ms ? max_rfc3339_ms : ms);
  // Floor division so that instants before 1970 land on the right day.
  int64_t days = ms / ms_per_day;
  int64_t rem = ms % ms_per_day;
  if (rem < 0) {
    rem += ms_per_day;
    --days;
  }
  auto c = civil_from_days(days);
  int64_t hh = rem / 3'600'000;
  int64_t mm = rem / 60'000 % 60;
  int64_t ss = rem / 1000 % 60;
  int64_t mss = rem % 1000;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf,
                        "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                        static_cast<long long>(c.year), c.month, c.day,
                        static_cast<long long>(hh), static_cast<long long>(mm),
                        static_cast<long long>(ss),
                        static_cast<long long>(mss));
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string utc_day(int64_t ts_ms) {
  return format_rfc3339_ms(ts_ms).substr(0, 10);
}

} // namespace agentmem::domain
