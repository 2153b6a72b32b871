#pragma once

#include <string>
#include <vector>

namespace agentmem::domain {

/// One utterance of a session, as the summariser sees it.
struct utterance {
  std::string speaker; ///< agent_name or role
  std::string text;
};

/// Extractive session summary with SumBasic (Nenkova & Vanderwende, "The
/// Impact of Frequency on Summarization", MSR-TR-2005-101): word
/// probabilities p(w) over the session's content tokens; repeatedly pick the
/// sentence with the highest mean p(w) that contains the currently most
/// probable word, then square the probabilities of its words (redundancy
/// penalty). Stops at `max_sentences` or `max_chars`; sentences are emitted
/// in session order, each prefixed by its speaker ("Ann: ..."). Empty when
/// the session has no content.
std::string summarize_session(const std::vector<utterance>& utterances,
                              size_t max_sentences = 5,
                              size_t max_chars = 800);

} // namespace agentmem::domain
