#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace agentmem::domain {

/// A mergeable latency sketch with logarithmic buckets (Masson, Rim, Lee,
/// "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
/// Relative-Error Guarantees", VLDB 2019). A value v > 0 goes to bucket
/// k = ceil(log_gamma(v)) with gamma = (1 + alpha) / (1 - alpha), i.e. the
/// interval (gamma^(k-1), gamma^k]; bucket -1 holds values <= 0. Every
/// quantile it answers is within relative error `alpha` (1 %) of the exact
/// order statistic x[floor(q (n - 1))] (0-based, sorted), whatever the
/// data; merging two sketches adds bucket counts, so hours merge into days
/// and ranges without loss. Units are the caller's (the rollups use ms).
/// The same bucket mapping is read back in SQL by
/// `analytics_sketch_quantile` (storage/migrations/040_analytics.sql).
class latency_sketch {
public:
  /// Relative accuracy alpha of every quantile (0.01 = 1 %).
  static constexpr double relative_accuracy = 0.01;
  /// gamma = (1 + alpha) / (1 - alpha).
  static constexpr double gamma = (1 + relative_accuracy)
                                  / (1 - relative_accuracy);
  /// Key of the bucket that holds values <= 0.
  static constexpr int32_t zero_key = -1;

  /// Bucket key of `v` (see the class comment).
  static int32_t key(double v);

  /// The value a bucket stands for: 2 gamma^k / (gamma + 1), which is
  /// (1 - alpha) gamma^k, within alpha of every value of the bucket; 0 for
  /// zero_key.
  static double value(int32_t key);

  /// Counts one value.
  void add(double v) { add_key(key(v), 1); }

  /// Adds `n` to a bucket (n > 0).
  void add_key(int32_t key, int64_t n) { buckets_[key] += n; }

  /// Adds every bucket of `other`.
  void merge(const latency_sketch& other);

  /// Values counted.
  int64_t count() const;

  /// The q-quantile (0 <= q <= 1): value() of the bucket holding the
  /// 0-based rank floor(q (count - 1)); 0 when empty.
  double quantile(double q) const;

  /// Buckets in key order: key -> count.
  const std::map<int32_t, int64_t>& buckets() const { return buckets_; }

  /// JSON object {"<key>": count, ...} in key order, the form stored in
  /// analytics_rollups.latency_sketch ("{}" when empty).
  std::string to_json() const;

private:
  std::map<int32_t, int64_t> buckets_;
};

} // namespace agentmem::domain
