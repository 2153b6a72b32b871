#include "domain/rollup.hpp"

#include <algorithm>
#include <unordered_map>

namespace agentmem::domain {

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
