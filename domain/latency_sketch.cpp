#include "domain/latency_sketch.hpp"

#include <algorithm>
#include <cmath>

namespace agentmem::domain {

int32_t latency_sketch::key(double v) {
  if (!(v > 0))
    return zero_key;
  static const double log_gamma = std::log(gamma);
  // Values are ms (at most 2^32 by the contract): keys stay far below
  // 2^31, and the smallest positive double maps to about -35000.
  return static_cast<int32_t>(std::ceil(std::log(v) / log_gamma));
}

double latency_sketch::value(int32_t k) {
  if (k == zero_key)
    return 0.0;
  return 2.0 * std::pow(gamma, k) / (gamma + 1.0);
}

void latency_sketch::merge(const latency_sketch& other) {
  for (auto& [k, n] : other.buckets_)
    buckets_[k] += n;
}

int64_t latency_sketch::count() const {
  int64_t n = 0;
  for (auto& kv : buckets_)
    n += kv.second;
  return n;
}

double latency_sketch::quantile(double q) const {
  auto n = count();
  if (n == 0)
    return 0.0;
  q = std::min(1.0, std::max(0.0, q));
  auto rank = static_cast<int64_t>(std::floor(q * static_cast<double>(n - 1)));
  int64_t seen = 0;
  for (auto& [k, c] : buckets_) {
    seen += c;
    if (seen > rank)
      return value(k);
  }
  return value(buckets_.rbegin()->first);
}

std::string latency_sketch::to_json() const {
  std::string out = "{";
  for (auto& [k, n] : buckets_) {
    if (out.size() > 1)
      out += ',';
    out += '"';
    out += std::to_string(k);
    out += "\":";
    out += std::to_string(n);
  }
  out += '}';
  return out;
}

} // namespace agentmem::domain
