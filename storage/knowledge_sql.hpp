#pragma once

// Internal to storage/: the SQL of facts and graph memory, used by
// postgres_store (commit_batch and the knowledge reads). pqxx types appear
// here, so this header must not be included outside storage/.

#include <functional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <pqxx/pqxx>

#include "messages/rows.hpp"
#include "messages/knowledge.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage::knowledge_sql {

/// The entities of a batch's mentions, one per (user_id, entity_id), for
/// step 3 of write().
struct folded_entity {
  std::string user_id;
  std::string entity_id;
  std::string name;     ///< of the earliest mention: least (ts_ms, event_id)
  std::string type;     ///< of the same mention
  int64_t first_ms = 0; ///< least event time of its mentions, ms
  int64_t last_ms = 0;  ///< greatest event time of its mentions, ms
  int64_t mentions = 0; ///< distinct events that mention it
};

/// Folds `mentions` of the events for which `inserted(event_id)` holds
/// into one row per (user_id, entity_id), sorted by that key. Event ids
/// compare bytewise. Several mentions of one entity in one event count
/// once.
std::vector<folded_entity>
fold_mentions(const std::vector<entity_mention>& mentions,
              const std::function<bool(const std::string&)>& inserted);

/// The edges of a batch, one per (user_id, src_id, dst_id, relation), for
/// step 4 of write().
struct folded_edge {
  std::string user_id;
  std::string src_id;
  std::string dst_id;
  std::string relation;
  int64_t events = 0;   ///< distinct events that are evidence of it
  int64_t first_ms = 0; ///< least event time, ms
  int64_t last_ms = 0;  ///< greatest event time, ms
  std::string first_event_id; ///< the event with the least (ts_ms, event_id)
  std::string last_event_id;  ///< the event with the greatest (ts_ms, event_id)
};

/// Folds `relations` of the events for which `inserted(event_id)` holds
/// into one row per edge, sorted by its key. Event ids compare bytewise;
/// several pieces of evidence of one edge in one event count once.
std::vector<folded_edge>
fold_edges(const std::vector<entity_relation>& relations,
           const std::function<bool(const std::string&)>& inserted);

/// Writes one batch's knowledge inside `tx` with a fixed number of round
/// trips (five set-based statements, no temp table):
///   0. a transaction-level advisory lock per user of the batch's facts
///      (key order), so that concurrent writers of one user (two nodes
///      around a rebalance) see each other's committed facts in step 2
///      instead of computing intervals from disjoint snapshots;
///   1. knowledge_facts: INSERT .. ON CONFLICT (fact_id) DO NOTHING
///      (activity_id looked up by event_id);
///   2. validity: for every slot (user_id, subject, slot_group, slot_object)
///      the batch touched, each fact's invalid_at / invalidated_by are set
///      to the first later fact of the slot (order: valid_at, event_id,
///      ordinal) that is positive or has the same object_key; NULL when
///      there is none. Recomputed from the stored rows, so facts arriving
///      out of event-time order and replays converge to the same result.
///      The slot rows are locked in fact_id order first;
///   3. entities upserts from the mentions folded per entity
///      (fold_mentions: first_seen = least, last_seen = greatest,
///      mention_count += its events);
///   4. entity_relationships upserts from the edges folded per edge
///      (fold_edges: weight += its events, first/last seen and event).
/// Steps 3 and 4 take only the mentions and edges of events for which
/// `inserted(event_id)` is true: the events whose activity this
/// transaction inserted. Each event's
/// mentions therefore count once, in the transaction that stored the
/// event, and a replay changes nothing, as with the usage rollups. (Until
/// migration 033, one evidence row per mention and edge did this.)
/// All rows are sent as array parameters (staged_rows.hpp). The
/// statements that do not depend on the rows' plan run prepared through
/// `statements` (the connection's). Throws pqxx exceptions (the caller's
/// run() turns them into errors).
void write(pqxx::work& tx, const knowledge_delta& k,
           const std::function<bool(const std::string&)>& inserted,
           detail::prepared_statements& statements);

/// Facts of a query (the API's backend::facts). Throws pqxx exceptions.
std::vector<fact_row> facts(pqxx::read_transaction& tx,
                            const fact_query& q);

/// Entities of a user (the API's backend::entities). Throws pqxx exceptions.
std::vector<entity_row> entities(pqxx::read_transaction& tx,
                                      const std::string& user_id,
                                      const std::string& type, int limit);

/// An entity and its edges (the API's backend::neighbors); errc::not_found when
/// the entity does not exist. Throws pqxx exceptions.
caf::expected<entity_neighbors>
neighbors(pqxx::read_transaction& tx, const std::string& user_id,
          const std::string& entity_id, int limit);

} // namespace agentmem::storage::knowledge_sql
