#include "storage/payload_store.hpp"

#include <algorithm>
#include <unordered_set>
#include <cmath>
#include <limits>

namespace agentmem::storage {

namespace io {

void write_str(std::ofstream& out, const std::string& s) {
  auto n = static_cast<uint32_t>(s.size());
  out.write(reinterpret_cast<const char*>(&n), 4);
  out.write(s.data(), n);
}

bool read_str(std::ifstream& in, std::string& s) {
  uint32_t n = 0;
  if (!in.read(reinterpret_cast<char*>(&n), 4) || n > (64u << 20))
    return false;
  s.resize(n);
  return static_cast<bool>(in.read(s.data(), n));
}

} // namespace io

// --- ts range index ---------------------------------------------------------

void payload_store::ts_index::add(int64_t ts, uint32_t slot) {
  if (tail.empty() && (sorted.empty() || ts >= sorted.back().first)) {
    sorted.emplace_back(ts, slot); // the common case: events arrive in order
    return;
  }
  tail.emplace_back(ts, slot);
  // Merge once the tail exceeds sqrt(sorted): amortised O(sqrt n) per add,
  // and range scans of the tail stay O(sqrt n).
  if (tail.size() >= 64 && tail.size() * tail.size() > sorted.size()) {
    std::sort(tail.begin(), tail.end());
    auto mid = sorted.size();
    sorted.insert(sorted.end(), tail.begin(), tail.end());
    std::inplace_merge(sorted.begin(), sorted.begin() + mid, sorted.end());
    tail.clear();
  }
}

void payload_store::ts_index::erase(const std::vector<uint32_t>& slots) {
  auto gone = [&slots](const std::pair<int64_t, uint32_t>& x) {
    return std::find(slots.begin(), slots.end(), x.second) != slots.end();
  };
  if (slots.size() > 8) { // sorted: binary search instead of a linear find
    auto sorted_slots = slots;
    std::sort(sorted_slots.begin(), sorted_slots.end());
    auto in = [&sorted_slots](const std::pair<int64_t, uint32_t>& x) {
      return std::binary_search(sorted_slots.begin(), sorted_slots.end(),
                                x.second);
    };
    sorted.erase(std::remove_if(sorted.begin(), sorted.end(), in),
                 sorted.end());
    tail.erase(std::remove_if(tail.begin(), tail.end(), in), tail.end());
    return;
  }
  sorted.erase(std::remove_if(sorted.begin(), sorted.end(), gone),
               sorted.end());
  tail.erase(std::remove_if(tail.begin(), tail.end(), gone), tail.end());
}

namespace {

bool in_range(int64_t ts, std::optional<int64_t> since,
              std::optional<int64_t> until) {
  return (!since || ts >= *since) && (!until || ts <= *until);
}

// The [first, last) run of (ts, slot) pairs `sorted` with ts in
// [since, until] (an absent bound is open).
template <class Sorted>
auto sorted_range(const Sorted& sorted, std::optional<int64_t> since,
                  std::optional<int64_t> until) {
  auto lo = since ? std::lower_bound(sorted.begin(), sorted.end(),
                                     std::make_pair(*since, uint32_t{0}))
                  : sorted.begin();
  auto hi = until ? std::upper_bound(
                      sorted.begin(), sorted.end(),
                      std::make_pair(*until,
                                     std::numeric_limits<uint32_t>::max()))
                  : sorted.end();
  return std::pair{lo, hi};
}

} // namespace

void payload_store::ts_index::range(std::optional<int64_t> since,
                                    std::optional<int64_t> until,
                                    std::vector<uint32_t>& out) const {
  auto [lo, hi] = sorted_range(sorted, since, until);
  for (auto it = lo; it < hi; ++it)
    out.push_back(it->second);
  for (auto& [ts, slot] : tail)
    if (in_range(ts, since, until))
      out.push_back(slot);
}

size_t payload_store::ts_index::count(std::optional<int64_t> since,
                                      std::optional<int64_t> until) const {
  auto [lo, hi] = sorted_range(sorted, since, until);
  size_t n = hi > lo ? static_cast<size_t>(hi - lo) : 0;
  for (auto& [ts, slot] : tail)
    n += in_range(ts, since, until);
  return n;
}

// --- points -----------------------------------------------------------------

bool payload_store::add(uint64_t id, const std::string& user,
                        const std::string& session, const std::string& type,
                        int64_t ts_ms, uint32_t length,
                        const std::vector<std::string>& tags,
                        const point_scope& scope) {
  if (slot_of_.count(id))
    return false;
  auto slot = static_cast<uint32_t>(slots_.size());
  payload p{users_.intern(user),
            sessions_.intern(session),
            types_.intern(type),
            length,
            ts_ms,
            static_cast<uint32_t>(tag_pool_.size()),
            0,
            scopes_.intern(scope.agent_type),
            scopes_.intern(scope.agent_name),
            scopes_.intern(scope.project_id),
            scope.importance};
  if (p.user >= users_idx_.size())
    users_idx_.resize(p.user + 1);
  auto& u = users_idx_[p.user];
  u.points.push_back(slot);
  u.sessions[p.session].push_back(slot);
  u.types[p.type].push_back(slot);
  // Absent scope values ("") get no posting list: nobody filters on them.
  if (!scope.agent_type.empty())
    u.agent_types[p.agent_type].push_back(slot);
  if (!scope.agent_name.empty())
    u.agent_names[p.agent_name].push_back(slot);
  if (!scope.project_id.empty())
    u.projects[p.project].push_back(slot);
  u.ts.add(ts_ms, slot);
  for (auto& t : tags) {
    auto tid = tags_.intern(t);
    auto first = tag_pool_.begin() + p.tags_at;
    if (std::find(first, tag_pool_.end(), tid) != tag_pool_.end())
      continue; // duplicate tag on one event
    tag_pool_.push_back(tid);
    ++p.tags_count;
    u.tags[tid].push_back(slot);
  }
  slots_.push_back(p);
  ids_.push_back(id);
  slot_of_.emplace(id, slot);
  return true;
}

bool payload_store::update(uint64_t id, int64_t ts_ms, uint32_t length) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end())
    return false;
  auto slot = it->second;
  auto& p = slots_[slot];
  if (p.ts_ms != ts_ms) {
    auto& u = users_idx_[p.user];
    std::vector<uint32_t> one{slot};
    u.ts.erase(one);
    u.ts.add(ts_ms, slot);
    p.ts_ms = ts_ms;
  }
  p.length = length;
  return true;
}

bool payload_store::set_labels(uint64_t id,
                               const std::vector<std::string>& tags,
                               float importance) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end())
    return false;
  auto slot = it->second;
  auto& p = slots_[slot];
  bool importance_changed = p.importance != importance;
  p.importance = importance;
  std::vector<uint32_t> old(tag_pool_.begin() + p.tags_at,
                            tag_pool_.begin() + p.tags_at + p.tags_count);
  std::vector<uint32_t> now;
  for (auto& t : tags) {
    auto tid = tags_.intern(t);
    if (std::find(now.begin(), now.end(), tid) == now.end())
      now.push_back(tid);
  }
  auto sorted = [](std::vector<uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  if (sorted(old) == sorted(now))
    return importance_changed;
  auto& u = users_idx_[p.user];
  for (auto tid : old) {
    auto list = u.tags.find(tid);
    if (list == u.tags.end())
      continue;
    auto& v = list->second;
    v.erase(std::remove(v.begin(), v.end(), slot), v.end());
    if (v.empty())
      u.tags.erase(list);
  }
  // The old entries stay in the pool unused (tag changes are rare).
  p.tags_at = static_cast<uint32_t>(tag_pool_.size());
  p.tags_count = static_cast<uint32_t>(now.size());
  for (auto tid : now) {
    tag_pool_.push_back(tid);
    auto& v = u.tags[tid]; // posting lists stay ascending
    v.insert(std::lower_bound(v.begin(), v.end(), slot), slot);
  }
  return true;
}

std::optional<point_scope> payload_store::scope_of(uint64_t id) const {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end())
    return std::nullopt;
  auto& p = slots_[it->second];
  return point_scope{scopes_[p.agent_type], scopes_[p.agent_name],
                     scopes_[p.project], p.importance};
}

const payload_store::payload* payload_store::find(uint64_t id) const {
  auto it = slot_of_.find(id);
  return it == slot_of_.end() ? nullptr : &slots_[it->second];
}

size_t payload_store::user_size(const std::string& user) const {
  auto u = users_.find(user);
  if (!u || *u >= users_idx_.size())
    return 0;
  return users_idx_[*u].points.size();
}

std::optional<std::pair<int64_t, int64_t>>
payload_store::user_time_span(const std::string& user) const {
  auto u = users_.find(user);
  if (!u || *u >= users_idx_.size())
    return std::nullopt;
  auto& ts = users_idx_[*u].ts;
  std::optional<std::pair<int64_t, int64_t>> span;
  auto take = [&](int64_t t) {
    if (!span)
      span = std::make_pair(t, t);
    span->first = std::min(span->first, t);
    span->second = std::max(span->second, t);
  };
  if (!ts.sorted.empty()) {
    take(ts.sorted.front().first);
    take(ts.sorted.back().first);
  }
  for (auto& [t, slot] : ts.tail)
    take(t);
  return span;
}

size_t payload_store::user_size(const compiled_filter& f) const {
  if (f.empty || f.user >= users_idx_.size())
    return 0;
  return users_idx_[f.user].points.size();
}

payload_store::compiled_filter
payload_store::compile(const vector_filter& f) const {
  compiled_filter c;
  auto user = users_.find(f.user_id);
  if (!user)
    return c;
  c.user = *user;
  if (!f.session_id.empty()) {
    c.session = sessions_.find(f.session_id);
    if (!c.session)
      return c;
  }
  for (auto& t : f.memory_types)
    if (auto id = types_.find(t))
      c.types.push_back(*id);
  if (!f.memory_types.empty() && c.types.empty())
    return c;
  for (auto& t : f.tags) {
    auto id = tags_.find(t);
    if (id)
      c.tags.push_back(*id);
    else if (f.tags_all)
      return c; // a tag nobody carries: nothing has all of them
  }
  if (!f.tags.empty() && c.tags.empty())
    return c;
  c.tags_all = f.tags_all;
  // A scope value nobody carries matches nothing.
  for (auto [value, dst] : {std::pair{&f.agent_type, &c.agent_type},
                            std::pair{&f.agent_name, &c.agent_name},
                            std::pair{&f.project_id, &c.project}}) {
    if (value->empty())
      continue;
    *dst = scopes_.find(*value);
    if (!*dst)
      return c;
  }
  c.min_importance = f.min_importance;
  c.since_ms = f.since_ms;
  c.until_ms = f.until_ms;
  if (c.since_ms && c.until_ms && *c.since_ms > *c.until_ms)
    return c;
  c.empty = false;
  return c;
}

bool payload_store::matches(const payload& p, const compiled_filter& f) const {
  if (f.empty || p.user != f.user)
    return false;
  if (f.session && p.session != *f.session)
    return false;
  if (!f.types.empty()
      && std::find(f.types.begin(), f.types.end(), p.type) == f.types.end())
    return false;
  if (!in_range(p.ts_ms, f.since_ms, f.until_ms))
    return false;
  if ((f.agent_type && p.agent_type != *f.agent_type)
      || (f.agent_name && p.agent_name != *f.agent_name)
      || (f.project && p.project != *f.project)
      || (f.min_importance && !(p.importance >= *f.min_importance)))
    return false;
  if (!f.tags.empty()) {
    auto first = tag_pool_.begin() + p.tags_at;
    auto last = first + p.tags_count;
    auto has = [&](uint32_t t) { return std::find(first, last, t) != last; };
    if (f.tags_all ? !std::all_of(f.tags.begin(), f.tags.end(), has)
                   : !std::any_of(f.tags.begin(), f.tags.end(), has))
      return false;
  }
  return true;
}

payload_store::query_plan
payload_store::plan(const compiled_filter& f) const {
  query_plan q;
  if (f.empty || f.user >= users_idx_.size())
    return q;
  auto& u = users_idx_[f.user];
  static const std::vector<uint32_t> none;
  auto posting = [](const auto& map, uint32_t key) {
    auto it = map.find(key);
    return it == map.end() ? &none : &it->second;
  };
  const double n = static_cast<double>(u.points.size());
  q.user_size = u.points.size();
  q.primary = &u.points;
  q.upper_bound = u.points.size();
  q.estimate = n;
  if (n == 0)
    return q;
  // Candidate primaries: (cardinality, posting or nullptr + how to build).
  enum class kind { posting, types_union, tags_union, time };
  struct cand {
    size_t card;
    kind k;
    const std::vector<uint32_t>* list;
  };
  std::vector<cand> cands;
  auto consider = [&](size_t card, kind k, const std::vector<uint32_t>* l) {
    cands.push_back({card, k, l});
    q.estimate *= static_cast<double>(card) / n;
  };
  if (f.session) {
    auto* l = posting(u.sessions, *f.session);
    consider(l->size(), kind::posting, l);
  }
  if (f.types.size() == 1) {
    auto* l = posting(u.types, f.types[0]);
    consider(l->size(), kind::posting, l);
  } else if (!f.types.empty()) {
    size_t sum = 0;
    for (auto t : f.types)
      sum += posting(u.types, t)->size();
    consider(std::min<size_t>(sum, u.points.size()), kind::types_union,
             nullptr);
  }
  if (!f.tags.empty()) {
    if (f.tags_all || f.tags.size() == 1) {
      for (auto t : f.tags) { // each tag is its own condition
        auto* l = posting(u.tags, t);
        consider(l->size(), kind::posting, l);
      }
    } else {
      size_t sum = 0;
      for (auto t : f.tags)
        sum += posting(u.tags, t)->size();
      consider(std::min<size_t>(sum, u.points.size()), kind::tags_union,
               nullptr);
    }
  }
  for (auto [key, map] : {std::pair{&f.agent_type, &u.agent_types},
                          std::pair{&f.agent_name, &u.agent_names},
                          std::pair{&f.project, &u.projects}})
    if (*key) {
      auto* l = posting(*map, **key);
      consider(l->size(), kind::posting, l);
    }
  if (f.since_ms || f.until_ms)
    consider(u.ts.count(f.since_ms, f.until_ms), kind::time, nullptr);
  if (cands.empty())
    return q;
  auto best = *std::min_element(cands.begin(), cands.end(),
                                [](auto& a, auto& b) { return a.card < b.card; });
  q.upper_bound = best.card;
  switch (best.k) {
    case kind::posting:
      q.primary = best.list;
      break;
    case kind::types_union:
    case kind::tags_union: {
      q.primary = nullptr;
      auto& ids = best.k == kind::types_union ? f.types : f.tags;
      auto& map = best.k == kind::types_union ? u.types : u.tags;
      for (auto t : ids) {
        auto* l = posting(map, t);
        q.slots.insert(q.slots.end(), l->begin(), l->end());
      }
      if (best.k == kind::tags_union) { // a point may carry several tags
        std::sort(q.slots.begin(), q.slots.end());
        q.slots.erase(std::unique(q.slots.begin(), q.slots.end()),
                      q.slots.end());
      }
      break;
    }
    case kind::time:
      q.primary = nullptr;
      q.slots.reserve(best.card);
      u.ts.range(f.since_ms, f.until_ms, q.slots);
      break;
  }
  return q;
}

void payload_store::session_turns(uint64_t id, size_t n,
                                  const std::string& turn_type,
                                  std::vector<uint64_t>& before,
                                  std::vector<uint64_t>& after) const {
  before.clear();
  after.clear();
  auto it = slot_of_.find(id);
  auto type = types_.find(turn_type);
  if (it == slot_of_.end() || !type || n == 0)
    return;
  auto& p = slots_[it->second];
  auto& u = users_idx_[p.user];
  auto s = u.sessions.find(p.session);
  if (s == u.sessions.end())
    return;
  std::vector<std::pair<int64_t, uint64_t>> turns;
  for (auto slot : s->second)
    if (slots_[slot].type == *type && ids_[slot] != id)
      turns.emplace_back(slots_[slot].ts_ms, ids_[slot]);
  std::sort(turns.begin(), turns.end());
  auto pos = std::lower_bound(turns.begin(), turns.end(),
                              std::make_pair(p.ts_ms, id));
  auto from = pos - std::min<ptrdiff_t>(static_cast<ptrdiff_t>(n),
                                        pos - turns.begin());
  for (auto i = from; i < pos; ++i)
    before.push_back(i->second);
  for (auto i = pos; i < turns.end() && after.size() < n; ++i)
    after.push_back(i->second);
}

std::vector<payload_store::adjacent>
payload_store::adjacent_turns(const std::vector<uint64_t>& ids,
                              const std::string& turn_type) const {
  std::vector<adjacent> out(ids.size());
  auto type = types_.find(turn_type);
  if (!type)
    return out;
  // (user, session) -> the session's turns sorted by (ts, id)
  std::unordered_map<uint64_t, std::vector<std::pair<int64_t, uint64_t>>>
    sorted;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = slot_of_.find(ids[i]);
    if (it == slot_of_.end())
      continue;
    auto& p = slots_[it->second];
    if (p.type != *type)
      continue;
    auto key = (static_cast<uint64_t>(p.user) << 32) | p.session;
    auto [turns, fresh] = sorted.try_emplace(key);
    if (fresh) {
      auto& u = users_idx_[p.user];
      auto s = u.sessions.find(p.session);
      if (s != u.sessions.end())
        for (auto slot : s->second)
          if (slots_[slot].type == *type)
            turns->second.emplace_back(slots_[slot].ts_ms, ids_[slot]);
      std::sort(turns->second.begin(), turns->second.end());
    }
    auto& t = turns->second;
    auto pos = std::lower_bound(t.begin(), t.end(),
                                std::make_pair(p.ts_ms, ids[i]));
    if (pos == t.end() || pos->second != ids[i])
      continue;
    if (pos != t.begin()) {
      out[i].has_prev = true;
      out[i].prev = (pos - 1)->second;
    }
    if (pos + 1 != t.end()) {
      out[i].has_next = true;
      out[i].next = (pos + 1)->second;
    }
  }
  return out;
}

void payload_store::write_point(std::ofstream& out, uint64_t id) const {
  auto& p = slots_[slot_of_.at(id)];
  io::write_pod(out, id);
  io::write_str(out, users_[p.user]);
  io::write_str(out, sessions_[p.session]);
  io::write_str(out, types_[p.type]);
  io::write_pod(out, p.ts_ms);
  io::write_pod(out, p.length);
  io::write_pod(out, p.tags_count);
  for (uint32_t i = 0; i < p.tags_count; ++i)
    io::write_str(out, tags_[tag_pool_[p.tags_at + i]]);
  io::write_str(out, scopes_[p.agent_type]);
  io::write_str(out, scopes_[p.agent_name]);
  io::write_str(out, scopes_[p.project]);
  io::write_pod(out, p.importance);
}

std::optional<uint64_t> payload_store::read_point(std::ifstream& in) {
  uint64_t id;
  int64_t ts;
  uint32_t length, ntags;
  std::string u, s, t;
  if (!io::read_pod(in, id) || !io::read_str(in, u) || !io::read_str(in, s)
      || !io::read_str(in, t) || !io::read_pod(in, ts)
      || !io::read_pod(in, length) || !io::read_pod(in, ntags)
      || ntags > 4096)
    return std::nullopt;
  std::vector<std::string> tags(ntags);
  for (auto& tag : tags)
    if (!io::read_str(in, tag))
      return std::nullopt;
  point_scope scope;
  if (!io::read_str(in, scope.agent_type) || !io::read_str(in, scope.agent_name)
      || !io::read_str(in, scope.project_id)
      || !io::read_pod(in, scope.importance))
    return std::nullopt;
  add(id, u, s, t, ts, length, tags, scope);
  return id;
}

std::vector<uint64_t>
payload_store::user_points_until(const std::string& user,
                                 int64_t cutoff_ms) const {
  std::vector<uint64_t> out;
  auto u = users_.find(user);
  if (!u || *u >= users_idx_.size())
    return out;
  for (auto slot : users_idx_[*u].points)
    if (slots_[slot].ts_ms <= cutoff_ms)
      out.push_back(ids_[slot]);
  return out;
}

// Removed points keep their slot (slots stay dense and posting lists
// ascending; the vector index's graph keeps the node, marked deleted) but
// leave every index and the id map, so no plan or snapshot sees them.
std::vector<uint64_t>
payload_store::remove(const std::vector<uint64_t>& ids) {
  std::vector<uint64_t> removed;
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_user; // slots
  for (auto id : ids) {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end())
      continue;
    by_user[slots_[it->second].user].push_back(it->second);
    slot_of_.erase(it);
    removed.push_back(id);
  }
  for (auto& [user, gone] : by_user) {
    std::sort(gone.begin(), gone.end());
    auto drop = [&gone](std::vector<uint32_t>& v) {
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](uint32_t s) {
                               return std::binary_search(gone.begin(),
                                                         gone.end(), s);
                             }),
              v.end());
    };
    auto& u = users_idx_[user];
    drop(u.points);
    for (auto* m : {&u.sessions, &u.types, &u.tags, &u.agent_types,
                    &u.agent_names, &u.projects})
      for (auto it = m->begin(); it != m->end();) {
        drop(it->second);
        it = it->second.empty() ? m->erase(it) : std::next(it);
      }
    u.ts.erase(gone);
    for (auto s : gone)
      slots_[s].length = 0;
  }
  return removed;
}

std::vector<uint64_t> payload_store::point_ids() const {
  std::vector<uint64_t> out;
  out.reserve(slot_of_.size());
  for (auto& [id, slot] : slot_of_)
    out.push_back(id);
  return out;
}

std::vector<std::string> payload_store::users() const {
  std::vector<std::string> out;
  for (size_t u = 0; u < users_idx_.size(); ++u)
    if (!users_idx_[u].points.empty())
      out.push_back(users_[u]);
  return out;
}

void payload_store::clear() {
  users_ = {};
  sessions_ = {};
  types_ = {};
  tags_ = {};
  scopes_ = {};
  slots_.clear();
  ids_.clear();
  tag_pool_.clear();
  slot_of_.clear();
  users_idx_.clear();
}

} // namespace agentmem::storage
