#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

namespace agentmem::storage {

/// Ranges of `memories.seq` (inclusive) whose rows this node's pipeline has
/// already applied to its derived state (vector index, keyword index,
/// RocksDB docs) right after committing them. The tailer of `memories`
/// (sync_derived_state) leaves these rows out of its reads instead of
/// reading every memory this node wrote back from Postgres (vectors as
/// hex text) and applying it a second time; it still moves its watermark
/// over them. A range holds exactly one batch transaction's rows because
/// every seq is allocated under postgres_store's memories advisory lock
/// (docs/guarantees.md).
///
/// Between its commit and its indexing a range is pending: the tailer
/// reads nothing at or beyond the oldest pending range (it would apply
/// those rows a second time), unless the range has been pending longer
/// than `pending_timeout` (its batch failed after the commit and was
/// replayed: the tailer then reads the rows itself). Thread-safe.
class applied_seqs {
public:
  using clock = std::chrono::steady_clock;

  explicit applied_seqs(
    std::chrono::milliseconds pending_timeout = std::chrono::seconds(30))
    : timeout_(pending_timeout) {
  }

  /// Records [first, last] as committed and about to be applied by this
  /// node; ignored when first > last or first <= 0.
  void pending(int64_t first, int64_t last) {
    if (first <= 0 || first > last)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    pending_.push_back({first, last, clock::now()});
  }

  /// Records [first, last] as applied (and no longer pending); ignored
  /// when first > last or first <= 0.
  void add(int64_t first, int64_t last) {
    if (first <= 0 || first > last)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    ranges_.emplace_back(first, last);
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const pending_range& p) {
                                    return p.first == first;
                                  }),
                   pending_.end());
  }

  /// Highest seq the tailer may read now: just below the oldest pending
  /// range (ranges pending longer than the timeout are dropped first).
  int64_t read_limit() {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = clock::now();
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const pending_range& p) {
                                    return now - p.since > timeout_;
                                  }),
                   pending_.end());
    int64_t limit = std::numeric_limits<int64_t>::max();
    for (auto& p : pending_)
      limit = std::min(limit, p.first - 1);
    return limit;
  }

  /// The ranges that end after `watermark`, sorted by start.
  std::vector<std::pair<int64_t, int64_t>> after(int64_t watermark) const {
    std::vector<std::pair<int64_t, int64_t>> out;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& r : ranges_)
        if (r.second > watermark)
          out.push_back(r);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  /// Drops the ranges at or below `watermark` (applied and passed).
  void forget_through(int64_t watermark) {
    std::lock_guard<std::mutex> guard{mtx_};
    ranges_.erase(std::remove_if(ranges_.begin(), ranges_.end(),
                                 [&](const std::pair<int64_t, int64_t>& r) {
                                   return r.second <= watermark;
                                 }),
                  ranges_.end());
  }

private:
  struct pending_range {
    int64_t first, last;
    clock::time_point since;
  };
  std::chrono::milliseconds timeout_;
  mutable std::mutex mtx_;
  std::vector<std::pair<int64_t, int64_t>> ranges_;
  std::vector<pending_range> pending_;
};

} // namespace agentmem::storage
