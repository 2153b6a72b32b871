#include "storage/knowledge_sql.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>

#include "messages/errc.hpp"
#include "storage/staged_rows.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage::knowledge_sql {

using detail::ms_of;
using detail::ts_of;

namespace {

// The staged facts, entities and edges (staged_rows: array parameters).
// Entities and edges arrive folded per key (fold_mentions, fold_edges), so
// their statements neither join nor group: a cached plan cannot go wrong
// on unnest's fixed estimate of ten rows, and no temp table is touched
// (every one is truncated at a commit that touched any: staged_rows.hpp).
const std::vector<detail::staged_rows::column> fact_columns = {
  {"fact_id", "text"},     {"user_id", "text"},     {"subject", "text"},
  {"predicate", "text"},   {"object", "text"},      {"object_key", "text"},
  {"kind", "text"},        {"polarity", "boolean"}, {"slot_group", "text"},
  {"slot_object", "text"}, {"confidence", "real"},  {"session_id", "text"},
  {"event_id", "text"},    {"ordinal", "integer"},  {"source_text", "text"},
  {"valid_ms", "bigint"}};

const std::vector<detail::staged_rows::column> entity_columns_in = {
  {"user_id", "text"},       {"entity_id", "text"},    {"name", "text"},
  {"type", "text"},          {"first_ms", "bigint"},   {"last_ms", "bigint"},
  {"mentions", "bigint"}};

const std::vector<detail::staged_rows::column> relation_columns = {
  {"user_id", "text"},        {"src_id", "text"},
  {"dst_id", "text"},         {"relation", "text"},
  {"events", "bigint"},       {"first_ms", "bigint"},
  {"last_ms", "bigint"},      {"first_event_id", "text"},
  {"last_event_id", "text"}};

std::string staged_facts() {
  return detail::staged_rows{fact_columns}.from("t");
}

std::string insert_facts_sql() {
  return "INSERT INTO knowledge_facts (fact_id, user_id, subject, predicate,"
         " object, object_key, kind, polarity, slot_group, slot_object,"
         " confidence, session_id, event_id, activity_id, ordinal,"
         " source_text, valid_at) "
         "SELECT DISTINCT ON (t.fact_id) t.fact_id, t.user_id, t.subject,"
         " t.predicate, t.object, t.object_key, t.kind, t.polarity,"
         " t.slot_group, t.slot_object, t.confidence, t.session_id,"
         " t.event_id, " + detail::activity_id_of("t.event_id")
         + ", t.ordinal, t.source_text, " + ts_of("t.valid_ms")
         + " FROM " + staged_facts() + " ORDER BY t.fact_id "
           "ON CONFLICT (fact_id) DO NOTHING";
}

// Serialises writers of the same users' facts (see write()): one
// transaction-level advisory lock per user, taken in key order (so two
// writers cannot deadlock), in the single-bigint key space, which does not
// overlap postgres_store's (int, int) locks.
std::string lock_users_sql() {
  return "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
         " hashtextextended('agentmem.facts:' || user_id, 0) AS k FROM "
         + staged_facts() + ") s ORDER BY k";
}

// See write(): the first later fact of the slot that is positive or about
// the same object closes a fact. The lateral subquery walks the slot index.
std::string close_facts_sql() {
  return "WITH slots AS ("
  " SELECT DISTINCT user_id, subject, slot_group, slot_object FROM "
  + staged_facts() + "), locked AS ("
  " SELECT f.fact_id, f.user_id, f.subject, f.slot_group, f.slot_object,"
  " f.valid_at, f.event_id, f.ordinal, f.object_key, f.invalid_at,"
  " f.invalidated_by"
  " FROM knowledge_facts f JOIN slots s USING (user_id, subject, slot_group,"
  " slot_object) ORDER BY f.fact_id FOR UPDATE OF f"
  "), chain AS ("
  " SELECT x.fact_id, x.invalid_at, x.invalidated_by, n.valid_at AS next_at,"
  " n.fact_id AS next_id FROM locked x LEFT JOIN LATERAL ("
  "  SELECT y.valid_at, y.fact_id FROM knowledge_facts y"
  "  WHERE y.user_id = x.user_id AND y.subject = x.subject"
  "  AND y.slot_group = x.slot_group AND y.slot_object = x.slot_object"
  "  AND y.valid_at >= x.valid_at"
  "  AND (y.valid_at, y.event_id, y.ordinal)"
  "    > (x.valid_at, x.event_id, x.ordinal)"
  "  AND (y.polarity OR y.object_key = x.object_key)"
  "  ORDER BY y.valid_at, y.event_id, y.ordinal LIMIT 1"
  " ) n ON true"
  ") "
  "UPDATE knowledge_facts k SET invalid_at = c.next_at,"
  " invalidated_by = c.next_id FROM chain c WHERE k.fact_id = c.fact_id"
  " AND (c.invalid_at IS DISTINCT FROM c.next_at"
  " OR c.invalidated_by IS DISTINCT FROM c.next_id)";
}

// One row per (user, entity) of the mentions of events this transaction
// inserted (fold_mentions: one per (entity, event), each adds one to
// mention_count, exactly once, like the usage rollups). Locked in key
// order.
std::string upsert_entities_sql() {
  return "INSERT INTO entities AS e (user_id, entity_id, name, type,"
         " first_seen, last_seen, mention_count) "
         "SELECT t.user_id, t.entity_id, t.name, t.type, " + ts_of("t.first_ms")
         + ", " + ts_of("t.last_ms") + ", t.mentions FROM "
         + detail::staged_rows{entity_columns_in}.from("t")
         + " ORDER BY t.user_id, t.entity_id "
           "ON CONFLICT (user_id, entity_id) DO UPDATE SET"
           " first_seen = LEAST(e.first_seen, EXCLUDED.first_seen),"
           " last_seen = GREATEST(e.last_seen, EXCLUDED.last_seen),"
           " mention_count = e.mention_count + EXCLUDED.mention_count";
}

// One row per edge (fold_edges), locked in key order.
std::string upsert_relations_sql() {
  return "INSERT INTO entity_relationships AS r (user_id, src_id, dst_id,"
         " relation, weight, first_seen, last_seen, first_event_id,"
         " last_event_id) "
         "SELECT t.user_id, t.src_id, t.dst_id, t.relation, t.events, "
         + ts_of("t.first_ms") + ", " + ts_of("t.last_ms")
         + ", t.first_event_id, t.last_event_id FROM "
         + detail::staged_rows{relation_columns}.from("t")
         + " ORDER BY t.user_id, t.src_id, t.dst_id, t.relation "
           "ON CONFLICT (user_id, src_id, dst_id, relation) DO UPDATE SET"
           " weight = r.weight + EXCLUDED.weight,"
           " first_event_id = CASE WHEN EXCLUDED.first_seen < r.first_seen"
           " THEN EXCLUDED.first_event_id ELSE r.first_event_id END,"
           " last_event_id = CASE WHEN EXCLUDED.last_seen > r.last_seen"
           " THEN EXCLUDED.last_event_id ELSE r.last_event_id END,"
           " first_seen = LEAST(r.first_seen, EXCLUDED.first_seen),"
           " last_seen = GREATEST(r.last_seen, EXCLUDED.last_seen)";
}

entity_row entity_of(const pqxx::row& row, int at) {
  entity_row e;
  e.entity_id = row[at].as<std::string>();
  e.name = row[at + 1].as<std::string>();
  e.type = row[at + 2].as<std::string>();
  e.first_seen_ms = row[at + 3].as<int64_t>();
  e.last_seen_ms = row[at + 4].as<int64_t>();
  e.mention_count = row[at + 5].as<int64_t>();
  return e;
}

const std::string entity_columns = "e.entity_id, e.name, e.type, "
                                   + ms_of("e.first_seen") + ", "
                                   + ms_of("e.last_seen")
                                   + ", e.mention_count";

} // namespace

namespace {

// The items (mentions, edges) of events for which `inserted` holds, per
// key: the first and the last by (ts_ms, event_id), the earlier of equal
// ones kept, and the number of distinct events.
template <class Item>
struct key_fold {
  const Item* first = nullptr;
  const Item* last = nullptr;
  int64_t events = 0;
};

template <class Key, class Item, class KeyOf>
std::map<Key, key_fold<Item>>
fold_by_key(const std::vector<Item>& items,
            const std::function<bool(const std::string&)>& inserted,
            KeyOf key_of) {
  std::map<Key, key_fold<Item>> folds;
  std::set<std::pair<Key, std::string_view>> counted; // (key, event)
  for (auto& x : items) {
    if (!inserted(x.event_id))
      continue;
    Key k = key_of(x);
    auto& f = folds[k];
    if (!f.first
        || std::tie(x.ts_ms, x.event_id)
             < std::tie(f.first->ts_ms, f.first->event_id))
      f.first = &x;
    if (!f.last
        || std::tie(f.last->ts_ms, f.last->event_id)
             < std::tie(x.ts_ms, x.event_id))
      f.last = &x;
    if (counted.emplace(k, x.event_id).second)
      ++f.events;
  }
  return folds;
}

} // namespace

std::vector<folded_entity>
fold_mentions(const std::vector<entity_mention>& mentions,
              const std::function<bool(const std::string&)>& inserted) {
  using key = std::pair<std::string_view, std::string_view>;
  auto folds = fold_by_key<key>(mentions, inserted, [](auto& m) {
    return key{m.user_id, m.entity_id};
  });
  std::vector<folded_entity> out;
  out.reserve(folds.size());
  for (auto& [k, f] : folds)
    out.push_back({f.first->user_id, f.first->entity_id, f.first->name,
                   f.first->type, f.first->ts_ms, f.last->ts_ms, f.events});
  return out;
}

std::vector<folded_edge>
fold_edges(const std::vector<entity_relation>& relations,
           const std::function<bool(const std::string&)>& inserted) {
  using key = std::tuple<std::string_view, std::string_view,
                         std::string_view, std::string_view>;
  auto folds = fold_by_key<key>(relations, inserted, [](auto& r) {
    return key{r.user_id, r.src_id, r.dst_id, r.relation};
  });
  std::vector<folded_edge> out;
  out.reserve(folds.size());
  for (auto& [k, f] : folds)
    out.push_back({f.first->user_id, f.first->src_id, f.first->dst_id,
                   f.first->relation, f.events, f.first->ts_ms,
                   f.last->ts_ms, f.first->event_id, f.last->event_id});
  return out;
}

void write(pqxx::work& tx, const knowledge_delta& k,
           const std::function<bool(const std::string&)>& inserted,
           detail::prepared_statements& statements) {
  if (k.empty())
    return;
  if (!k.facts.empty()) {
    detail::staged_rows out{fact_columns};
    for (auto& f : k.facts)
      out.row(
        f.fact_id.c_str(), f.user_id.c_str(), f.subject.c_str(),
        f.predicate.c_str(), f.object.c_str(), f.object_key.c_str(),
        f.kind.c_str(), f.polarity, f.slot_group.c_str(),
        f.slot_object.c_str(), f.confidence, f.session_id.c_str(),
        f.event_id.c_str(), f.ordinal, f.source_text.c_str(), f.valid_at_ms);
    const auto params = out.params();
    statements.exec(tx, lock_users_sql(),
                    pqxx::prepare::make_dynamic_params(params));
    statements.exec(tx, insert_facts_sql(),
                    pqxx::prepare::make_dynamic_params(params));
    // Not prepared: it joins the stored facts to the staged slots, and a
    // plan cached for one batch size can be the wrong join for another
    // (planned with the arrays' values, unnest's estimate is their length).
    tx.exec_params(close_facts_sql(),
                   pqxx::prepare::make_dynamic_params(params));
  }
  // Mentions and edges of events this transaction did not insert (a
  // replay) were counted when their event was.
  auto entities = fold_mentions(k.mentions, inserted);
  if (!entities.empty()) {
    detail::staged_rows rows{entity_columns_in};
    for (auto& e : entities)
      rows.row(e.user_id, e.entity_id, e.name, e.type, e.first_ms,
               e.last_ms, e.mentions);
    statements.exec(tx, upsert_entities_sql(),
                    pqxx::prepare::make_dynamic_params(rows.params()));
  }
  auto edges = fold_edges(k.relations, inserted);
  if (!edges.empty()) {
    detail::staged_rows rows{relation_columns};
    for (auto& e : edges)
      rows.row(e.user_id, e.src_id, e.dst_id, e.relation, e.events,
               e.first_ms, e.last_ms, e.first_event_id, e.last_event_id);
    statements.exec(tx, upsert_relations_sql(),
                    pqxx::prepare::make_dynamic_params(rows.params()));
  }
}

std::vector<fact_row> facts(pqxx::read_transaction& tx,
                                 const fact_query& q) {
  std::string sql =
    "SELECT fact_id, subject, predicate, object, kind, polarity, confidence,"
    " event_id, session_id, " + ms_of("valid_at") + ", "
    + ms_of("invalid_at") + ", coalesce(invalidated_by, ''), "
    + ms_of("recorded_at")
    + ", source_text FROM knowledge_facts WHERE user_id = $1 AND polarity"
      " AND ($2 = '' OR subject = $2) AND ($3 = '' OR predicate = $3)";
  pqxx::result r;
  if (q.as_of_ms) {
    sql += " AND valid_at <= " + ts_of("$4::bigint")
           + " AND (invalid_at IS NULL OR invalid_at > "
           + ts_of("$4::bigint") + ") ORDER BY valid_at DESC, fact_id LIMIT $5";
    r = tx.exec_params(sql, q.user_id, q.subject, q.predicate, *q.as_of_ms,
                       static_cast<int64_t>(q.limit));
  } else {
    sql += " AND invalid_at IS NULL ORDER BY valid_at DESC, fact_id LIMIT $4";
    r = tx.exec_params(sql, q.user_id, q.subject, q.predicate,
                       static_cast<int64_t>(q.limit));
  }
  std::vector<fact_row> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    fact_row f;
    f.fact_id = row[0].as<std::string>();
    f.subject = row[1].as<std::string>();
    f.predicate = row[2].as<std::string>();
    f.object = row[3].as<std::string>();
    f.kind = row[4].as<std::string>();
    f.polarity = row[5].as<bool>();
    f.confidence = row[6].as<double>();
    f.event_id = row[7].as<std::string>();
    f.session_id = row[8].as<std::string>();
    f.valid_at_ms = row[9].as<int64_t>();
    if (!row[10].is_null())
      f.invalid_at_ms = row[10].as<int64_t>();
    f.invalidated_by = row[11].as<std::string>();
    f.recorded_at_ms = row[12].as<int64_t>();
    f.source_text = row[13].as<std::string>();
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<entity_row> entities(pqxx::read_transaction& tx,
                                      const std::string& user_id,
                                      const std::string& type, int limit) {
  auto r = tx.exec_params(
    "SELECT " + entity_columns + " FROM entities e WHERE e.user_id = $1"
    " AND ($2 = '' OR e.type = $2)"
    " ORDER BY e.mention_count DESC, e.last_seen DESC, e.entity_id LIMIT $3",
    user_id, type, static_cast<int64_t>(limit));
  std::vector<entity_row> out;
  out.reserve(r.size());
  for (const auto& row : r)
    out.push_back(entity_of(row, 0));
  return out;
}

caf::expected<entity_neighbors>
neighbors(pqxx::read_transaction& tx, const std::string& user_id,
          const std::string& entity_id, int limit) {
  auto self = tx.exec_params("SELECT " + entity_columns
                               + " FROM entities e WHERE e.user_id = $1"
                                 " AND e.entity_id = $2",
                             user_id, entity_id);
  if (self.empty())
    return make_error(errc::not_found, "user " + user_id
                                         + " has no entity " + entity_id);
  entity_neighbors out;
  out.entity = entity_of(self[0], 0);
  auto r = tx.exec_params(
    "SELECT " + entity_columns + ", r.relation,"
    " CASE WHEN r.relation = 'co_occurs' THEN 'both'"
    " WHEN r.src_id = $2 THEN 'out' ELSE 'in' END, r.weight, "
    + ms_of("r.first_seen") + ", " + ms_of("r.last_seen")
    + " FROM entity_relationships r JOIN entities e ON e.user_id = r.user_id"
      " AND e.entity_id = CASE WHEN r.src_id = $2 THEN r.dst_id"
      " ELSE r.src_id END"
      " WHERE r.user_id = $1 AND (r.src_id = $2 OR r.dst_id = $2)"
      " ORDER BY r.weight DESC, r.last_seen DESC, e.entity_id, r.relation"
      " LIMIT $3",
    user_id, entity_id, static_cast<int64_t>(limit));
  out.neighbors.reserve(r.size());
  for (const auto& row : r) {
    neighbor_row n;
    n.entity = entity_of(row, 0);
    n.relation = row[6].as<std::string>();
    n.direction = row[7].as<std::string>();
    n.weight = row[8].as<int64_t>();
    n.first_seen_ms = row[9].as<int64_t>();
    n.last_seen_ms = row[10].as<int64_t>();
    out.neighbors.push_back(std::move(n));
  }
  return out;
}

} // namespace agentmem::storage::knowledge_sql
