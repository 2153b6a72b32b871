#include "storage/vector_index.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <exception>
#include <thread>
#include <unordered_set>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <hnswlib/hnswlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "messages/errc.hpp"
#include "storage/simd_kernels.hpp"

namespace fs = std::filesystem;

namespace agentmem::storage {

namespace {

// "AMP4": payloads with tags, scope and importance. A snapshot of an
// older layout is not read: the shard is rebuilt from Postgres.
constexpr uint32_t payload_magic = 0x414D5034;

using io::read_pod;
using io::read_str;
using io::write_pod;
using io::write_str;

// HNSW level of a point from its id (Malkov & Yashunin: floor(-ln(U) * mL),
// U uniform in (0, 1], mL = 1 / ln(M)); U comes from splitmix64 of the id
// instead of hnswlib's generator, which is shared by all inserting threads
// without a lock and would make levels depend on insertion order.
int level_of(uint64_t point_id, double mult) {
  uint64_t z = point_id + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  double u = static_cast<double>((z >> 11) + 1) * 0x1.0p-53; // (0, 1]
  return static_cast<int>(-std::log(u) * mult);
}

double thread_cpu_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Sets hnswlib's level multiplier to 0 while points are added with
// explicit levels: hnswlib ignores an explicit level of 0 and draws one
// (from its unsynchronised generator), which with mult 0 is always 0.
// Restored on scope exit, so snapshots keep the standard 1 / ln(M).
struct explicit_levels {
  hnswlib::HierarchicalNSW<float>& h;
  double saved;
  explicit explicit_levels(hnswlib::HierarchicalNSW<float>& x)
    : h(x), saved(x.mult_) {
    h.mult_ = 0;
  }
  ~explicit_levels() {
    h.mult_ = saved;
  }
};

} // namespace

namespace {

// hnswlib's inner-product space (distance 1 - dot) with the widest kernel
// the CPU runs (storage/simd_kernels.hpp); hnswlib's own SSE kernel
// otherwise.
class ip_space : public hnswlib::SpaceInterface<float> {
public:
  explicit ip_space(size_t dims)
    : dims_(dims), fallback_(dims),
      dist_(ip_distance(dims, detected_simd_level())) {
    if (!dist_)
      dist_ = fallback_.get_dist_func();
  }
  size_t get_data_size() override {
    return dims_ * sizeof(float);
  }
  hnswlib::DISTFUNC<float> get_dist_func() override {
    return dist_;
  }
  void* get_dist_func_param() override {
    return &dims_;
  }

private:
  size_t dims_;
  hnswlib::InnerProductSpace fallback_;
  hnswlib::DISTFUNC<float> dist_;
};

// hnswlib 0.6.2 constructs every graph with 65,536 std::mutex for in-place
// updates (link_list_update_locks_, 2.5 MiB) plus one per element of
// capacity (link_list_locks_, 40 B each) and zeroes element_levels_: all
// written up front, so an empty graph of 16,384 capacity is 3.3 MiB of
// resident memory, a node's 256 shards 820 MiB before their first point
// (docs/performance.md, "Memory: where peak RSS goes"). An unlocked
// std::mutex is all zero bytes (glibc's PTHREAD_MUTEX_INITIALIZER; checked
// below) and so is a level of 0, which is what a page reads as after
// MADV_DONTNEED on private anonymous memory (the heap): the whole pages
// inside those arrays are handed back and become resident again only where
// a lock is taken or a level written, i.e. per inserted point.
bool unlocked_mutex_is_zero() {
  static const bool zero = [] {
    std::mutex m;
    unsigned char z[sizeof(std::mutex)] = {};
    return std::memcmp(reinterpret_cast<const void*>(&m), z, sizeof z) == 0;
  }();
  return zero;
}

// Drops the pages wholly inside [p, p + bytes), which must hold zeros only.
void release_zero_pages(const void* p, size_t bytes) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto b = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  auto e = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
  if (e > b)
    ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

// After the graph was built or resized (no lock held: the caller has the
// index exclusively): the lock arrays and the levels past the last element.
void release_unused(hnswlib::HierarchicalNSW<float>& h, bool update_locks) {
  if (!unlocked_mutex_is_zero())
    return;
  if (update_locks)
    release_zero_pages(h.link_list_update_locks_.data(),
                       h.link_list_update_locks_.size() * sizeof(std::mutex));
  release_zero_pages(h.link_list_locks_.data(),
                     h.link_list_locks_.size() * sizeof(std::mutex));
  size_t used = std::min<size_t>(h.cur_element_count, h.element_levels_.size());
  release_zero_pages(h.element_levels_.data() + used,
                     (h.element_levels_.size() - used) * sizeof(int));
}

// hnswlib's resizeIndex (the caller has the index exclusively), then the
// new lock array and levels handed back as above.
void resize_graph(hnswlib::HierarchicalNSW<float>& h, size_t capacity) {
  h.resizeIndex(capacity);
  release_unused(h, false);
}

} // namespace

struct vector_index::impl {
  std::string dir;
  vector_index_config cfg;
  std::unique_ptr<ip_space> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  payload_store payloads;
  int64_t watermark = 0;
  mutable std::shared_mutex mtx;
  std::mutex save_mtx; ///< one save() at a time (it writes snapshot.tmp)

  void make_empty() {
    hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      space.get(), cfg.initial_capacity, cfg.m, cfg.ef_construction);
    release_unused(*hnsw, true);
    hnsw->setEf(cfg.ef_search);
    payloads.clear();
    internal.clear();
    watermark = 0;
  }

  // Whether the stored point already has m's vector and ts.
  bool same_point(const memory& m) const {
    auto it = hnsw->label_lookup_.find(m.point_id);
    auto* p = payloads.find(m.point_id);
    if (it == hnsw->label_lookup_.end() || !p || m.vector.size() != cfg.dims)
      return false;
    return p->ts_ms == m.ts_ms
           && std::memcmp(hnsw->getDataByInternalId(it->second),
                          m.vector.data(), cfg.dims * sizeof(float))
                == 0;
  }

  // hnswlib internal id of each payload slot (equal unless a snapshot was
  // written in another order; kept explicitly so nothing relies on it).
  std::vector<hnswlib::tableint> internal;

  void note_internal(uint64_t label) {
    internal.push_back(hnsw->label_lookup_.at(label));
  }

  // Cosine of a unit query with a slot's vector, through hnswlib's SIMD
  // inner product (its distance is 1 - dot).
  float score_slot(const float* q, uint32_t slot) const {
    auto* v = hnsw->getDataByInternalId(internal[slot]);
    return 1.0f - space->get_dist_func()(q, v, space->get_dist_func_param());
  }

  std::vector<scored_point> exact(const float* q, size_t k,
                                  const payload_store::compiled_filter& cf,
                                  const payload_store::query_plan& qp,
                                  search_info& info) const;
  std::vector<scored_point> filtered_hnsw(
    const float* q, size_t k, const payload_store::compiled_filter& cf,
    const payload_store::query_plan& qp, search_info& info) const;

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
    release_unused(*hnsw, true);
    hnsw->setEf(cfg.ef_search);
    std::ifstream in{snap / "payloads.bin", std::ios::binary};
    uint64_t n = 0;
    // The graph may hold more elements than payloads: removed points.
    if (!read_pod(in, n) || n != count || hnsw->cur_element_count < count)
      return make_error(errc::index_error, "snapshot payload count mismatch");
    for (uint64_t i = 0; i < n; ++i) {
      auto id = payloads.read_point(in);
      if (!id || !hnsw->label_lookup_.count(*id))
        return make_error(errc::index_error, "truncated payload file");
      note_internal(*id);
    }
    watermark = wm;
    return caf::none;
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
  p->space = std::make_unique<ip_space>(cfg.dims);
  if (dir.empty()) { // in memory only
    p->make_empty();
    return std::unique_ptr<vector_index>{new vector_index(std::move(p))};
  }
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

caf::expected<size_t> vector_index::upsert(const std::vector<memory>& ms,
                                           double* helper_cpu_s) {
  if (helper_cpu_s)
    *helper_cpu_s = 0;
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  // Tells users_changed when this call interned a user, on every way out
  // (an exception may leave part of the batch added).
  struct new_users_notice {
    const impl& d;
    size_t before = d.payloads.interned_users().size();
    ~new_users_notice() {
      if (d.cfg.users_changed && d.payloads.interned_users().size() != before)
        d.cfg.users_changed->fetch_add(1, std::memory_order_release);
    }
  } notice{d};
  const double mult = 1.0 / std::log(static_cast<double>(d.cfg.m));
  // Checked first, so that a bad memory changes nothing.
  std::vector<size_t> fresh; // first occurrences of ids new to the index
  std::vector<size_t> rest;  // everything else, in input order
  {
    std::unordered_set<uint64_t> seen;
    seen.reserve(ms.size() * 2);
    for (size_t i = 0; i < ms.size(); ++i) {
      auto& m = ms[i];
      bool first = seen.insert(m.point_id).second;
      bool present = !first || d.payloads.contains(m.point_id);
      if ((!present || !m.vector.empty()) && m.vector.size() != d.cfg.dims)
        return make_error(errc::index_error,
                          "memory " + m.memory_id + " has "
                            + std::to_string(m.vector.size())
                            + " dims, collection has "
                            + std::to_string(d.cfg.dims));
      (present ? rest : fresh).push_back(i);
    }
  }
  size_t added = 0;
  try {
    explicit_levels levels{*d.hnsw};
    // 1. New points: the graph is sized once, then filled by the threads.
    if (!fresh.empty()) {
      size_t need = d.hnsw->cur_element_count + fresh.size();
      if (need > d.hnsw->max_elements_)
        resize_graph(*d.hnsw, std::max(need, d.hnsw->max_elements_ * 2));
      size_t from = 0;
      // hnswlib's concurrent insertion needs an entry point.
      if (d.hnsw->cur_element_count == 0) {
        auto& m = ms[fresh[0]];
        d.hnsw->addPoint(m.vector.data(), m.point_id, level_of(m.point_id, mult));
        from = 1;
      }
      std::atomic<size_t> next{from};
      auto work = [&] {
        for (size_t k = next++; k < fresh.size(); k = next++) {
          auto& m = ms[fresh[k]];
          d.hnsw->addPoint(m.vector.data(), m.point_id,
                           level_of(m.point_id, mult));
        }
      };
      size_t threads = fresh.size() - from < 64
                         ? 1
                         : std::max<size_t>(1, d.cfg.insert_threads);
      std::vector<std::thread> helpers;
      std::vector<double> helper_cpu(threads, 0);
      std::vector<std::exception_ptr> errors(threads);
      for (size_t t = 1; t < threads; ++t)
        helpers.emplace_back([&, t] {
          double c0 = thread_cpu_now();
          try {
            work();
          } catch (...) {
            errors[t] = std::current_exception();
            next = fresh.size(); // the others stop too
          }
          helper_cpu[t] = thread_cpu_now() - c0;
        });
      try {
        work();
      } catch (...) {
        errors[0] = std::current_exception();
        next = fresh.size();
      }
      for (auto& h : helpers)
        h.join();
      if (helper_cpu_s)
        for (auto c : helper_cpu)
          *helper_cpu_s += c;
      // Payload slots in input order, whatever order the threads took.
      for (auto i : fresh) {
        auto& m = ms[i];
        if (!d.hnsw->label_lookup_.count(m.point_id))
          continue; // not inserted: a thread failed (rethrown below)
        d.payloads.add(m.point_id, m.user_id, m.session_id, m.memory_type,
                       m.ts_ms, 0, m.tags, point_scope_of(m));
        d.note_internal(m.point_id);
        ++added;
      }
      for (auto& e : errors)
        if (e)
          std::rethrow_exception(e);
    }
    // 2. Points already present (replays, in-place updates) and repeats
    // within this call, in order, on this thread.
    for (auto i : rest) {
      auto& m = ms[i];
      bool present = d.payloads.contains(m.point_id);
      if (present) // a memory changed in place (its tags: sync_labels)
        d.payloads.set_importance(m.point_id,
                                  static_cast<float>(m.importance));
      if (present && (m.vector.empty() || d.same_point(m)))
        continue; // ids are deterministic: usually the very same point
      auto known = d.hnsw->label_lookup_.find(m.point_id);
      if (known != d.hnsw->label_lookup_.end()) {
        // A memory updated in place (or a removed point back): the new
        // vector, the point's links rebuilt. What hnswlib's addPoint does
        // on an existing label, with the configured probability of
        // rebuilding each neighbour's links instead of 1.0 (see
        // vector_index_config::update_neighbor_probability).
        if (d.hnsw->isMarkedDeleted(known->second))
          d.hnsw->unmarkDelete(m.point_id);
        d.hnsw->updatePoint(m.vector.data(), known->second,
                            d.cfg.update_neighbor_probability);
      } else {
        if (d.hnsw->cur_element_count >= d.hnsw->max_elements_)
          resize_graph(*d.hnsw, d.hnsw->max_elements_ * 2);
        d.hnsw->addPoint(m.vector.data(), m.point_id,
                         level_of(m.point_id, mult));
      }
      if (present) {
        d.payloads.update(m.point_id, m.ts_ms);
        continue;
      }
      d.payloads.add(m.point_id, m.user_id, m.session_id, m.memory_type,
                     m.ts_ms, 0, m.tags, point_scope_of(m));
      d.note_internal(m.point_id);
      ++added;
    }
  } catch (const std::exception& e) {
    return make_error(errc::index_error, e.what());
  }
  return added;
}

size_t vector_index::sync_labels(const std::vector<memory>& ms) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  size_t changed = 0;
  for (auto& m : ms)
    changed += impl_->payloads.set_labels(m.point_id, m.tags,
                                          static_cast<float>(m.importance))
                 ? 1
                 : 0;
  return changed;
}

std::optional<point_scope> vector_index::scope_of(uint64_t point_id) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.scope_of(point_id);
}

namespace {

// Caller holds the exclusive lock.
caf::expected<std::vector<uint64_t>>
remove_locked(hnswlib::HierarchicalNSW<float>& hnsw, payload_store& payloads,
              size_t dims, const std::vector<uint64_t>& ids) {
  auto removed = payloads.remove(ids);
  try {
    for (auto id : removed) {
      auto it = hnsw.label_lookup_.find(id);
      if (it == hnsw.label_lookup_.end())
        continue;
      if (!hnsw.isMarkedDeleted(it->second))
        hnsw.markDelete(id);
      std::memset(hnsw.getDataByInternalId(it->second), 0,
                  dims * sizeof(float));
    }
  } catch (const std::exception& e) {
    return make_error(errc::index_error, e.what());
  }
  return removed;
}

bool better(const scored_point& a, const scored_point& b) {
  return a.score > b.score || (a.score == b.score && a.point_id < b.point_id);
}

} // namespace

caf::expected<std::vector<uint64_t>>
vector_index::remove(const std::vector<uint64_t>& point_ids) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  return remove_locked(*impl_->hnsw, impl_->payloads, impl_->cfg.dims,
                       point_ids);
}

caf::expected<std::vector<uint64_t>>
vector_index::remove_user(const std::string& user_id, int64_t cutoff_ms) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  auto ids = impl_->payloads.user_points_until(user_id, cutoff_ms);
  return remove_locked(*impl_->hnsw, impl_->payloads, impl_->cfg.dims, ids);
}

const char* to_string(search_info::plan_kind k) {
  switch (k) {
    case search_info::plan_kind::exact: return "exact";
    case search_info::plan_kind::hnsw: return "hnsw";
    default: return "none";
  }
}

std::vector<scored_point>
vector_index::impl::exact(const float* q, size_t k,
                          const payload_store::compiled_filter& cf,
                          const payload_store::query_plan& qp,
                          search_info& info) const {
  info.plan = search_info::plan_kind::exact;
  std::vector<scored_point> all;
  payloads.for_each_match(cf, qp, [&](uint32_t slot) {
    all.push_back({payloads.id_of(slot), score_slot(q, slot)});
  });
  info.scored = all.size();
  auto n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end(), better);
  all.resize(n);
  return all;
}

std::vector<scored_point> vector_index::impl::filtered_hnsw(
  const float* q, size_t k, const payload_store::compiled_filter& cf,
  const payload_store::query_plan& qp, search_info& info) const {
  size_t total = hnsw->cur_element_count;
  double selectivity = std::max(qp.estimate, 1.0) / static_cast<double>(total);
  // Enough candidates that about max(ef_search, oversample * k) of them
  // match: the filtered search then sees as many matching candidates as an
  // unfiltered one at ef_search.
  double want = std::max(static_cast<double>(cfg.ef_search),
                         cfg.oversample * static_cast<double>(k))
                / selectivity;
  size_t kk = std::max(cfg.ef_search,
                       static_cast<size_t>(std::min(want, 1e12)));
  info.plan = search_info::plan_kind::hnsw;
  while (true) {
    kk = std::min(kk, total);
    // Past this size a HNSW search visits more vectors than the candidate
    // list holds: exact scoring is cheaper (and exact).
    if (kk * cfg.hnsw_visit_factor >= qp.upper_bound)
      return exact(q, k, cf, qp, info);
    ++info.rounds;
    info.scored = kk;
    auto res = hnsw->searchKnn(q, kk); // ef = max(ef_search, kk)
    std::vector<scored_point> hits;
    while (!res.empty()) {
      auto [dist, label] = res.top();
      res.pop();
      auto* p = payloads.find(label);
      if (p && payloads.matches(*p, cf))
        hits.push_back({label, 1.0f - dist});
    }
    if (hits.size() >= k || kk >= total) {
      std::sort(hits.begin(), hits.end(), better);
      if (hits.size() > k)
        hits.resize(k);
      return hits;
    }
    kk *= 4; // the estimate was too optimistic (correlated conditions)
  }
}

std::vector<scored_point>
vector_index::search(const float* query, size_t k, const vector_filter& f,
                     search_info* info) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  search_info local;
  auto& si = info ? *info : local;
  si = {};
  auto cf = d.payloads.compile(f);
  if (cf.empty || k == 0)
    return {};
  auto qp = d.payloads.plan(cf);
  si.upper_bound = qp.upper_bound;
  si.estimate = qp.estimate;
  if (qp.upper_bound == 0)
    return {};
  if (qp.upper_bound <= d.cfg.exact_threshold
      || qp.upper_bound <= k * d.cfg.hnsw_visit_factor)
    return d.exact(query, k, cf, qp, si);
  return d.filtered_hnsw(query, k, cf, qp, si);
}

void vector_index::session_turns(uint64_t point_id, size_t n,
                                 std::vector<uint64_t>& before,
                                 std::vector<uint64_t>& after) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  impl_->payloads.session_turns(point_id, n, memory_types::conversation,
                                before, after);
}

std::vector<float>
vector_index::score_points(const float* query,
                           const std::vector<uint64_t>& ids) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  std::vector<float> out(ids.size(), std::numeric_limits<float>::quiet_NaN());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = d.hnsw->label_lookup_.find(ids[i]);
    if (it == d.hnsw->label_lookup_.end() || !d.payloads.contains(ids[i]))
      continue;
    out[i] = 1.0f
             - d.space->get_dist_func()(query,
                                        d.hnsw->getDataByInternalId(it->second),
                                        d.space->get_dist_func_param());
  }
  return out;
}

std::vector<bool> vector_index::matching(const std::vector<uint64_t>& ids,
                                         const vector_filter& filter) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  auto cf = d.payloads.compile(filter);
  std::vector<bool> out(ids.size(), false);
  if (cf.empty)
    return out;
  for (size_t i = 0; i < ids.size(); ++i)
    if (auto* p = d.payloads.find(ids[i]))
      out[i] = d.payloads.matches(*p, cf);
  return out;
}

std::vector<payload_store::adjacent>
vector_index::adjacent_turns(const std::vector<uint64_t>& ids) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.adjacent_turns(ids, memory_types::conversation);
}

caf::error vector_index::save(int64_t watermark) {
  std::lock_guard<std::mutex> one_save{impl_->save_mtx};
  // Shared: hnswlib's saveIndex only reads, so searches (the API, the
  // embedding stage's dedup lookups) go on while a snapshot is written;
  // addPoint must wait (it would race with saveIndex).
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  if (d.dir.empty())
    return make_error(errc::index_error, "vector index: in memory only");
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
      // Removed points stay in the graph (marked deleted, vector zeroed)
      // but have no payload: skipped.
      for (size_t i = 0; i < d.hnsw->cur_element_count; ++i) {
        auto label = d.hnsw->getExternalLabel(static_cast<unsigned>(i));
        if (d.payloads.contains(label))
          d.payloads.write_point(out, label);
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
  guard.unlock();
  std::unique_lock<std::shared_mutex> exclusive{impl_->mtx};
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
  return impl_->payloads.contains(point_id);
}

std::optional<std::pair<int64_t, int64_t>>
vector_index::user_time_span(const std::string& user_id) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.user_time_span(user_id);
}

size_t vector_index::user_size(const std::string& user_id) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.user_size(user_id);
}

std::vector<uint64_t> vector_index::point_ids() const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.point_ids();
}

std::vector<std::string> vector_index::users() const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.users();
}

size_t vector_index::users_since(size_t from,
                                 std::vector<std::string>& out) const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& names = impl_->payloads.interned_users();
  for (size_t i = from; i < names.size(); ++i)
    out.push_back(names[i]);
  return std::max(from, names.size());
}

} // namespace agentmem::storage
