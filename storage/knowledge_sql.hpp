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

/// Writes one batch's knowledge inside `tx` with a fixed number of round
/// trips (one temp-table DDL, three COPYs, five set-based statements):
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
///   3. entities upserts from the mentions, one per (entity, event)
///      (first_seen = least, last_seen = greatest, mention_count +=);
///   4. entity_relationships upserts from the edges, one per (edge, event)
///      (weight +=, first/last seen and event).
/// Steps 3 and 4 take only the mentions and edges of events for which
/// `inserted(event_id)` is true: the events whose activity this
/// transaction inserted. Each event's
/// mentions therefore count once, in the transaction that stored the
/// event, and a replay changes nothing, as with the usage rollups. (Until
/// migration 033, one evidence row per mention and edge did this.)
/// Facts and relations are sent as array parameters (staged_rows.hpp),
/// mentions through the temp table tmp_mentions. The statements that do
/// not depend on the rows' plan run prepared through `statements` (the
/// connection's). Throws pqxx exceptions (the caller's run() turns them
/// into errors).
void write(pqxx::work& tx, const knowledge_delta& k,
           const std::function<bool(const std::string&)>& inserted,
           detail::prepared_statements& statements);

/// DDL of the session-lived temp table write() fills (tmp_mentions; ON
/// COMMIT DELETE ROWS, IF NOT EXISTS): run
/// once per connection before the first write() (postgres_store does).
extern const char* const temp_tables_sql;

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
