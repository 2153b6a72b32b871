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

shard_set::shard_set(shard_set_config cfg) : cfg_(std::move(cfg)) {
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
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::vector<std::shared_ptr<shard>> out;
  for (auto& [p, e] : shards_)
    if (e.s->vectors->user_size(user_id) > 0)
      out.push_back(e.s);
  return out;
}

std::map<int32_t, shard_set::entry> shard_set::held_now() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return shards_;
}

std::vector<std::pair<std::shared_ptr<shard>, std::vector<memory>>>
shard_set::group_held(const std::vector<memory>& ms,
                      const std::map<int32_t, entry>& held) {
  std::map<int32_t, std::vector<memory>> by_shard;
  for (auto& m : ms)
    if (held.count(shard_partition(m)) > 0)
      by_shard[shard_partition(m)].push_back(m);
  std::vector<std::pair<std::shared_ptr<shard>, std::vector<memory>>> out;
  for (auto& [p, group] : by_shard)
    out.emplace_back(held.at(p).s, std::move(group));
  return out;
}

caf::expected<size_t> shard_set::upsert(const std::vector<memory>& ms,
                                        double* helper_cpu_seconds,
                                        int64_t seq_first, int64_t seq_last) {
  // The shards held now: the memories go to these, and the range is noted
  // in these (a shard opened during the call got none of the memories).
  auto held = held_now();
  // One call per shard with that shard's memories, in batch order.
  size_t added = 0;
  if (helper_cpu_seconds)
    *helper_cpu_seconds = 0;
  for (auto& [s, group] : group_held(ms, held)) {
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
