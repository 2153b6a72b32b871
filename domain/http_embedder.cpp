#include "domain/http_embedder.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <list>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <xxhash.h>

#include "domain/http_pool.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"

namespace agentmem::domain {

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

struct key128 {
  uint64_t lo, hi;
  bool operator==(const key128& o) const {
    return lo == o.lo && hi == o.hi;
  }
};

struct key_hash {
  size_t operator()(const key128& k) const {
    return static_cast<size_t>(k.lo);
  }
};

key128 cache_key(const std::string& space, std::string_view text) {
  // space NUL text: model names and input types hold no NUL, so (space,
  // text) is unique; space is the model, or model NUL input_type
  thread_local std::string buf;
  buf.assign(space);
  buf.push_back('\0');
  buf.append(text);
  auto h = XXH3_128bits(buf.data(), buf.size());
  return {h.low64, h.high64};
}

// 16 bytes, little-endian lo then hi: the persistent store's key.
std::string key_bytes(const key128& k) {
  std::string b(16, '\0');
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<char>((k.lo >> (8 * i)) & 0xff);
    b[8 + i] = static_cast<char>((k.hi >> (8 * i)) & 0xff);
  }
  return b;
}

// Bounded LRU of vectors; bytes counts vector payload plus a fixed
// per-entry overhead estimate.
class lru_cache {
public:
  lru_cache(size_t max_entries, size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {
  }

  bool get(const key128& k, std::vector<float>& out) {
    std::lock_guard<std::mutex> g{mtx_};
    auto i = map_.find(k);
    if (i == map_.end())
      return false;
    items_.splice(items_.begin(), items_, i->second);
    out = i->second->second;
    return true;
  }

  void put(const key128& k, const std::vector<float>& v) {
    if (max_entries_ == 0)
      return;
    auto cost = entry_cost(v);
    if (cost > max_bytes_)
      return;
    std::lock_guard<std::mutex> g{mtx_};
    if (map_.count(k))
      return;
    items_.emplace_front(k, v);
    map_.emplace(k, items_.begin());
    bytes_ += cost;
    while (map_.size() > max_entries_ || bytes_ > max_bytes_) {
      auto& last = items_.back();
      bytes_ -= entry_cost(last.second);
      map_.erase(last.first);
      items_.pop_back();
    }
  }

  size_t size() const {
    std::lock_guard<std::mutex> g{mtx_};
    return map_.size();
  }

  void clear() {
    std::lock_guard<std::mutex> g{mtx_};
    map_.clear();
    items_.clear();
    bytes_ = 0;
  }

private:
  static size_t entry_cost(const std::vector<float>& v) {
    return v.size() * sizeof(float) + 96;
  }

  size_t max_entries_, max_bytes_;
  mutable std::mutex mtx_;
  std::list<std::pair<key128, std::vector<float>>> items_;
  std::unordered_map<key128, decltype(items_)::iterator, key_hash> map_;
  size_t bytes_ = 0;
};

// Counting semaphore bounding requests in flight over all callers.
class slots {
public:
  explicit slots(size_t n) : free_(n) {
  }
  void acquire() {
    std::unique_lock<std::mutex> g{mtx_};
    cv_.wait(g, [&] { return free_ > 0; });
    --free_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> g{mtx_};
      ++free_;
    }
    cv_.notify_one();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  size_t free_;
};

} // namespace

struct http_embedder::impl {
  http_embedder_config cfg;
  std::string origin;    // scheme://host[:port]
  std::string path;      // {prefix}/embeddings
  lru_cache cache;
  slots in_flight;
  http_pool clients;
  std::atomic<uint64_t> n_requests{0}, n_errors{0}, n_retries{0}, n_hits{0},
    n_misses{0};
  metrics::counter& m_requests;
  metrics::counter& m_errors;
  metrics::counter& m_retries;
  metrics::counter& m_hits;
  metrics::counter& m_misses;
  metrics::histogram& m_latency;

  impl(http_embedder_config c, std::string o, std::string p)
    : cfg(std::move(c)),
      origin(std::move(o)),
      path(std::move(p)),
      cache(cfg.cache_entries, cfg.cache_bytes),
      in_flight(cfg.max_in_flight),
      clients(origin, cfg.connect_timeout, cfg.request_timeout, cfg.api_key),
      m_requests(metrics::global().get_counter(
        "agentmem_embedding_requests_total",
        "HTTP requests sent to the embedding provider (each try)")),
      m_errors(embedding_errors_counter()),
      m_retries(metrics::global().get_counter(
        "agentmem_embedding_retries_total",
        "Embedding requests retried after a failure")),
      m_hits(metrics::global().get_counter(
        "agentmem_embedding_cache_hits_total",
        "Texts whose embedding came from the cache")),
      m_misses(metrics::global().get_counter(
        "agentmem_embedding_cache_misses_total",
        "Texts sent to the embedding provider")),
      m_latency(metrics::global().get_histogram(
        "agentmem_embedding_request_duration_seconds",
        "Latency of one embedding HTTP request (each try)",
        metrics::latency_buckets())) {
  }

  std::chrono::milliseconds backoff(int retry, std::chrono::milliseconds
                                                 retry_after) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    double base = static_cast<double>(cfg.backoff_base.count())
                  * std::pow(2.0, retry - 1);
    base = std::min(base, static_cast<double>(cfg.backoff_max.count()));
    std::uniform_real_distribution<double> jitter{0.5, 1.0};
    auto d = std::chrono::milliseconds{
      static_cast<int64_t>(base * jitter(rng))};
    d = std::max(d, retry_after);
    return std::min(d, cfg.backoff_max);
  }

  // One request with retries: fills out[i] for each of `texts`.
  caf::error post(const std::vector<std::string_view>& texts,
                  const std::string& input_type,
                  std::vector<std::vector<float>>& out) {
    json body;
    body["model"] = cfg.model;
    if (!input_type.empty())
      body["input_type"] = input_type;
    auto& in = body["input"] = json::array();
    for (auto t : texts)
      in.push_back(std::string{t});
    auto payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
    caf::error last;
    for (int attempt = 0; attempt <= cfg.max_retries; ++attempt) {
      std::chrono::milliseconds retry_after{0};
      if (attempt > 0) {
        ++n_retries;
        m_retries.inc();
      }
      in_flight.acquire();
      auto client = clients.take();
      auto t0 = clock_type::now();
      auto res = client->Post(path.c_str(), payload, "application/json");
      std::chrono::duration<double> dt = clock_type::now() - t0;
      in_flight.release();
      ++n_requests;
      m_requests.inc();
      m_latency.observe(dt.count());
      bool retryable = true;
      if (!res) {
        auto e = res.error();
        // a broken connection is not reused
        client.reset();
        last = make_error(
          e == httplib::Error::Read || e == httplib::Error::Write
              || e == httplib::Error::ConnectionTimeout
            ? errc::timeout
            : errc::io_error,
          "embedding request to " + origin + path + " failed: "
            + httplib::to_string(e) + " (after "
            + std::to_string(attempt + 1) + " tries)");
      } else if (res->status == 200) {
        clients.give_back(std::move(client));
        return parse(res->body, texts.size(), out);
      } else {
        clients.give_back(std::move(client));
        auto s = res->status;
        retryable = s == 408 || s == 429 || s >= 500;
        if (res->has_header("Retry-After")) {
          auto v = res->get_header_value("Retry-After");
          char* end = nullptr;
          auto secs = std::strtol(v.c_str(), &end, 10);
          if (end != v.c_str() && secs > 0)
            retry_after = std::chrono::milliseconds{secs * 1000};
        }
        last = make_error(retryable ? errc::io_error : errc::invalid_request,
                          "embedding provider " + origin + path
                            + " answered HTTP " + std::to_string(s) + ": "
                            + scrub_secret(res->body, cfg.api_key) + " (after "
                            + std::to_string(attempt + 1) + " tries)");
      }
      ++n_errors;
      m_errors.inc();
      if (!retryable || attempt == cfg.max_retries)
        break;
      std::this_thread::sleep_for(backoff(attempt + 1, retry_after));
    }
    return last;
  }

  caf::error parse(const std::string& body, size_t n,
                   std::vector<std::vector<float>>& out) {
    auto bad = [&](const std::string& why) {
      return make_error(errc::io_error,
                        "malformed reply from embedding provider " + origin
                          + path + ": " + why);
    };
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return bad("not a JSON object");
    auto data = j.find("data");
    if (data == j.end() || !data->is_array())
      return bad("no data array");
    if (data->size() != n)
      return bad("expected " + std::to_string(n) + " embeddings, got "
                 + std::to_string(data->size()));
    out.assign(n, {});
    std::vector<bool> seen(n, false);
    for (size_t pos = 0; pos < n; ++pos) {
      auto& d = (*data)[pos];
      size_t idx = pos;
      if (d.contains("index")) {
        if (!d["index"].is_number_unsigned() || d["index"].get<size_t>() >= n)
          return bad("index out of range");
        idx = d["index"].get<size_t>();
      }
      if (seen[idx])
        return bad("index " + std::to_string(idx) + " repeated");
      seen[idx] = true;
      auto e = d.find("embedding");
      if (e == d.end() || !e->is_array())
        return bad("data[" + std::to_string(pos) + "] has no embedding array");
      if (e->size() != cfg.dims)
        return bad("model " + cfg.model + " returned "
                   + std::to_string(e->size())
                   + " dims, configured embedding.dims is "
                   + std::to_string(cfg.dims));
      auto& v = out[idx];
      v.reserve(cfg.dims);
      for (auto& x : *e) {
        if (!x.is_number())
          return bad("non-numeric embedding value");
        v.push_back(x.get<float>());
      }
      normalise_l2(v);
    }
    return caf::none;
  }
};

caf::expected<std::shared_ptr<http_embedder>>
http_embedder::make(http_embedder_config cfg) {
  auto bad = [](std::string why) {
    return make_error(errc::invalid_config, "embedding: " + std::move(why));
  };
  auto ep = parse_endpoint(cfg.base_url, "embedding");
  if (!ep)
    return ep.error();
  if (cfg.model.empty())
    return bad("model is required for provider openai");
  if (cfg.dims == 0 || cfg.dims > 8192)
    return bad("dims must be in 1..8192");
  if (cfg.max_batch == 0 || cfg.max_batch > 2048)
    return bad("max_batch must be in 1..2048");
  if (cfg.max_in_flight == 0)
    return bad("max_in_flight must be at least 1");
  if (cfg.max_retries < 0)
    return bad("max_retries must not be negative");
  auto path = ep->prefix + "/embeddings";
  std::unique_ptr<impl> p{new impl(std::move(cfg), ep->origin, path)};
  return std::shared_ptr<http_embedder>{new http_embedder(std::move(p))};
}

http_embedder::http_embedder(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

http_embedder::~http_embedder() = default;

size_t http_embedder::dims() const {
  return impl_->cfg.dims;
}

std::string http_embedder::model() const {
  return impl_->cfg.model;
}

caf::error http_embedder::forget_cached() {
  impl_->cache.clear();
  if (impl_->cfg.persistent)
    return impl_->cfg.persistent->clear();
  return caf::none;
}

http_embedder_stats http_embedder::stats() const {
  http_embedder_stats s;
  s.requests = impl_->n_requests;
  s.errors = impl_->n_errors;
  s.retries = impl_->n_retries;
  s.cache_hits = impl_->n_hits;
  s.cache_misses = impl_->n_misses;
  s.cache_size = impl_->cache.size();
  return s;
}

caf::error http_embedder::embed(const std::vector<std::string_view>& texts,
                                std::vector<std::vector<float>>& out) {
  return embed_with(texts, impl_->cfg.passage_prefix,
                    impl_->cfg.passage_input_type, out);
}

caf::error
http_embedder::embed_queries(const std::vector<std::string_view>& texts,
                             std::vector<std::vector<float>>& out) {
  return embed_with(texts, impl_->cfg.query_prefix,
                    impl_->cfg.query_input_type, out);
}

std::string http_embedder::instructions() const {
  auto& c = impl_->cfg;
  std::string out;
  for (auto [name, value] :
       {std::pair<const char*, const std::string*>{"query_prefix",
                                                   &c.query_prefix},
        {"passage_prefix", &c.passage_prefix},
        {"query_input_type", &c.query_input_type},
        {"passage_input_type", &c.passage_input_type}}) {
    if (value->empty())
      continue;
    if (!out.empty())
      out += ';';
    out += name;
    out += '=';
    out += json(*value).dump();
  }
  return out;
}

caf::error http_embedder::embed_with(const std::vector<std::string_view>& raw,
                                     const std::string& prefix,
                                     const std::string& input_type,
                                     std::vector<std::vector<float>>& out) {
  auto& d = *impl_;
  std::vector<std::string> prefixed;
  std::vector<std::string_view> views;
  if (!prefix.empty()) {
    prefixed.reserve(raw.size());
    views.reserve(raw.size());
    for (auto t : raw) {
      prefixed.push_back(prefix);
      prefixed.back().append(t);
    }
    for (auto& t : prefixed)
      views.emplace_back(t);
  }
  const auto& texts = prefix.empty() ? raw : views;
  auto space = input_type.empty() ? d.cfg.model
                                  : d.cfg.model + '\0' + input_type;
  out.assign(texts.size(), {});
  // Cache lookups; misses deduplicated by key (first position wins).
  std::vector<key128> keys(texts.size());
  std::unordered_map<key128, size_t, key_hash> miss_slot;
  std::vector<size_t> miss_first; // positions sent, one per distinct miss
  std::vector<size_t> slot_of(texts.size(), SIZE_MAX);
  uint64_t hits = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    keys[i] = cache_key(space, texts[i]);
    if (d.cache.get(keys[i], out[i])) {
      ++hits;
      continue;
    }
    auto [it, fresh] = miss_slot.emplace(keys[i], miss_first.size());
    if (fresh)
      miss_first.push_back(i);
    slot_of[i] = it->second;
  }
  // Second level: the persistent store answers what the LRU did not.
  if (d.cfg.persistent && !miss_first.empty()) {
    std::vector<std::string> pkeys;
    pkeys.reserve(miss_first.size());
    for (auto i : miss_first)
      pkeys.push_back(key_bytes(keys[i]));
    std::vector<std::vector<float>> found;
    d.cfg.persistent->get(pkeys, found);
    std::vector<size_t> still;
    std::vector<size_t> new_slot(miss_first.size(), SIZE_MAX);
    std::vector<std::vector<float>> known(miss_first.size());
    for (size_t k = 0; k < miss_first.size(); ++k) {
      if (k < found.size() && found[k].size() == d.cfg.dims) {
        d.cache.put(keys[miss_first[k]], found[k]);
        known[k] = std::move(found[k]);
      } else {
        new_slot[k] = still.size();
        still.push_back(miss_first[k]);
      }
    }
    for (size_t i = 0; i < texts.size(); ++i) {
      if (slot_of[i] == SIZE_MAX)
        continue;
      auto k = slot_of[i];
      if (new_slot[k] == SIZE_MAX) {
        out[i] = known[k];
        slot_of[i] = SIZE_MAX;
        ++hits;
      } else {
        slot_of[i] = new_slot[k];
      }
    }
    miss_first = std::move(still);
  }
  d.n_hits += hits;
  d.m_hits.inc(static_cast<double>(hits));
  d.n_misses += miss_first.size();
  d.m_misses.inc(static_cast<double>(miss_first.size()));
  if (miss_first.empty())
    return caf::none;
  // Requests of at most max_batch inputs, run by up to max_in_flight
  // workers (the global slots bound what is really in flight).
  auto nreq = (miss_first.size() + d.cfg.max_batch - 1) / d.cfg.max_batch;
  std::vector<std::vector<float>> fresh(miss_first.size());
  std::vector<caf::error> errs(nreq);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t r; !failed && (r = next++) < nreq;) {
      auto lo = r * d.cfg.max_batch;
      auto hi = std::min(lo + d.cfg.max_batch, miss_first.size());
      std::vector<std::string_view> part;
      part.reserve(hi - lo);
      for (auto k = lo; k < hi; ++k)
        part.push_back(texts[miss_first[k]]);
      std::vector<std::vector<float>> vecs;
      if (auto err = d.post(part, input_type, vecs)) {
        errs[r] = std::move(err);
        failed = true;
        return;
      }
      // Cached per request: a call that fails later (and is replayed)
      // does not send what already succeeded again.
      std::vector<std::pair<std::string, std::vector<float>>> persist;
      for (auto k = lo; k < hi; ++k) {
        d.cache.put(keys[miss_first[k]], vecs[k - lo]);
        if (d.cfg.persistent)
          persist.emplace_back(key_bytes(keys[miss_first[k]]), vecs[k - lo]);
        fresh[k] = std::move(vecs[k - lo]);
      }
      if (d.cfg.persistent)
        d.cfg.persistent->put(persist);
    }
  };
  auto nworkers = std::min(nreq, d.cfg.max_in_flight);
  std::vector<std::thread> workers;
  for (size_t w = 1; w < nworkers; ++w)
    workers.emplace_back(work);
  work();
  for (auto& t : workers)
    t.join();
  for (auto& e : errs)
    if (e)
      return e;
  for (size_t i = 0; i < texts.size(); ++i)
    if (slot_of[i] != SIZE_MAX)
      out[i] = fresh[slot_of[i]];
  return caf::none;
}

metrics::counter& embedding_errors_counter() {
  return metrics::global().get_counter(
    "agentmem_embedding_errors_total",
    "Embedding requests that failed (connection error or bad status)");
}

caf::expected<std::shared_ptr<embedder>>
make_embedder(const std::string& provider, size_t dims,
              const http_embedder_config& http) {
  if (provider == "openai") {
    auto cfg = http;
    cfg.dims = dims;
    auto e = http_embedder::make(std::move(cfg));
    if (!e)
      return e.error();
    return std::shared_ptr<embedder>{*e};
  }
  return make_embedder(provider, dims);
}

} // namespace agentmem::domain
