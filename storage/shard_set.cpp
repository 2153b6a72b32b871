#include "storage/shard_set.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <mutex>
#include <unordered_map>

namespace fs = std::filesystem;

namespace agentmem::storage {

const char* to_string(shard_phase p) {
  switch (p) {
    case shard_phase::serving: return "serving";
    case shard_phase::releasing: return "releasing";
    default: return "warming";
  }
}

shard_set::shard_set(shard_set_config cfg)
    : cfg_(std::move(cfg)),
      users_changed_(std::make_shared<std::atomic<uint64_t>>(0)) {
  cfg_.vectors.users_changed = users_changed_;
}

std::string shard_set::shard_dir(int32_t partition) const {
  char name[16];
  std::snprintf(name, sizeof name, "p%04d", static_cast<int>(partition));
  return (fs::path{cfg_.dir} / name).string();
}

caf::expected<std::shared_ptr<shard>> shard_set::open(int32_t partition) {
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (auto it = shards_.find(partition); it != shards_.end())
      return it->second.s;
  }
  // Loading a snapshot takes a while: outside the lock, so searches of
  // other shards go on. Only one thread opens shards (index_sync).
  auto dir = shard_dir(partition);
  auto vectors = vector_index::open(dir, cfg_.vectors);
  if (!vectors)
    return vectors.error();
  auto keywords = keyword_index::open(dir, cfg_.bm25);
  if (!keywords)
    return keywords.error();
  auto s = std::make_shared<shard>();
  s->partition = partition;
  s->vectors = std::move(*vectors);
  s->keywords = std::move(*keywords);
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto [it, added] = shards_.try_emplace(partition, entry{s, shard_phase::warming});
  if (added) // its snapshot's users are not in users_ yet
    users_changed_->fetch_add(1, std::memory_order_release);
  return it->second.s;
}

bool shard_set::set_phase(int32_t partition, shard_phase phase) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto it = shards_.find(partition);
  if (it == shards_.end())
    return false;
  it->second.phase = phase;
  if (phase != shard_phase::warming) // the node-wide ranges take over
    it->second.s->applied_while_warming.forget_through(
      std::numeric_limits<int64_t>::max());
  return true;
}

std::optional<shard_phase> shard_set::phase(int32_t partition) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto it = shards_.find(partition);
  if (it == shards_.end())
    return std::nullopt;
  return it->second.phase;
}

std::shared_ptr<shard> shard_set::find(int32_t partition) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto it = shards_.find(partition);
  return it == shards_.end() ? nullptr : it->second.s;
}

std::shared_ptr<shard> shard_set::drop(int32_t partition) {
  std::shared_ptr<shard> s;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    auto it = shards_.find(partition);
    if (it == shards_.end())
      return nullptr;
    s = std::move(it->second.s);
    shards_.erase(it);
    // A shard opened later for this partition is a new index: its users
    // are read from position 0.
    std::unique_lock<std::shared_mutex> users_guard{users_mtx_};
    users_.read.erase(partition);
  }
  std::error_code ec;
  fs::remove_all(shard_dir(partition), ec);
  return s;
}

std::vector<shard_info> shard_set::list() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::vector<shard_info> out;
  out.reserve(shards_.size());
  for (auto& [p, e] : shards_)
    out.push_back({p, e.phase, e.s->vectors->size(), e.s->watermark()});
  return out;
}

std::vector<int32_t>
shard_set::partitions(std::optional<shard_phase> phase) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::vector<int32_t> out;
  for (auto& [p, e] : shards_)
    if (!phase || e.phase == *phase)
      out.push_back(p);
  return out;
}

std::vector<std::shared_ptr<shard>>
shard_set::holding(const std::string& user_id) const {
  catch_up_users();
  std::vector<std::shared_ptr<shard>> out;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::shared_lock<std::shared_mutex> users_guard{users_mtx_};
  auto it = users_.partitions.find(std::hash<std::string>{}(user_id));
  if (it == users_.partitions.end())
    return out;
  for (auto p : it->second) // ascending
    if (auto e = shards_.find(p);
        e != shards_.end() && e->second.s->vectors->user_size(user_id) > 0)
      out.push_back(e->second.s);
  return out;
}

void shard_set::catch_up_users() const {
  const auto now = users_changed_->load(std::memory_order_acquire);
  {
    std::shared_lock<std::shared_mutex> users_guard{users_mtx_};
    if (users_.caught_up_to == now)
      return;
  }
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::unique_lock<std::shared_mutex> users_guard{users_mtx_};
  std::vector<std::string> fresh;
  for (auto& [p, e] : shards_) {
    auto& from = users_.read[p]; // 0 for a shard opened since
    fresh.clear();
    from = e.s->vectors->users_since(from, fresh);
    for (auto& u : fresh) {
      auto& ps = users_.partitions[std::hash<std::string>{}(u)];
      if (auto at = std::lower_bound(ps.begin(), ps.end(), p);
          at == ps.end() || *at != p)
        ps.insert(at, p);
    }
  }
  // Another thread may have caught up to a later count meanwhile; this
  // catch-up read everything up to at least `now`, and the next call
  // with a newer count reads on from the positions kept in `read`.
  users_.caught_up_to = now;
}

std::map<int32_t, shard_set::entry> shard_set::held_now() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return shards_;
}

std::vector<std::pair<std::shared_ptr<shard>, std::vector<memory>>>
shard_set::group_held(std::vector<memory> ms,
                      const std::map<int32_t, entry>& held) {
  std::map<int32_t, std::vector<memory>> by_shard;
  for (auto& m : ms)
    if (held.count(shard_partition(m)) > 0)
      by_shard[shard_partition(m)].push_back(std::move(m));
  std::vector<std::pair<std::shared_ptr<shard>, std::vector<memory>>> out;
  for (auto& [p, group] : by_shard)
    out.emplace_back(held.at(p).s, std::move(group));
  return out;
}

caf::expected<size_t> shard_set::upsert(std::vector<memory> ms,
                                        double* helper_cpu_seconds,
                                        int64_t seq_first, int64_t seq_last) {
  // The shards held now: the memories go to these, and the range is noted
  // in these (a shard opened during the call got none of the memories).
  auto held = held_now();
  // One call per shard with that shard's memories, in batch order.
  size_t added = 0;
  if (helper_cpu_seconds)
    *helper_cpu_seconds = 0;
  for (auto& [s, group] : group_held(std::move(ms), held)) {
    double helper_cpu = 0;
    auto n = s->vectors->upsert(group, &helper_cpu);
    if (helper_cpu_seconds)
      *helper_cpu_seconds += helper_cpu;
    if (!n)
      return n.error();
    added += *n;
    s->keywords->upsert(group);
  }
  for (auto& [p, e] : held)
    if (e.phase == shard_phase::warming)
      e.s->applied_while_warming.add(seq_first, seq_last);
  return added;
}

size_t shard_set::sync_labels(const std::vector<memory>& ms) {
  size_t changed = 0;
  for (auto& [s, group] : group_held(ms, held_now())) {
    changed += s->vectors->sync_labels(group);
    s->keywords->sync_labels(group);
  }
  return changed;
}

caf::expected<shard_set::removed_counts>
shard_set::remove(const std::vector<uint64_t>& ids) {
  removed_counts out;
  std::vector<std::shared_ptr<shard>> all;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    for (auto& [p, e] : shards_)
      all.push_back(e.s);
  }
  for (auto& s : all) {
    auto r = s->vectors->remove(ids);
    if (!r)
      return r.error();
    out.vectors += r->size();
    out.keyword_docs += s->keywords->remove(ids);
  }
  return out;
}

caf::expected<shard_set::removed_counts>
shard_set::remove_user(const std::string& user_id, int64_t cutoff_ms) {
  removed_counts out;
  for (auto& s : holding(user_id)) {
    auto r = s->vectors->remove_user(user_id, cutoff_ms);
    if (!r)
      return r.error();
    out.vectors += r->size();
    out.keyword_docs += s->keywords->remove_user(user_id, cutoff_ms);
  }
  return out;
}

caf::error shard_set::save(int32_t partition, int64_t watermark) {
  auto s = find(partition);
  if (!s)
    return caf::none;
  if (auto err = s->vectors->save(watermark))
    return err;
  return s->keywords->save(watermark);
}

size_t shard_set::size() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  size_t n = 0;
  for (auto& [p, e] : shards_)
    n += e.s->vectors->size();
  return n;
}

} // namespace agentmem::storage
