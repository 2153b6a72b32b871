#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace agentmem::api {

/// Per-key token bucket (the classic leaky-bucket-as-meter of RFC 2697's
/// single-rate form): each key's bucket holds up to `burst` requests and
/// refills at `rate` requests per second. Keys are token names, so memory is
/// bounded by the number of configured tokens. Thread-safe.
class rate_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// rate <= 0 disables limiting (every acquire() succeeds). burst < 1 is
  /// treated as 1.
  rate_limiter(double rate_per_s, double burst);

  /// Takes one request from `key`'s bucket at time `now`. Returns 0 when
  /// allowed, else the whole seconds (>= 1) after which one request will be
  /// available again (the Retry-After value).
  int acquire(const std::string& key, clock::time_point now = clock::now());

  bool enabled() const {
    return rate_ > 0;
  }

private:
  struct bucket {
    double tokens;
    clock::time_point last;
  };
  double rate_;
  double burst_;
  std::mutex mtx_;
  std::map<std::string, bucket> buckets_;
};

} // namespace agentmem::api
