#include "domain/rollup.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "domain/latency_sketch.hpp"

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
    if (!a.project_id.empty()
        && (d.project_id.empty() || a.ts_ms >= d.project_ts_ms)) {
      d.project_id = a.project_id;
      d.project_ts_ms = a.ts_ms;
    }
  }
  return out;
}

void price_activities(std::vector<activity>& xs, const pricing_table& prices) {
  if (prices.empty())
    return;
  for (auto& a : xs) {
    if (a.cost_nanousd >= 0 || a.model.empty())
      continue;
    auto it = prices.find(a.model);
    if (it == prices.end())
      continue;
    a.cost_nanousd = std::llround(static_cast<double>(a.tokens_used)
                                  * it->second * 1e6);
  }
}

namespace {

constexpr int64_t hour_ms = 3'600'000;

} // namespace

int64_t window_start(int64_t ts, int64_t width) {
  int64_t q = ts / width;
  if (ts % width < 0)
    --q;
  return q * width;
}

std::vector<analytics_delta> analytics_deltas(const std::vector<activity>& xs) {
  std::vector<analytics_delta> out;
  std::vector<latency_sketch> sketches;
  std::unordered_map<std::string, size_t> index;
  std::string key;
  for (auto& a : xs) {
    const bool has_tool = !a.tool_name.empty();
    const bool has_model = !a.model.empty();
    const bool priced = a.cost_nanousd >= 0;
    const bool unpriced = !priced && (has_model || a.tokens_used > 0);
    const int64_t start = window_start(a.ts_ms, hour_ms);
    for (int kind = 0; kind < 3; ++kind) {
      if ((kind == 1 && !has_tool) || (kind == 2 && !has_model))
        continue;
      key.assign(1, static_cast<char>('0' + kind));
      key.append(reinterpret_cast<const char*>(&start), sizeof start);
      for (auto* s : {&a.user_id, &a.agent_type, &a.agent_name}) {
        key += '\0';
        key += *s;
      }
      if (kind == 1) {
        key += '\0';
        key += a.tool_name;
        key += '\0';
        key += a.tool_category;
      } else if (kind == 2) {
        key += '\0';
        key += a.model;
      }
      auto [it, added] = index.try_emplace(key, out.size());
      if (added) {
        analytics_delta d;
        d.bucket_start_ms = start;
        d.kind = kind == 0 ? "agent" : kind == 1 ? "tool" : "model";
        d.last_ts_ms = a.ts_ms;
        d.user_id = a.user_id;
        d.agent_type = a.agent_type;
        d.agent_name = a.agent_name;
        if (kind == 1) {
          d.tool_name = a.tool_name;
          d.tool_category = a.tool_category;
        } else if (kind == 2) {
          d.model = a.model;
        }
        out.push_back(std::move(d));
        sketches.emplace_back();
      }
      auto& d = out[it->second];
      d.events += 1;
      d.errors += a.success ? 0 : 1;
      d.processing_time_ms += a.processing_time_ms;
      d.tokens += a.tokens_used;
      d.files += a.activity_class == "file_upload" ? 1 : 0;
      d.sessions_started += a.activity_class == "session_start" ? 1 : 0;
      d.sessions_ended += a.activity_class == "session_end" ? 1 : 0;
      d.cost_nanousd += priced ? a.cost_nanousd : 0;
      d.priced_events += priced ? 1 : 0;
      d.unpriced_events += unpriced ? 1 : 0;
      d.last_ts_ms = std::max(d.last_ts_ms, a.ts_ms);
      sketches[it->second].add(static_cast<double>(a.processing_time_ms));
    }
  }
  for (size_t i = 0; i < out.size(); ++i)
    out[i].latency_sketch_json = sketches[i].to_json();
  return out;
}

void fold_rollups(batch& b, bool analytics) {
  b.usage = usage_deltas(b.activities);
  b.sessions = session_deltas(b.activities);
  if (analytics)
    b.analytics = analytics_deltas(b.activities);
  else
    b.analytics.clear();
}

} // namespace agentmem::domain
