#pragma once

#include <cstddef>
#include <functional>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/batch.hpp"

namespace agentmem::domain {

/// Splitting a batch that Postgres rejected into parts, to find the events
/// it rejects (docs/guarantees.md "Events Postgres rejects").
///
/// A batch has `split_units(b)` units: unit i < b.activities.size() is
/// activity i together with every derived row (memory, fact, entity
/// mention, entity relation) whose event_id is that activity's (the first
/// activity with that event_id, if the batch repeats one); when some derived
/// rows name an event that is not in the batch (a rolling session summary
/// whose newest message came in an earlier batch), one more unit, the
/// last, holds them.
size_t split_units(const batch& b);

/// The part of `b` made of units [lo, hi) (lo <= hi <= split_units(b)), in
/// the batch's order; its rollups (usage, sessions, analytics) are recomputed over the part's
/// activities (domain::fold_rollups), so the parts' rollups add up
/// to the batch's. id, created_ns, attempt and oldest_record_ts_ms are
/// copied; records, offsets and dead_letters are left empty.
batch split_part(const batch& b, size_t lo, size_t hi);

/// Appends a part to `into` (activities, memories, knowledge) and recomputes
/// its rollups over all its activities (domain::fold_rollups). Returns the index
/// in into.memories of the part's first memory (to shift per-part memory
/// indices).
size_t append_part(batch& into, batch&& part);

/// What committing one part did.
enum class part_status { committed, rejected };

/// Commits units [0, n) of a batch whose single commit was rejected, by
/// bisection (binary splitting as in adaptive group testing; k bad units
/// among n cost O(k log n) commits): a rejected part of several units is
/// split into halves, lower half first; a rejected single unit is reported
/// to `isolated(unit)`. Parts are tried in unit order; the part that ends
/// at unit n is tried with `last` = true (it must carry the batch's offsets)
/// and `before_last()` runs before every such try (e.g. to deliver the dead
/// letters of the units isolated so far). When the final unit itself is
/// isolated (or n is 0), an empty part (n, n) is tried last, so exactly one
/// committed try has `last` = true and it is the final try.
///
/// `try_part(lo, hi, last)` commits units [lo, hi) and returns their
/// status, or an error that stops the bisection (returned as is).
/// Errors: the first error of a callback; errc::data_rejected when the
/// final empty part is rejected.
caf::error
bisect_units(size_t n,
             const std::function<caf::expected<part_status>(size_t, size_t,
                                                            bool)>& try_part,
             const std::function<caf::error(size_t)>& isolated,
             const std::function<caf::error()>& before_last);

} // namespace agentmem::domain
