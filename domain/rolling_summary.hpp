#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/ids.hpp"
#include "domain/summarizer.hpp"
#include "messages/memory.hpp"

namespace agentmem::domain {

/// When a session's summary is refreshed before `session_end`
/// (docs/memory.md, "Rolling session summaries"; `[memory]` config keys).
struct rolling_summary_config {
  /// Refresh once this many buffered messages are newer than the stored
  /// summary; 0 disables the count rule.
  size_t every_messages = 20;
  /// Refresh once the newest buffered message is at least this many ms
  /// (event time) past the stored summary (or the session's first buffered
  /// message, when there is no summary yet) and at least one message is
  /// new; 0 disables the time rule.
  int64_t every_ms = 0;
};

/// The identity of a session's summary memory: XXH3-128 of
/// "session_summary\0<user_id>\0<session_id>" (make_memory_identity with
/// that key, type session_summary, chunk 0). Stable per session, so every
/// refresh (and the final one at `session_end`) updates the same memory
/// and point in place, with its versions in memory_history.
memory_identity session_summary_identity(const std::string& user_id,
                                         const std::string& session_id);

/// Whether a summary refresh is due for a session whose buffered messages
/// have event times `message_ts` (oldest first) and whose stored summary
/// covers messages up to `summary_ts` (none: no summary yet). Pure.
bool rolling_summary_due(const std::vector<int64_t>& message_ts,
                         std::optional<int64_t> summary_ts,
                         const rolling_summary_config& cfg);

/// The session-summary memory of (user, session) over `messages` (oldest
/// first), as at the newest message: id from session_summary_identity,
/// ts = `newest_ts`, event_id = `newest_event_id` (the message that made it
/// due), text "Session summary (<n> messages): " + SumBasic summary,
/// importance: the session_summary base of domain/importance.hpp, no
/// metadata. Returns false (adds nothing) when there is nothing to
/// summarise.
bool make_rolling_summary(const std::string& user_id,
                          const std::string& session_id,
                          const std::vector<utterance>& messages,
                          int64_t newest_ts, const std::string& newest_event_id,
                          size_t max_sentences, size_t max_chars,
                          std::vector<memory>& out);

} // namespace agentmem::domain
