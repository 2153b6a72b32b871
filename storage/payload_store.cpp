#include "storage/payload_store.hpp"

#include <algorithm>
#include <unordered_set>

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

uint32_t payload_store::interner::get_or_add(const std::string& s) {
  auto [it, added] = ids.try_emplace(s, static_cast<uint32_t>(names.size()));
  if (added)
    names.push_back(s);
  return it->second;
}

std::optional<uint32_t>
payload_store::interner::find(const std::string& s) const {
  auto it = ids.find(s);
  if (it == ids.end())
    return std::nullopt;
  return it->second;
}

bool payload_store::add(uint64_t id, const std::string& user,
                        const std::string& session, const std::string& type,
                        int64_t ts_ms, uint32_t length) {
  if (payloads_.count(id))
    return false;
  payload p{users_.get_or_add(user), sessions_.get_or_add(session),
            types_.get_or_add(type), length, ts_ms};
  if (p.user >= user_points_.size())
    user_points_.resize(p.user + 1);
  user_points_[p.user].push_back(id);
  payloads_.emplace(id, p);
  return true;
}

bool payload_store::update(uint64_t id, int64_t ts_ms, uint32_t length) {
  auto it = payloads_.find(id);
  if (it == payloads_.end())
    return false;
  it->second.ts_ms = ts_ms;
  it->second.length = length;
  return true;
}

const payload_store::payload* payload_store::find(uint64_t id) const {
  auto it = payloads_.find(id);
  return it == payloads_.end() ? nullptr : &it->second;
}

const std::vector<uint64_t>&
payload_store::user_points(const compiled_filter& f) const {
  static const std::vector<uint64_t> none;
  if (f.empty || f.user >= user_points_.size())
    return none;
  return user_points_[f.user];
}

size_t payload_store::user_size(const std::string& user) const {
  auto u = users_.find(user);
  if (!u || *u >= user_points_.size())
    return 0;
  return user_points_[*u].size();
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
  c.since_ms = f.since_ms;
  c.until_ms = f.until_ms;
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
  if (f.since_ms && p.ts_ms < *f.since_ms)
    return false;
  if (f.until_ms && p.ts_ms > *f.until_ms)
    return false;
  return true;
}

void payload_store::write_point(std::ofstream& out, uint64_t id) const {
  auto& p = payloads_.at(id);
  io::write_pod(out, id);
  io::write_str(out, users_.names[p.user]);
  io::write_str(out, sessions_.names[p.session]);
  io::write_str(out, types_.names[p.type]);
  io::write_pod(out, p.ts_ms);
  io::write_pod(out, p.length);
}

std::optional<uint64_t> payload_store::read_point(std::ifstream& in) {
  uint64_t id;
  int64_t ts;
  uint32_t length;
  std::string u, s, t;
  if (!io::read_pod(in, id) || !io::read_str(in, u) || !io::read_str(in, s)
      || !io::read_str(in, t) || !io::read_pod(in, ts)
      || !io::read_pod(in, length))
    return std::nullopt;
  add(id, u, s, t, ts, length);
  return id;
}

std::vector<uint64_t>
payload_store::user_points_until(const std::string& user,
                                 int64_t cutoff_ms) const {
  std::vector<uint64_t> out;
  auto u = users_.find(user);
  if (!u || *u >= user_points_.size())
    return out;
  for (auto id : user_points_[*u]) {
    auto* p = find(id);
    if (p && p->ts_ms <= cutoff_ms)
      out.push_back(id);
  }
  return out;
}

std::vector<uint64_t>
payload_store::remove(const std::vector<uint64_t>& ids) {
  std::vector<uint64_t> removed;
  std::unordered_map<uint32_t, std::unordered_set<uint64_t>> by_user;
  for (auto id : ids) {
    auto it = payloads_.find(id);
    if (it == payloads_.end())
      continue;
    by_user[it->second.user].insert(id);
    payloads_.erase(it);
    removed.push_back(id);
  }
  // One pass over each touched user's list.
  for (auto& [user, gone] : by_user) {
    auto& pts = user_points_[user];
    pts.erase(std::remove_if(pts.begin(), pts.end(),
                             [&](uint64_t id) { return gone.count(id) > 0; }),
              pts.end());
  }
  return removed;
}

void payload_store::clear() {
  users_ = {};
  sessions_ = {};
  types_ = {};
  payloads_.clear();
  user_points_.clear();
}

} // namespace agentmem::storage
