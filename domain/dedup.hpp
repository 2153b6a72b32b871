#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/memory.hpp"

namespace agentmem::domain {

/// Tunables of near-duplicate detection (docs/memory.md, "Deduplication
/// and history"; `[memory]` in the config file).
struct dedup_config {
  bool enabled = true;
  /// A candidate is a near-duplicate when the cosine of the two embeddings
  /// is at least this ...
  double min_cosine = 0.92;
  /// ... and the Jaccard similarity of their stemmed token sets (the
  /// lexical check: embeddings of short texts can be close while a number
  /// or a name differs) is at least this.
  double min_jaccard = 0.8;
};

/// Whether memories of this type are deduplicated: `episodic` and
/// `document` (derived memories of a user). `conversation` memories are not:
/// each is one dialog turn mapped to its source event (searches map hits
/// back to turns, LoCoMo's evidence is per turn; a repeated "ok" is a new
/// turn, not a new fact). `session_summary` memories are one per session,
/// updated in place by id instead.
bool dedup_eligible(std::string_view memory_type);

/// Cosine of two vectors of equal length (0 when either is empty, the
/// lengths differ or a norm is 0).
double cosine(const std::vector<float>& a, const std::vector<float>& b);

/// Jaccard similarity |A ∩ B| / |A ∪ B| of the stemmed content-token sets
/// of two texts (domain/text.hpp tokenizer); 1 when both have no tokens.
double token_jaccard(std::string_view a, std::string_view b);

/// An existing memory found by a nearest-neighbour lookup (the vector
/// index scoped to the memory's user and type, RocksDB docs for the text).
struct dedup_candidate {
  std::string memory_id;
  std::string text;
  double cosine = 0;
};

/// Marks near-duplicates in `ms` (one batch, in order) by setting
/// `update_of` (mem0's UPDATE target; the writer decides UPDATE vs NOOP in
/// the commit transaction). For each eligible memory i (dedup_eligible,
/// non-empty vector) the best of
///   - `stored[i]`, the nearest stored memory of the same user and type
///     (ignored when it is memory i itself: a replay), and
///   - every earlier memory j < i of the batch with the same user and type
///     (its own target when j is itself an update),
/// whose cosine ≥ cfg.min_cosine and token Jaccard ≥ cfg.min_jaccard
/// becomes the target (highest cosine wins, then the earliest). `stored`
/// has ms.size() entries or is empty. Returns how many were marked.
/// Deterministic: a function of its arguments only.
size_t mark_near_duplicates(std::vector<memory>& ms,
                            const std::vector<std::optional<dedup_candidate>>&
                              stored,
                            const dedup_config& cfg);

} // namespace agentmem::domain
