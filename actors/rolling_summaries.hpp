#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "actors/extraction.hpp"
#include "messages/batch.hpp"

namespace agentmem::actors {

/// Newest message ts each session's summary covers, as emitted by this
/// extraction instance (lost on restart; RocksDB docs are the fallback).
using summary_marks = std::map<std::pair<std::string, std::string>, int64_t>;

/// Rolling session summaries: for every session with `message` events in
/// `b` (and no `session_end` in `b`, which summarises anyway), reads its
/// buffered messages and the stored summary's ts (the RocksDB doc of the
/// session's summary point, written after commit, or `marks` when newer)
/// and, when domain::rolling_summary_due says so, appends the refreshed
/// summary memory (domain::make_rolling_summary) to b.memories. The writer
/// updates the session's one summary memory in place (a new version in
/// memory_history; a replay with the same text is a NOOP). Throws
/// std::runtime_error when RocksDB fails. Returns how many were added.
size_t add_rolling_summaries(batch& b, const extraction_config& cfg,
                             summary_marks& marks);

} // namespace agentmem::actors
