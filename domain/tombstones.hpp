#pragma once

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "messages/batch.hpp"

namespace agentmem::domain {

/// user_id -> cutoff (ms since epoch, UTC): events of the user with event
/// time ts_ms <= cutoff belong to before the user's deletion and must not be
/// stored again (docs/data-governance.md).
using tombstone_map = std::unordered_map<std::string, int64_t>;

/// True when an event/memory of `user_id` at `ts_ms` is tombstoned.
bool is_tombstoned(const tombstone_map& t, const std::string& user_id,
                   int64_t ts_ms);

/// Removes tombstoned activities and memories from `b` (records, offsets and
/// dead letters stay, so offsets are still committed). When an activity was
/// removed, the rollups (usage, sessions, analytics) are recomputed from the
/// remaining activities (domain::fold_rollups). Returns the number of
/// activities removed.
size_t drop_tombstoned(batch& b, const tombstone_map& t);

/// The tombstones one node knows, shared by capture, vector linking, the
/// writer and the deletion applier (thread-safe). `apply_mutex()` serialises
/// "check tombstones, then write derived state" (vector linking) against
/// "record tombstone, then erase derived state" (deletion applier), so a
/// batch in flight cannot re-add points of a user erased meanwhile.
class tombstone_set {
public:
  /// Records (or raises) the cutoff of `user_id`.
  void put(const std::string& user_id, int64_t cutoff_ms);
  /// The current map (immutable; replaced, not changed, by put(), so
  /// taking it per batch costs one shared_ptr copy).
  std::shared_ptr<const tombstone_map> snapshot() const;
  /// True when there are no tombstones (lock-free fast path).
  bool empty() const;
  /// See the class comment.
  std::mutex& apply_mutex() {
    return apply_mtx_;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const tombstone_map> map_
    = std::make_shared<const tombstone_map>();
  std::atomic<bool> empty_{true};
  std::mutex apply_mtx_;
};

} // namespace agentmem::domain
