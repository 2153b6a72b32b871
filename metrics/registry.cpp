#include "metrics/registry.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace agentmem::metrics {

namespace {

void atomic_add(std::atomic<double>& a, double v) noexcept {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed))
    ;
}

std::string fmt(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v))
    return "NaN";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // Shortest form that parses back to the same double (le="0.1", not
  // le="0.10000000000000001").
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

std::string render_labels(const labels& l, const std::string& extra_k = {},
                          const std::string& extra_v = {}) {
  if (l.empty() && extra_k.empty())
    return {};
  std::string out = "{";
  bool first = true;
  for (auto& [k, v] : l) {
    if (!first)
      out += ',';
    first = false;
    out += k + "=\"" + escape_label_value(v) + '"';
  }
  if (!extra_k.empty()) {
    if (!first)
      out += ',';
    out += extra_k + "=\"" + extra_v + '"';
  }
  out += '}';
  return out;
}

// Series keys are the rendered label sets; we keep the labels to re-render.
std::string key_of(const labels& l) {
  return render_labels(l);
}

std::string escape_help(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace

void counter::inc(double v) noexcept {
  if (v > 0)
    atomic_add(value_, v);
}
double counter::value() const noexcept {
  return value_.load(std::memory_order_relaxed);
}

void gauge::set(double v) noexcept {
  value_.store(v, std::memory_order_relaxed);
}
void gauge::add(double v) noexcept {
  atomic_add(value_, v);
}
double gauge::value() const noexcept {
  return value_.load(std::memory_order_relaxed);
}

histogram::histogram(std::vector<double> upper_bounds)
  : bounds_(std::move(upper_bounds)),
    counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0);
}

void histogram::observe(double v) noexcept {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

histogram::snapshot histogram::snap() const {
  snapshot s;
  s.bounds = bounds_;
  for (size_t i = 0; i <= bounds_.size(); ++i)
    s.counts.push_back(counts_[i].load(std::memory_order_relaxed));
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = count_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10, 30};
}

std::vector<double> size_buckets() {
  return {1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000};
}

registry::family& registry::fam(const std::string& name,
                                const std::string& help, kind k) {
  auto [it, added] = families_.try_emplace(name);
  if (added) {
    it->second.k = k;
    it->second.help = help;
  } else if (it->second.k != k) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return it->second;
}

counter& registry::get_counter(const std::string& name,
                               const std::string& help, const labels& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = fam(name, help, kind::counter);
  auto& slot = f.counters[key_of(l)];
  if (!slot)
    slot = std::make_unique<counter>();
  return *slot;
}

gauge& registry::get_gauge(const std::string& name, const std::string& help,
                           const labels& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = fam(name, help, kind::gauge);
  auto& slot = f.gauges[key_of(l)];
  if (!slot)
    slot = std::make_unique<gauge>();
  return *slot;
}

histogram& registry::get_histogram(const std::string& name,
                                   const std::string& help,
                                   const std::vector<double>& bounds,
                                   const labels& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& f = fam(name, help, kind::histogram);
  auto& slot = f.histograms[key_of(l)];
  if (!slot)
    slot = std::make_unique<histogram>(bounds);
  return *slot;
}

namespace {

// The stored key is "{a="x",b="y"}"; splice an extra label ("le") into it.
std::string with_le(const std::string& key, const std::string& le) {
  if (key.empty())
    return "{le=\"" + le + "\"}";
  return key.substr(0, key.size() - 1) + ",le=\"" + le + "\"}";
}

} // namespace

void registry::remove_gauge(const std::string& name, const labels& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = families_.find(name);
  if (it != families_.end() && it->second.k == kind::gauge) {
    it->second.gauges.erase(key_of(l));
    it->second.gauge_functions.erase(key_of(l));
  }
}

void registry::set_gauge_function(const std::string& name,
                                  const std::string& help,
                                  std::function<double()> f,
                                  const labels& l) {
  std::lock_guard<std::mutex> guard{mtx_};
  fam(name, help, kind::gauge).gauge_functions[key_of(l)] = std::move(f);
}

std::string registry::render() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::ostringstream out;
  for (auto& [name, f] : families_) {
    out << "# HELP " << name << ' ' << escape_help(f.help) << '\n';
    switch (f.k) {
      case kind::counter:
        out << "# TYPE " << name << " counter\n";
        for (auto& [key, c] : f.counters)
          out << name << key << ' ' << fmt(c->value()) << '\n';
        break;
      case kind::gauge:
        out << "# TYPE " << name << " gauge\n";
        for (auto& [key, g] : f.gauges)
          out << name << key << ' ' << fmt(g->value()) << '\n';
        for (auto& [key, fn] : f.gauge_functions)
          out << name << key << ' ' << fmt(fn()) << '\n';
        break;
      case kind::histogram:
        out << "# TYPE " << name << " histogram\n";
        for (auto& [key, h] : f.histograms) {
          auto s = h->snap();
          uint64_t cum = 0;
          for (size_t i = 0; i < s.bounds.size(); ++i) {
            cum += s.counts[i];
            out << name << "_bucket" << with_le(key, fmt(s.bounds[i])) << ' '
                << cum << '\n';
          }
          cum += s.counts.back();
          out << name << "_bucket" << with_le(key, "+Inf") << ' ' << cum
              << '\n';
          out << name << "_sum" << key << ' ' << fmt(s.sum) << '\n';
          out << name << "_count" << key << ' ' << cum << '\n';
        }
        break;
    }
  }
  return out.str();
}

registry& global() {
  static registry instance;
  return instance;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

} // namespace agentmem::metrics
