#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "messages/activity.hpp"
#include "messages/knowledge.hpp"

namespace agentmem::domain {

/// Entity types of graph memory (docs/memory.md, "Entities and
/// relationships").
namespace entity_types {
constexpr const char* person = "person";
constexpr const char* organization = "organization";
constexpr const char* place = "place";
constexpr const char* email = "email";
constexpr const char* url = "url";
constexpr const char* date = "date";
constexpr const char* tool = "tool";
constexpr const char* agent = "agent";   ///< a non-user speaker / tool caller
constexpr const char* user = "user";     ///< the memory's owner (name = user_id)
constexpr const char* other = "other";   ///< a proper noun of unknown type
} // namespace entity_types

/// An entity found in a text: its name as written and its type.
struct entity_ref {
  std::string name;
  std::string type;
};

/// Deterministic entity id: 32 hex chars of the 128-bit XXH3 of
/// "type\0normalize_key(name)" (dates use their ISO form when complete).
std::string make_entity_id(std::string_view type, std::string_view name);

/// Entities of one text, in order of first appearance, each (type, key)
/// once: emails, URLs (http://, https://, www.), dates (ISO YYYY-MM-DD,
/// "May 3", "3 May 2023", "May 3, 2023", "May 2023": a month name needs a
/// number beside it; complete dates are named YYYY-MM-DD), and runs of
/// capitalised words (joined by "of", "de", "van", "von", "&" inside), typed
/// by context: an organisation after "work(s/ed/ing) at/for", "job at",
/// "joined", "employed by", or with a suffix such as Inc, Ltd, University,
/// Bank; a place after in/from/near/visited/around or "to" after a motion
/// verb (moved, went, flew, travel...); a person after with/met/told/asked/
/// named/friend/brother..., before said/told/asked or "'s", or a run of 2-3
/// name-like words; `other` otherwise. A capitalised word that only starts
/// the sentence, pronouns, greetings, weekdays and lone month names are not
/// entities. `hints` (key -> type, from facts) overrides the context type.
std::vector<entity_ref>
extract_entities(std::string_view text,
                 const std::map<std::string, std::string>& hints = {});

/// The knowledge of one activity, appended to `out`:
///   - facts (domain/facts.hpp);
///   - one mention per entity of the text (message/feedback/custom
///     `content`, a file's text up to 20,000 bytes), of the speaker
///     (`agent_name` of a message: person when role is user, else agent),
///     of the tool of a `tool_call` and of its caller (agent_name or
///     agent_type, type agent), and of the user (type user) when a typed
///     edge needs it;
///   - edges: `co_occurs` between every two text entities of the event
///     (first 12 entities; src_id < dst_id), `mentions` from the speaker to
///     each text entity, `uses` from a tool caller to its tool, and typed
///     edges from positive facts: lives_in/from -> place, works_at ->
///     organization, knows -> person, uses -> tool (src: the user, or the
///     person named as subject).
void extract_knowledge(const activity& a, knowledge_delta& out);

} // namespace agentmem::domain
