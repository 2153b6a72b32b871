#include "domain/batch_split.hpp"

#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "domain/rollup.hpp"
#include "messages/errc.hpp"

namespace agentmem::domain {

namespace {

// event_id -> unit: the first activity carrying it; unknown ids map to the
// extra unit b.activities.size().
class unit_index {
public:
  explicit unit_index(const batch& b) : orphan_(b.activities.size()) {
    first_.reserve(b.activities.size() * 2);
    for (size_t i = 0; i < b.activities.size(); ++i)
      first_.emplace(b.activities[i].event_id, i);
  }

  size_t of(const std::string& event_id) const {
    auto it = first_.find(event_id);
    return it == first_.end() ? orphan_ : it->second;
  }

  size_t orphan() const {
    return orphan_;
  }

private:
  size_t orphan_;
  std::unordered_map<std::string_view, size_t> first_;
};

template <class T>
void copy_units(const std::vector<T>& xs, const unit_index& idx, size_t lo,
                size_t hi, std::vector<T>& out) {
  for (auto& x : xs)
    if (auto u = idx.of(x.event_id); u >= lo && u < hi)
      out.push_back(x);
}

template <class T>
void move_append(std::vector<T>& into, std::vector<T>& xs) {
  into.insert(into.end(), std::make_move_iterator(xs.begin()),
              std::make_move_iterator(xs.end()));
}

} // namespace

size_t split_units(const batch& b) {
  unit_index idx{b};
  auto orphan = [&](const auto& xs) {
    for (auto& x : xs)
      if (idx.of(x.event_id) == idx.orphan())
        return true;
    return false;
  };
  bool extra = orphan(b.memories) || orphan(b.knowledge.facts)
               || orphan(b.knowledge.mentions)
               || orphan(b.knowledge.relations);
  return b.activities.size() + (extra ? 1 : 0);
}

batch split_part(const batch& b, size_t lo, size_t hi) {
  batch out;
  out.id = b.id;
  out.created_ns = b.created_ns;
  out.attempt = b.attempt;
  out.oldest_record_ts_ms = b.oldest_record_ts_ms;
  auto n = b.activities.size();
  if (lo < n)
    out.activities.assign(b.activities.begin() + static_cast<long>(lo),
                          b.activities.begin()
                            + static_cast<long>(std::min(hi, n)));
  unit_index idx{b};
  copy_units(b.memories, idx, lo, hi, out.memories);
  copy_units(b.knowledge.facts, idx, lo, hi, out.knowledge.facts);
  copy_units(b.knowledge.mentions, idx, lo, hi, out.knowledge.mentions);
  copy_units(b.knowledge.relations, idx, lo, hi, out.knowledge.relations);
  fold_rollups(out);
  return out;
}

size_t append_part(batch& into, batch&& part) {
  auto base = into.memories.size();
  move_append(into.activities, part.activities);
  move_append(into.memories, part.memories);
  move_append(into.knowledge.facts, part.knowledge.facts);
  move_append(into.knowledge.mentions, part.knowledge.mentions);
  move_append(into.knowledge.relations, part.knowledge.relations);
  fold_rollups(into);
  return base;
}

caf::error
bisect_units(size_t n,
             const std::function<caf::expected<part_status>(size_t, size_t,
                                                            bool)>& try_part,
             const std::function<caf::error(size_t)>& isolated,
             const std::function<caf::error()>& before_last) {
  // Depth-first, lower half first: a stack of [lo, hi) ranges.
  std::vector<std::pair<size_t, size_t>> todo;
  auto push_halves = [&](size_t lo, size_t hi) {
    auto mid = lo + (hi - lo) / 2;
    todo.emplace_back(mid, hi);
    todo.emplace_back(lo, mid);
  };
  bool last_committed = false;
  if (n == 1) {
    if (auto err = isolated(0))
      return err;
  } else if (n > 1) {
    push_halves(0, n);
  }
  while (!todo.empty()) {
    auto [lo, hi] = todo.back();
    todo.pop_back();
    bool last = hi == n;
    if (last)
      if (auto err = before_last())
        return err;
    auto st = try_part(lo, hi, last);
    if (!st)
      return st.error();
    if (*st == part_status::committed) {
      last_committed = last_committed || last;
      continue;
    }
    if (hi - lo > 1)
      push_halves(lo, hi);
    else if (auto err = isolated(lo))
      return err;
  }
  if (last_committed)
    return caf::none;
  // The final unit was isolated: the offsets still need a transaction.
  if (auto err = before_last())
    return err;
  auto st = try_part(n, n, true);
  if (!st)
    return st.error();
  if (*st == part_status::rejected)
    return make_error(errc::data_rejected,
                      "a part without events was rejected");
  return caf::none;
}

} // namespace agentmem::domain
