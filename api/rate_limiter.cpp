#include "api/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace agentmem::api {

rate_limiter::rate_limiter(double rate_per_s, double burst)
  : rate_(rate_per_s), burst_(std::max(1.0, burst)) {
}

int rate_limiter::acquire(const std::string& key, clock::time_point now) {
  if (rate_ <= 0)
    return 0;
  std::lock_guard<std::mutex> guard{mtx_};
  auto [it, fresh] = buckets_.try_emplace(key, bucket{burst_, now});
  auto& b = it->second;
  if (!fresh && now > b.last) {
    double dt = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + dt * rate_);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  double wait = (1.0 - b.tokens) / rate_;
  return std::max(1, static_cast<int>(std::ceil(wait)));
}

} // namespace agentmem::api
