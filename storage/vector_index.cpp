#include "storage/vector_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <hnswlib/hnswlib.h>

#include "messages/errc.hpp"

namespace fs = std::filesystem;

namespace agentmem::storage {

namespace {

constexpr uint32_t payload_magic = 0x414D5031; // "AMP1"

// Interns strings to dense ids so payloads stay small (16 bytes a point).
struct interner {
  std::unordered_map<std::string, uint32_t> ids;
  std::vector<std::string> names;
  uint32_t get_or_add(const std::string& s) {
    auto [it, added] = ids.try_emplace(s, static_cast<uint32_t>(names.size()));
    if (added)
      names.push_back(s);
    return it->second;
  }
  std::optional<uint32_t> find(const std::string& s) const {
    auto it = ids.find(s);
    if (it == ids.end())
      return std::nullopt;
    return it->second;
  }
};

struct payload {
  uint32_t user;
  uint32_t session;
  uint32_t type;
  int64_t ts_ms;
};

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

template <class T>
void write_pod(std::ofstream& out, const T& x) {
  out.write(reinterpret_cast<const char*>(&x), sizeof(T));
}

template <class T>
bool read_pod(std::ifstream& in, T& x) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&x), sizeof(T)));
}

} // namespace

struct vector_index::impl {
  std::string dir;
  vector_index_config cfg;
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  interner users, sessions, types;
  std::unordered_map<uint64_t, payload> payloads;
  std::vector<std::vector<uint64_t>> user_points; // by interned user id
  int64_t watermark = 0;
  mutable std::shared_mutex mtx;

  void make_empty() {
    hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space.get(), cfg.initial_capacity, cfg.m, cfg.ef_construction);
    hnsw->setEf(cfg.ef_search);
    users = {};
    sessions = {};
    types = {};
    payloads.clear();
    user_points.clear();
    watermark = 0;
  }

  bool matches(const payload& p, uint32_t user,
               const std::optional<uint32_t>& session,
               const std::vector<uint32_t>& type_ids,
               const vector_filter& f) const {
    if (p.user != user)
      return false;
    if (!f.session_id.empty() && (!session || p.session != *session))
      return false;
    if (!f.memory_types.empty()
        && std::find(type_ids.begin(), type_ids.end(), p.type)
             == type_ids.end())
      return false;
    if (f.since_ms && p.ts_ms < *f.since_ms)
      return false;
    if (f.until_ms && p.ts_ms > *f.until_ms)
      return false;
    return true;
  }

  float score_of(const float* q, uint64_t label) const {
    auto it = hnsw->label_lookup_.find(label);
    if (it == hnsw->label_lookup_.end())
      return -2.0f;
    auto* v = reinterpret_cast<const float*>(
      hnsw->getDataByInternalId(it->second));
    float s = 0;
    for (size_t i = 0; i < cfg.dims; ++i)
      s += q[i] * v[i];
    return s;
  }

  caf::error load_snapshot(const fs::path& snap) {
    std::ifstream meta{snap / "meta.bin", std::ios::binary};
    uint32_t magic = 0;
    uint64_t dims = 0, count = 0;
    int64_t wm = 0;
    std::string model;
    if (!read_pod(meta, magic) || magic != payload_magic
        || !read_pod(meta, dims) || !read_str(meta, model)
        || !read_pod(meta, count) || !read_pod(meta, wm))
      return make_error(errc::index_error, "unreadable snapshot meta");
    if (dims != cfg.dims || model != cfg.model)
      return make_error(errc::invalid_config,
                        "vector index in " + dir + " holds " + model + " ("
                          + std::to_string(dims) + " dims) but the configured "
                          "embedder is " + cfg.model + " ("
                          + std::to_string(cfg.dims)
                          + " dims); delete the data dir's index to rebuild");
    hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space.get(), (snap / "graph.bin").string(), false,
      std::max<size_t>(cfg.initial_capacity, count + 1));
    hnsw->setEf(cfg.ef_search);
    std::ifstream in{snap / "payloads.bin", std::ios::binary};
    uint64_t n = 0;
    if (!read_pod(in, n) || n != count || hnsw->cur_element_count != count)
      return make_error(errc::index_error, "snapshot payload count mismatch");
    std::string u, s, t;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t label;
      int64_t ts;
      if (!read_pod(in, label) || !read_str(in, u) || !read_str(in, s)
          || !read_str(in, t) || !read_pod(in, ts))
        return make_error(errc::index_error, "truncated payload file");
      add_payload(label, u, s, t, ts);
    }
    watermark = wm;
    return caf::none;
  }

  void add_payload(uint64_t label, const std::string& u, const std::string& s,
                   const std::string& t, int64_t ts) {
    payload p{users.get_or_add(u), sessions.get_or_add(s), types.get_or_add(t),
              ts};
    if (p.user >= user_points.size())
      user_points.resize(p.user + 1);
    user_points[p.user].push_back(label);
    payloads.emplace(label, p);
  }
};

vector_index::vector_index(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

vector_index::~vector_index() = default;

caf::expected<std::unique_ptr<vector_index>>
vector_index::open(const std::string& dir, const vector_index_config& cfg) {
  auto p = std::make_unique<impl>();
  p->dir = dir;
  p->cfg = cfg;
  p->space = std::make_unique<hnswlib::InnerProductSpace>(cfg.dims);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::index_error, "cannot create " + dir + ": "
                                           + ec.message());
  fs::path snap = fs::path{dir} / "snapshot";
  if (!fs::exists(snap) && fs::exists(fs::path{dir} / "snapshot.old"))
    snap = fs::path{dir} / "snapshot.old"; // crash between the two renames
  if (fs::exists(snap / "meta.bin")) {
    try {
      if (auto err = p->load_snapshot(snap)) {
        if (err.code() == static_cast<uint8_t>(errc::invalid_config))
          return err;
        p->make_empty(); // unreadable snapshot: rebuilt from Postgres
      }
    } catch (const std::exception& e) {
      p->make_empty();
    }
  } else {
    p->make_empty();
  }
  return std::unique_ptr<vector_index>{new vector_index(std::move(p))};
}

caf::expected<size_t> vector_index::upsert(const std::vector<memory>& ms) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  size_t added = 0;
  try {
    for (auto& m : ms) {
      if (d.payloads.count(m.point_id))
        continue;
      if (m.vector.size() != d.cfg.dims)
        return make_error(errc::index_error,
                          "memory " + m.memory_id + " has "
                            + std::to_string(m.vector.size())
                            + " dims, collection has "
                            + std::to_string(d.cfg.dims));
      if (d.hnsw->cur_element_count >= d.hnsw->max_elements_)
        d.hnsw->resizeIndex(d.hnsw->max_elements_ * 2);
      d.hnsw->addPoint(m.vector.data(), m.point_id);
      d.add_payload(m.point_id, m.user_id, m.session_id, m.memory_type,
                    m.ts_ms);
      ++added;
    }
  } catch (const std::exception& e) {
    return make_error(errc::index_error, e.what());
  }
  return added;
}

std::vector<scored_point>
vector_index::search(const float* query, size_t k,
                     const vector_filter& f) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  std::vector<scored_point> out;
  auto user = d.users.find(f.user_id);
  if (!user || k == 0 || *user >= d.user_points.size())
    return out;
  std::optional<uint32_t> session;
  if (!f.session_id.empty()) {
    session = d.sessions.find(f.session_id);
    if (!session)
      return out;
  }
  std::vector<uint32_t> type_ids;
  for (auto& t : f.memory_types)
    if (auto id = d.types.find(t))
      type_ids.push_back(*id);
  if (!f.memory_types.empty() && type_ids.empty())
    return out;
  auto& points = d.user_points[*user];
  size_t total = d.payloads.size();
  auto exact = [&] {
    std::vector<scored_point> all;
    for (auto label : points) {
      auto& p = d.payloads.at(label);
      if (d.matches(p, *user, session, type_ids, f))
        all.push_back({label, d.score_of(query, label)});
    }
    auto n = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + n, all.end(),
                      [](auto& a, auto& b) {
                        return a.score > b.score
                               || (a.score == b.score && a.point_id < b.point_id);
                      });
    all.resize(n);
    return all;
  };
  if (points.size() <= d.cfg.exact_threshold)
    return exact();
  // Filtered HNSW: oversample by the inverse selectivity of the user filter.
  size_t kk = std::max(d.cfg.ef_search,
                       k * std::max<size_t>(1, total / points.size()) * 2);
  while (true) {
    kk = std::min(kk, total);
    if (kk > points.size()) // the exact path scores fewer points than this
      return exact();
    auto res = d.hnsw->searchKnn(query, kk);
    std::vector<scored_point> hits;
    while (!res.empty()) {
      auto [dist, label] = res.top();
      res.pop();
      auto it = d.payloads.find(label);
      if (it != d.payloads.end()
          && d.matches(it->second, *user, session, type_ids, f))
        hits.push_back({label, 1.0f - dist});
    }
    if (hits.size() >= k || kk >= total) {
      std::sort(hits.begin(), hits.end(), [](auto& a, auto& b) {
        return a.score > b.score
               || (a.score == b.score && a.point_id < b.point_id);
      });
      if (hits.size() > k)
        hits.resize(k);
      return hits;
    }
    kk *= 2;
  }
}

caf::error vector_index::save(int64_t watermark) {
  // Exclusive: hnswlib's saveIndex must not race with addPoint.
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  fs::path dir{d.dir};
  fs::path tmp = dir / "snapshot.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    return make_error(errc::index_error, "cannot create " + tmp.string());
  try {
    d.hnsw->saveIndex((tmp / "graph.bin").string());
    {
      std::ofstream out{tmp / "payloads.bin", std::ios::binary};
      write_pod(out, static_cast<uint64_t>(d.payloads.size()));
      // hnswlib's internal order, so the file is deterministic.
      for (size_t i = 0; i < d.hnsw->cur_element_count; ++i) {
        auto label = d.hnsw->getExternalLabel(static_cast<unsigned>(i));
        auto& p = d.payloads.at(label);
        write_pod(out, static_cast<uint64_t>(label));
        write_str(out, d.users.names[p.user]);
        write_str(out, d.sessions.names[p.session]);
        write_str(out, d.types.names[p.type]);
        write_pod(out, p.ts_ms);
      }
      if (!out.flush())
        return make_error(errc::index_error, "cannot write payloads");
    }
    {
      std::ofstream meta{tmp / "meta.bin", std::ios::binary};
      write_pod(meta, payload_magic);
      write_pod(meta, static_cast<uint64_t>(d.cfg.dims));
      write_str(meta, d.cfg.model);
      write_pod(meta, static_cast<uint64_t>(d.payloads.size()));
      write_pod(meta, watermark);
      if (!meta.flush())
        return make_error(errc::index_error, "cannot write meta");
    }
  } catch (const std::exception& e) {
    return make_error(errc::index_error, e.what());
  }
  // snapshot -> snapshot.old, tmp -> snapshot, drop old: a crash at any
  // point leaves one complete snapshot (open() falls back to .old).
  fs::path snap = dir / "snapshot";
  fs::path old = dir / "snapshot.old";
  fs::remove_all(old, ec);
  if (fs::exists(snap))
    fs::rename(snap, old, ec);
  fs::rename(tmp, snap, ec);
  if (ec)
    return make_error(errc::index_error, "cannot rename snapshot: "
                                           + ec.message());
  fs::remove_all(old, ec);
  d.watermark = watermark;
  return caf::none;
}

int64_t vector_index::watermark() const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->watermark;
}

void vector_index::set_watermark(int64_t w) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  impl_->watermark = w;
}

size_t vector_index::size() const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.size();
}

size_t vector_index::dims() const {
  return impl_->cfg.dims;
}

bool vector_index::contains(uint64_t point_id) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.count(point_id) > 0;
}

size_t vector_index::user_size(const std::string& user_id) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto u = impl_->users.find(user_id);
  if (!u || *u >= impl_->user_points.size())
    return 0;
  return impl_->user_points[*u].size();
}

} // namespace agentmem::storage
