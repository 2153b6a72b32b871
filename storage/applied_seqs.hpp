#pragma once

#include <algorithm>
#include <cstdint>
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
/// (docs/guarantees.md). Thread-safe.
class applied_seqs {
public:
  /// Records [first, last] as applied; ignored when first > last or <= 0.
  void add(int64_t first, int64_t last) {
    if (first <= 0 || first > last)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    ranges_.emplace_back(first, last);
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
  mutable std::mutex mtx_;
  std::vector<std::pair<int64_t, int64_t>> ranges_;
};

} // namespace agentmem::storage
