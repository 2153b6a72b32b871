#include "kafka/rfc3339.hpp"

#include <cstdio>

namespace agentmem::kafka {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm (public domain), exact for any year.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

struct civil {
  int64_t year;
  unsigned month, day, hour, minute, second;
};

civil to_civil(int64_t epoch_s) {
  int64_t days = epoch_s / 86400;
  int64_t secs = epoch_s % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  // Inverse of days_from_civil (Howard Hinnant's civil_from_days).
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
  return {y,
          m,
          d,
          static_cast<unsigned>(secs / 3600),
          static_cast<unsigned>(secs / 60 % 60),
          static_cast<unsigned>(secs % 60)};
}

} // namespace

std::string format_rfc3339_s(int64_t epoch_s) {
  auto c = to_civil(epoch_s);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02u:%02u:%02uZ",
                static_cast<long long>(c.year), c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

std::string format_rfc3339_ms(int64_t epoch_ms) {
  int64_t s = epoch_ms / 1000;
  int64_t ms = epoch_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    --s;
  }
  auto c = to_civil(s);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02u:%02u:%02u.%03lldZ",
                static_cast<long long>(c.year), c.month, c.day, c.hour,
                c.minute, c.second, static_cast<long long>(ms));
  return buf;
}

} // namespace agentmem::kafka
