#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "messages/activity.hpp"
#include "messages/knowledge.hpp"

namespace agentmem::domain {

/// One statement found in a text, before it is tied to an event
/// (rules in docs/memory.md, "Facts and preferences").
struct statement {
  std::string subject;   ///< "user" (first person) or a capitalised name
  std::string predicate; ///< normalised predicate, see predicate_is_single
  std::string object;    ///< as written, leading article removed
  std::string kind;      ///< "fact" or "preference"
  bool polarity = true;  ///< false: negated ("I no longer live in Paris")
  double confidence = 0; ///< 0..1
  std::string sentence;  ///< the sentence it came from
};

/// True when a subject has at most one value of `predicate` at a time, so a
/// newer statement closes the older one whatever its object: name, lives_in,
/// from, works_at, occupation, birthday, age, email, phone, favorite_* and
/// every predicate of the generic "my <attribute> is <value>" rule. All
/// others (likes, dislikes, prefers, allergic_to, is_a, knows, uses,
/// speaks) are multi-valued: statements only close earlier ones about the
/// same object.
bool predicate_is_single(std::string_view predicate);

/// The slot group of a predicate: "sentiment" for likes, dislikes and
/// prefers (so "I hate X" closes "I love X"), else the predicate itself.
std::string slot_group_of(std::string_view predicate);

/// Statements of one text. With `first_person`, statements the speaker
/// makes about themself ("I live in Paris", "my name is Ana", "I love
/// jazz", "I'm allergic to nuts", "I don't like X anymore", "my favorite
/// color is blue", "my friend Tom") get subject "user"; third-person
/// patterns ("Tom works at Acme", "Ana lives in Oslo") are always looked
/// for. Questions, conditionals ("if I lived in ...") and "I'd like" are
/// skipped. Deterministic; order = order in the text.
std::vector<statement> extract_statements(std::string_view text,
                                          bool first_person);

/// The facts of one activity: `message` events with role `user` (or no
/// role) and `feedback` events speak in the first person; messages of
/// other roles only contribute third-person statements; other events none.
/// Each statement becomes a fact_record with valid_at = the event time,
/// ordinal = its position, and a deterministic fact_id. Appends to `out`.
void extract_facts(const activity& a, std::vector<fact_record>& out);

} // namespace agentmem::domain
