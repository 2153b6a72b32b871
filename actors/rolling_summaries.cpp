#include "actors/rolling_summaries.hpp"

#include <map>
#include <set>
#include <stdexcept>

#include "domain/extraction.hpp"
#include "domain/rolling_summary.hpp"
#include "messages/errc.hpp"

namespace agentmem::actors {

size_t add_rolling_summaries(batch& b, const extraction_config& cfg,
                             summary_marks& marks) {
  auto& rc = cfg.rolling;
  if (rc.every_messages == 0 && rc.every_ms <= 0)
    return 0;
  using key = std::pair<std::string, std::string>;
  std::set<key> touched, ended;
  // The session's newest message of the batch: its agent and project
  // scope the summary (payload filters).
  std::map<key, const activity*> newest_message;
  for (auto& a : b.activities) {
    if (a.activity_class == "message") {
      touched.insert({a.user_id, a.session_id});
      auto& n = newest_message[{a.user_id, a.session_id}];
      if (!n || a.ts_ms >= n->ts_ms)
        n = &a;
    } else if (a.activity_class == "session_end")
      ended.insert({a.user_id, a.session_id});
  }
  for (auto& k : ended)
    touched.erase(k);
  if (touched.empty())
    return 0;
  std::vector<key> sessions{touched.begin(), touched.end()};
  std::vector<uint64_t> points;
  points.reserve(sessions.size());
  for (auto& [user, session] : sessions)
    points.push_back(domain::session_summary_identity(user, session).point_id);
  auto docs = cfg.hot->get_docs(points);
  if (!docs)
    throw std::runtime_error("hot state: " + describe(docs.error()));
  size_t added = 0;
  for (size_t i = 0; i < sessions.size(); ++i) {
    auto& [user, session] = sessions[i];
    std::optional<int64_t> covered;
    if ((*docs)[i])
      covered = (*docs)[i]->ts_ms;
    if (auto it = marks.find(sessions[i]); it != marks.end())
      covered = covered ? std::max(*covered, it->second) : it->second;
    auto buf = cfg.hot->session_buffer(user, session);
    if (!buf)
      throw std::runtime_error("hot state: " + describe(buf.error()));
    auto& msgs = *buf; // shared snapshot: no copy of the messages
    std::vector<int64_t> ts;
    ts.reserve(msgs->size());
    for (auto& m : *msgs)
      ts.push_back(m.ts_ms);
    if (!domain::rolling_summary_due(ts, covered, rc))
      continue;
    std::vector<domain::utterance> us;
    us.reserve(msgs->size());
    for (auto& m : *msgs)
      us.push_back({m.agent_name.empty() ? m.role : m.agent_name, m.content});
    auto& newest = msgs->back();
    if (domain::make_rolling_summary(user, session, us, newest.ts_ms,
                                     newest.event_id,
                                     cfg.rules.summary_sentences,
                                     cfg.rules.summary_chars, b.memories)) {
      if (auto* a = newest_message[sessions[i]])
        domain::copy_scope(*a, b.memories.back());
      marks[sessions[i]] = newest.ts_ms;
      ++added;
    }
  }
  return added;
}

} // namespace agentmem::actors
