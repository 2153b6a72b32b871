#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "domain/summarizer.hpp"
#include "messages/activity.hpp"
#include "messages/memory.hpp"

namespace agentmem::domain {

/// Tunables of memory extraction (docs/memory.md).
struct extraction_config {
  size_t max_chunk_chars = 1000;  ///< document chunk limit, bytes of UTF-8
  size_t summary_sentences = 5;   ///< session summary length, sentences
  size_t summary_chars = 800;     ///< session summary length, bytes
  size_t episodic_field_chars = 600; ///< input/output shown per field
};

/// Copies the scope of the event a memory comes from (agent_type,
/// agent_name, project_id) onto it: the payload filters of search.
inline void copy_scope(const activity& a, memory& m) {
  m.agent_type = a.agent_type;
  m.agent_name = a.agent_name;
  m.project_id = a.project_id;
}

/// Derives the memories of one activity (rules in docs/memory.md):
/// `message` -> one conversation memory ("<agent_name>: <content>");
/// `tool_call`/`task` -> one episodic memory naming the tool/task, input,
/// output and outcome; `file_upload` -> document chunks of `file.text`
/// (or `content`); `feedback` and custom events with content -> one
/// episodic memory. `session_start`/`session_end` yield nothing here (see
/// make_session_summary). Ids come from make_memory_identity, so the output
/// is a pure function of the activity. Appends to `out`; vectors empty.
void extract_memories(const activity& a, const extraction_config& cfg,
                      std::vector<memory>& out);

/// The session-summary memory for a `session_end` event, summarising the
/// session's buffered messages (oldest first) with summarize_session. Its
/// text starts "Session summary (<n> messages): "; its id is the session's
/// stable summary id (domain/rolling_summary.hpp), so it updates the
/// rolling summary in place. Returns false (and adds nothing) when there is
/// nothing to summarise.
bool make_session_summary(const activity& session_end,
                          const std::vector<utterance>& messages,
                          const extraction_config& cfg,
                          std::vector<memory>& out);

/// One earlier turn of a session, as the conversation buffer keeps it.
struct prior_turn {
  int64_t ts_ms = 0;
  std::string_view event_id;
  std::string_view agent_name;
  std::string_view content;
};

/// Retrieval context of a conversation memory (docs/retrieval.md): the text
/// of the turn that precedes (`ts_ms`, `event_id`) in `session_turns` (any
/// order), rendered like a conversation memory ("<agent_name>: <content>")
/// and cut to `max_bytes`. Empty when no earlier turn is known. Pure, so a
/// replay that sees the same buffer derives the same context.
std::string conversation_context(const std::vector<prior_turn>& session_turns,
                                 int64_t ts_ms, std::string_view event_id,
                                 size_t max_bytes);

/// Splits a document into chunks of at most `max_chars` bytes: paragraphs
/// (blank-line separated) are packed greedily; a paragraph that is too long
/// is split at sentence ends, and a sentence that is still too long at the
/// last white space (or UTF-8 boundary) before the limit. Chunks are
/// trimmed and never empty.
std::vector<std::string> chunk_document(std::string_view text,
                                        size_t max_chars);

/// Importance in [0, 1] for a memory of `memory_type` derived from `a`:
/// the event's own `importance` if it has one, else the documented formula
/// of domain/importance.hpp (score_importance(a, memory_type).score).
double importance_heuristic(const activity& a, std::string_view memory_type);

} // namespace agentmem::domain
