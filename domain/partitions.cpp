#include "domain/partitions.hpp"

#include <string_view>
#include <unordered_map>

namespace agentmem::domain {

void assign_partitions(batch& b) {
  if (b.memories.empty())
    return;
  std::unordered_map<std::string_view, int32_t> by_event;
  std::unordered_map<std::string_view, int32_t> by_user;
  by_event.reserve(b.activities.size());
  for (auto& a : b.activities) {
    if (a.source.partition < 0)
      continue;
    by_event.emplace(a.event_id, a.source.partition);
    by_user.emplace(a.user_id, a.source.partition);
  }
  for (auto& m : b.memories) {
    if (m.partition >= 0)
      continue;
    if (auto it = by_event.find(m.event_id); it != by_event.end())
      m.partition = it->second;
    else if (auto u = by_user.find(m.user_id); u != by_user.end())
      m.partition = u->second;
  }
}

} // namespace agentmem::domain
