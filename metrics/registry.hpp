#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace agentmem::metrics {

/// Label set of one series, e.g. {{"reason","invalid_json"}}; order kept.
using labels = std::vector<std::pair<std::string, std::string>>;

/// Monotonic counter (Prometheus `counter`); thread-safe, lock-free.
class counter {
public:
  void inc(double v = 1.0) noexcept;
  double value() const noexcept;

private:
  std::atomic<double> value_{0.0};
};

/// Settable value (Prometheus `gauge`); thread-safe, lock-free.
class gauge {
public:
  void set(double v) noexcept;
  void add(double v) noexcept;
  double value() const noexcept;

private:
  std::atomic<double> value_{0.0};
};

/// Cumulative histogram with fixed upper bounds (Prometheus `histogram`);
/// observe() is lock-free. Bounds are in the metric's base unit (seconds).
class histogram {
public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v) noexcept;
  /// Snapshot: per-bucket (non-cumulative) counts, then sum and count.
  struct snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;
    double sum = 0;
    uint64_t count = 0;
  };
  snapshot snap() const;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_; // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

/// Default latency buckets in seconds, 0.5 ms .. 30 s.
std::vector<double> latency_buckets();
/// Batch-size buckets (events), 1 .. 20,000.
std::vector<double> size_buckets();

/// A set of metric families, rendered in the Prometheus text exposition
/// format 0.0.4. Families are created on first use and live as long as the
/// registry; the returned references stay valid. Names must follow
/// Prometheus conventions (checked by `promtool check metrics` in tests).
class registry {
public:
  counter& get_counter(const std::string& name, const std::string& help,
                       const labels& l = {});
  gauge& get_gauge(const std::string& name, const std::string& help,
                   const labels& l = {});
  histogram& get_histogram(const std::string& name, const std::string& help,
                           const std::vector<double>& bounds,
                           const labels& l = {});
  /// A gauge whose value `f` computes at each render() (e.g. readiness
  /// from live state). `f` runs under the registry's lock: it must not
  /// call the registry, and should be cheap. Replaces an earlier function
  /// of the same series.
  void set_gauge_function(const std::string& name, const std::string& help,
                          std::function<double()> f, const labels& l = {});

  /// Drops one labelled series of a gauge family (e.g. the lag of a
  /// partition this node no longer owns). References to it dangle after.
  void remove_gauge(const std::string& name, const labels& l);
  /// The whole registry in text format 0.0.4 (families sorted by name).
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind k;
    std::string help;
    std::map<std::string, std::unique_ptr<counter>> counters;
    std::map<std::string, std::unique_ptr<gauge>> gauges;
    std::map<std::string, std::function<double()>> gauge_functions;
    std::map<std::string, std::unique_ptr<histogram>> histograms;
  };
  family& fam(const std::string& name, const std::string& help, kind k);
  mutable std::mutex mtx_;
  std::map<std::string, family> families_;
};

/// The process-wide registry that `/metrics` serves.
registry& global();

/// Escapes a label value for the exposition format (\\, \", \n).
std::string escape_label_value(const std::string& v);

} // namespace agentmem::metrics
