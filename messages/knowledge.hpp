#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/inspect.hpp"

namespace agentmem {

/// One (subject, predicate, object) statement extracted from an activity
/// (domain/facts.hpp, docs/memory.md "Facts and preferences"). `fact_id` is
/// deterministic in (user_id, event_id, ordinal, subject, predicate,
/// object_key, polarity), so a replayed event yields the same ids.
///
/// Validity: a fact is valid from `valid_at_ms` (its event time) until the
/// next fact of the same slot (user_id, subject, slot_group, slot_object)
/// closes it; Postgres keeps `invalid_at` (storage/knowledge_sql.cpp).
struct fact_record {
  std::string fact_id;     ///< 32 hex chars (128-bit xxh3)
  std::string user_id;
  std::string session_id;
  std::string event_id;    ///< source event
  int32_t ordinal = 0;     ///< position among the facts of one event
  std::string subject;     ///< "user" for the user's own statements, or a name
  std::string predicate;   ///< normalised, e.g. lives_in, likes (docs/memory.md)
  std::string object;      ///< as written (trimmed, leading article removed)
  std::string object_key;  ///< lower-cased, white space collapsed
  std::string kind;        ///< "fact" or "preference"
  bool polarity = true;    ///< false: the statement negates/retracts
  std::string slot_group;  ///< predicate, or "sentiment" (likes/dislikes/prefers)
  std::string slot_object; ///< "" for single-valued predicates, else object_key
  double confidence = 0;   ///< 0..1
  int64_t valid_at_ms = 0; ///< event time of the source, ms since epoch
  std::string source_text; ///< the sentence it came from (<= 500 bytes)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fact_record& x) {
  return f(caf::meta::type_name("agentmem::fact_record"), x.fact_id,
           x.user_id, x.session_id, x.event_id, x.ordinal, x.subject,
           x.predicate, x.object, x.object_key, x.kind, x.polarity,
           x.slot_group, x.slot_object, x.confidence, x.valid_at_ms,
           x.source_text);
}

/// One entity mentioned by one event (domain/entities.hpp). At most one
/// mention per (entity_id, event_id).
struct entity_mention {
  std::string user_id;
  std::string entity_id; ///< 32 hex chars: xxh3-128 of "type\0name_key"
  std::string name;      ///< as first written
  std::string type;      ///< person|organization|place|email|url|date|tool|agent|user|other
  std::string event_id;
  int64_t ts_ms = 0;     ///< event time, ms since epoch
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entity_mention& x) {
  return f(caf::meta::type_name("agentmem::entity_mention"), x.user_id,
           x.entity_id, x.name, x.type, x.event_id, x.ts_ms);
}

/// One piece of evidence for an edge between two entities of one user,
/// from one event. `co_occurs` edges are undirected and stored with
/// src_id < dst_id; typed edges (works_at, lives_in, from, knows, uses,
/// mentions) point from the actor to the target.
struct entity_relation {
  std::string user_id;
  std::string src_id;
  std::string dst_id;
  std::string relation;
  std::string event_id;
  int64_t ts_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entity_relation& x) {
  return f(caf::meta::type_name("agentmem::entity_relation"), x.user_id,
           x.src_id, x.dst_id, x.relation, x.event_id, x.ts_ms);
}

/// Everything knowledge extraction derived from one batch; written by
/// postgres_store::commit_batch in the batch's transaction.
struct knowledge_delta {
  std::vector<fact_record> facts;
  std::vector<entity_mention> mentions;
  std::vector<entity_relation> relations;

  bool empty() const {
    return facts.empty() && mentions.empty() && relations.empty();
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, knowledge_delta& x) {
  return f(caf::meta::type_name("agentmem::knowledge_delta"), x.facts,
           x.mentions, x.relations);
}

} // namespace agentmem
