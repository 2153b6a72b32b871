#include "domain/rollup.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace agentmem::domain {

std::string utc_day(int64_t ts_ms) {
  // Floor division so that instants before 1970 land on the right day.
  int64_t days = ts_ms / 86'400'000;
  if (ts_ms % 86'400'000 < 0)
    --days;
  // days_from_civil inverse (civil_from_days), H. Hinnant.
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2)
    ++y;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld",
                static_cast<long long>(y), static_cast<long long>(m),
                static_cast<long long>(d));
  return buf;
}

std::vector<usage_delta> usage_deltas(const std::vector<activity>& xs) {
  std::vector<usage_delta> out;
  std::unordered_map<std::string, size_t> index;
  for (auto& a : xs) {
    auto day = utc_day(a.ts_ms);
    std::string key = a.user_id;
    key += '\0';
    key += day;
    key += '\0';
    key += a.agent_type;
    auto [it, added] = index.try_emplace(std::move(key), out.size());
    if (added) {
      usage_delta d;
      d.user_id = a.user_id;
      d.day = std::move(day);
      d.agent_type = a.agent_type;
      out.push_back(std::move(d));
    }
    auto& d = out[it->second];
    d.activity_count += 1;
    d.error_count += a.success ? 0 : 1;
    d.total_processing_time_ms += a.processing_time_ms;
    d.tokens_used += a.tokens_used;
    d.files_uploaded += a.activity_class == "file_upload" ? 1 : 0;
  }
  return out;
}

std::vector<session_delta> session_deltas(const std::vector<activity>& xs) {
  std::vector<session_delta> out;
  std::unordered_map<std::string, size_t> index;
  for (auto& a : xs) {
    std::string key = a.user_id;
    key += '\0';
    key += a.session_id;
    auto [it, added] = index.try_emplace(std::move(key), out.size());
    if (added) {
      session_delta d;
      d.user_id = a.user_id;
      d.session_id = a.session_id;
      d.agent_type = a.agent_type;
      d.started_at_ms = a.ts_ms;
      d.last_activity_ms = a.ts_ms;
      out.push_back(std::move(d));
    }
    auto& d = out[it->second];
    d.started_at_ms = std::min(d.started_at_ms, a.ts_ms);
    d.last_activity_ms = std::max(d.last_activity_ms, a.ts_ms);
    if (a.activity_class == "session_end")
      d.ended_at_ms = std::max(d.ended_at_ms, a.ts_ms);
    d.interactions += 1;
  }
  return out;
}

} // namespace agentmem::domain
