#pragma once

#include <cmath>
#include <string_view>

#include "messages/activity.hpp"

namespace agentmem::domain {

/// An importance (0..1) as PostgreSQL's `real` column holds it: rounded to
/// float, and 0 below float's normal range (about 1.2e-38), where
/// PostgreSQL refuses the text as "out of range for type real". Filters
/// on importance (`min_importance`) compare at this precision.
inline float stored_importance(double x) {
  auto f = static_cast<float>(x);
  return std::fpclassify(f) == FP_SUBNORMAL ? 0.0f : f;
}

/// Weights of the importance formula (docs/memory.md, "Importance").
/// Every signal is additive; the sum is clamped to [0, 1].
namespace importance_weights {
constexpr double base_conversation = 0.3;
constexpr double base_episodic = 0.4;
constexpr double base_document = 0.5;
constexpr double base_session_summary = 0.6;
constexpr double failure = 0.3;       ///< episodic: call failed / error
constexpr double explicit_cue = 0.2;  ///< "remember ...", "note that ..."
constexpr double personal = 0.15;     ///< first-person facts, preferences
constexpr double numbers = 0.1;       ///< digits, month or weekday names
constexpr double entities = 0.05;     ///< proper names, e-mails, URLs
constexpr double emotion = 0.1;       ///< emotional words
constexpr double question = -0.1;     ///< the text asks instead of telling
constexpr double user_role = 0.05;    ///< said by the user (role "user")
constexpr double per_200_bytes = 0.05;///< length bonus per full 200 bytes
constexpr double max_length = 0.15;   ///< cap of the length bonus
} // namespace importance_weights

/// The importance of a memory and the contribution of each signal (0 when
/// the signal did not fire), so tests and operators can see why a memory
/// got its score. `score` = clamp(sum of the parts, 0, 1), or the event's
/// own importance (clamped) when `from_event`.
struct importance_breakdown {
  bool from_event = false; ///< the event carried `importance`: used as is
  double base = 0;
  double failure = 0;
  double explicit_cue = 0;
  double personal = 0;
  double numbers = 0;
  double entities = 0;
  double emotion = 0;
  double question = 0;
  double role = 0;
  double length = 0;
  double score = 0; ///< final importance in [0, 1]
};

/// Scores a memory of `memory_type` (messages/memory.hpp) derived from `a`.
/// Sources of the signals: the event's own `importance` wins (agents know
/// best); otherwise a per-type base (summaries > documents > episodes >
/// chat turns), plus, for `conversation` and `episodic` memories, signals
/// over the event's `content` in the spirit of the importance/poignancy
/// rating of Generative Agents (Park et al., UIST 2023) and the salience
/// cues of MemoryBank (Zhong et al., AAAI 2024), made rule-based:
/// failures (`success` false or an `error_message`), explicit requests to
/// remember, first-person facts/preferences, numbers and dates, named
/// entities, emotional words, length (+0.05 per 200 bytes, at most +0.15),
/// questions (negative) and the speaker's role. Weights: importance_weights.
/// `document` and `session_summary` memories get their base only: their
/// text is not a single statement. Pure; never fails.
importance_breakdown score_importance(const activity& a,
                                      std::string_view memory_type);

} // namespace agentmem::domain
