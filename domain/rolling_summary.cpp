#include "domain/rolling_summary.hpp"

#include <algorithm>

#include "domain/importance.hpp"

namespace agentmem::domain {

memory_identity session_summary_identity(const std::string& user_id,
                                         const std::string& session_id) {
  std::string key = memory_types::session_summary;
  key.push_back('\0');
  key += user_id;
  key.push_back('\0');
  key += session_id;
  return make_memory_identity(key, memory_types::session_summary, 0);
}

bool rolling_summary_due(const std::vector<int64_t>& message_ts,
                         std::optional<int64_t> summary_ts,
                         const rolling_summary_config& cfg) {
  if (message_ts.empty())
    return false;
  size_t fresh = summary_ts
                   ? static_cast<size_t>(std::count_if(
                       message_ts.begin(), message_ts.end(),
                       [&](int64_t ts) { return ts > *summary_ts; }))
                   : message_ts.size();
  if (fresh == 0)
    return false;
  if (cfg.every_messages > 0 && fresh >= cfg.every_messages)
    return true;
  if (cfg.every_ms > 0) {
    int64_t since = summary_ts ? *summary_ts : message_ts.front();
    if (message_ts.back() - since >= cfg.every_ms)
      return true;
  }
  return false;
}

bool make_rolling_summary(const std::string& user_id,
                          const std::string& session_id,
                          const std::vector<utterance>& messages,
                          int64_t newest_ts, const std::string& newest_event_id,
                          size_t max_sentences, size_t max_chars,
                          std::vector<memory>& out) {
  auto summary = summarize_session(messages, max_sentences, max_chars);
  if (summary.empty())
    return false;
  memory m;
  auto id = session_summary_identity(user_id, session_id);
  m.memory_id = std::move(id.memory_id);
  m.point_id = id.point_id;
  m.memory_type = memory_types::session_summary;
  m.user_id = user_id;
  m.session_id = session_id;
  m.event_id = newest_event_id;
  m.ts_ms = newest_ts;
  m.turn_ts_ms = newest_ts;
  m.importance = importance_weights::base_session_summary;
  m.text = "Session summary (" + std::to_string(messages.size())
           + " messages): " + summary;
  out.push_back(std::move(m));
  return true;
}

} // namespace agentmem::domain
