#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/extraction.hpp"
#include "domain/rolling_summary.hpp"
#include "storage/hot_state.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::actors {

/// Configuration of memory extraction.
struct extraction_config {
  caf::actor next; ///< embedding
  std::shared_ptr<storage::hot_state> hot;
  domain::extraction_config rules;
  /// Rolling session summaries (actors/rolling_summaries.hpp).
  domain::rolling_summary_config rolling;
  /// Working memory (storage/working_memory.hpp); none: not kept.
  std::shared_ptr<storage::working_memory> working;
};

/// State of memory extraction.
struct extraction_state {
  static inline const char* name = "extraction";
  stage_metrics metrics{"extraction"};
  /// Per session: newest message ts its emitted summary covers.
  std::map<std::pair<std::string, std::string>, int64_t> summary_marks;
};

/// Memory extraction: appends the batch's `message` events to the
/// conversation buffer in RocksDB (idempotent keys) and its turns, tool
/// results and tasks to the sessions' working memory, derives the memories
/// of each activity (domain/extraction.hpp), and for each `session_end`
/// summarises the session's buffered messages; sessions that grew enough
/// get their rolling summary refreshed (actors/rolling_summaries.hpp).
/// Fails the batch (throws, so the supervisor restarts the chain and
/// ingress replays it) when the hot state cannot be written.
caf::behavior extraction(caf::stateful_actor<extraction_state>* self,
                         extraction_config cfg);

} // namespace agentmem::actors
