#include "api/codec.hpp"

#include <algorithm>
#include <cstdio>

#include "messages/errc.hpp"

namespace agentmem::api {

namespace {

constexpr int64_t ms_per_day = 86400000;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct civil {
  int64_t y;
  unsigned m;
  unsigned d;
};

constexpr civil civil_from_days(int64_t z) noexcept {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

constexpr bool is_leap(int64_t y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(int64_t y, unsigned m) noexcept {
  constexpr unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// Reads exactly `n` decimal digits at s[pos]; advances pos.
bool read_digits(std::string_view s, size_t& pos, size_t n,
                 unsigned& out) noexcept {
  if (s.size() < pos + n)
    return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!is_digit(c))
      return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) noexcept {
  if (pos >= s.size() || s[pos] != c)
    return false;
  ++pos;
  return true;
}

// "YYYY-MM-DD" at s[pos]; validates the calendar date.
bool read_date(std::string_view s, size_t& pos, unsigned& y, unsigned& m,
               unsigned& d) noexcept {
  return read_digits(s, pos, 4, y) && expect(s, pos, '-')
         && read_digits(s, pos, 2, m) && expect(s, pos, '-')
         && read_digits(s, pos, 2, d) && m >= 1 && m <= 12 && d >= 1
         && d <= days_in_month(y, m);
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

std::optional<size_t> utf8_length(std::string_view s) noexcept {
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      ++n;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt; // continuation byte, C0/C1 or F5..FF lead byte
    }
    if (s.size() - i < len)
      return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
        || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return std::nullopt;
    i += len;
    ++n;
  }
  return n;
}

caf::error check_id(std::string_view field, std::string_view value) {
  auto bad = [&](const char* what) {
    return make_error(errc::invalid_request, std::string{field} + what);
  };
  auto len = utf8_length(value);
  if (!len)
    return bad(" is not valid UTF-8");
  if (*len == 0 || *len > max_id_chars)
    return bad(" must be 1-128 characters long");
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F)
      return bad(" must not contain control characters");
  }
  return {};
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view s) noexcept {
  size_t pos = 0;
  unsigned y, mo, d, h, mi, sec;
  if (!read_date(s, pos, y, mo, d))
    return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
    return std::nullopt;
  ++pos;
  if (!read_digits(s, pos, 2, h) || !expect(s, pos, ':')
      || !read_digits(s, pos, 2, mi) || !expect(s, pos, ':')
      || !read_digits(s, pos, 2, sec) || h > 23 || mi > 59 || sec > 60)
    return std::nullopt;
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      if (digits < 3)
        frac_ms = frac_ms * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0)
      return std::nullopt;
    for (size_t k = digits; k < 3; ++k)
      frac_ms *= 10;
  }
  int64_t offset_min = 0;
  if (pos >= s.size())
    return std::nullopt;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    unsigned oh, om;
    if (!read_digits(s, pos, 2, oh) || !expect(s, pos, ':')
        || !read_digits(s, pos, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_min = sign * static_cast<int64_t>(oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  int64_t days = days_from_civil(y, mo, d);
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  int64_t ms = secs * 1000 + frac_ms;
  if (ms < min_epoch_ms || ms > max_epoch_ms)
    return std::nullopt;
  return ms;
}

std::string format_rfc3339_ms(int64_t ms) {
  ms = std::clamp(ms, min_epoch_ms, max_epoch_ms);
  int64_t days = ms / ms_per_day;
  int64_t rem = ms % ms_per_day;
  if (rem < 0) { // floor division for instants before 1970
    rem += ms_per_day;
    --days;
  }
  auto c = civil_from_days(days);
  auto h = rem / 3600000;
  auto mi = rem / 60000 % 60;
  auto s = rem / 1000 % 60;
  auto frac = rem % 1000;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(c.y), c.m, c.d,
                static_cast<long long>(h), static_cast<long long>(mi),
                static_cast<long long>(s), static_cast<long long>(frac));
  return buf;
}

std::optional<int64_t> parse_day(std::string_view s) noexcept {
  size_t pos = 0;
  unsigned y, m, d;
  if (!read_date(s, pos, y, m, d) || pos != s.size())
    return std::nullopt;
  return days_from_civil(y, m, d);
}

std::optional<std::string> percent_decode(std::string_view s,
                                          bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (s.size() - i < 3)
        return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

size_t json_nesting_depth(std::string_view text, size_t limit) noexcept {
  size_t depth = 0;
  size_t max = 0;
  bool in_str = false;
  bool esc = false;
  for (char c : text) {
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      max = std::max(max, ++depth);
      if (max > limit)
        return max;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max;
}

} // namespace agentmem::api
