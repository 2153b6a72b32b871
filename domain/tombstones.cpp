#include "domain/tombstones.hpp"

#include <algorithm>

#include "domain/rollup.hpp"

namespace agentmem::domain {

bool is_tombstoned(const tombstone_map& t, const std::string& user_id,
                   int64_t ts_ms) {
  auto it = t.find(user_id);
  return it != t.end() && ts_ms <= it->second;
}

size_t drop_tombstoned(batch& b, const tombstone_map& t) {
  if (t.empty())
    return 0;
  auto before = b.activities.size();
  b.activities.erase(std::remove_if(b.activities.begin(), b.activities.end(),
                                    [&](const activity& a) {
                                      return is_tombstoned(t, a.user_id,
                                                           a.ts_ms);
                                    }),
                     b.activities.end());
  b.memories.erase(std::remove_if(b.memories.begin(), b.memories.end(),
                                  [&](const memory& m) {
                                    return is_tombstoned(t, m.user_id,
                                                         m.ts_ms);
                                  }),
                   b.memories.end());
  auto dropped = before - b.activities.size();
  if (dropped > 0)
    fold_rollups(b);
  return dropped;
}

void tombstone_set::put(const std::string& user_id, int64_t cutoff_ms) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = map_->find(user_id);
  if (it != map_->end() && it->second >= cutoff_ms)
    return;
  auto next = std::make_shared<tombstone_map>(*map_);
  (*next)[user_id] = cutoff_ms;
  map_ = std::move(next);
  empty_ = false;
}

std::shared_ptr<const tombstone_map> tombstone_set::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return map_;
}

bool tombstone_set::empty() const {
  return empty_.load();
}

} // namespace agentmem::domain
