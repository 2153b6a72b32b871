#include "storage/governance_store.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <pqxx/pqxx>

#include "messages/errc.hpp"
#include "storage/memory_versions.hpp"
#include "storage/pg_cluster.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

using detail::lock_deletions;
using detail::lock_ingest;
using detail::lock_sql;
using detail::ms_of;

namespace {

// Governance bookkeeping: has user_id but is not user data.
const std::set<std::string> governance_tables = {"user_tombstones",
                                                 "deletions"};

struct table_info {
  std::string name;      ///< unquoted
  std::string qualified; ///< quoted schema.table
  bool user_id = false;
  bool memory_id = false;
  bool activity_id = false;
  bool session_id = false;
};

struct schema_tables {
  std::vector<table_info> user;   ///< deletion order (children first)
  std::vector<table_info> linked; ///< no user_id; memory_id / activity_id
};

// Tables of the current schema with the columns governance cares about,
// and FK edges to order deletions so that no ON DELETE CASCADE hides
// counts (and no FK without cascade blocks a delete).
schema_tables discover(pqxx::transaction_base& tx) {
  auto r = tx.exec(
    "SELECT c.oid::bigint, n.nspname, c.relname,"
    " bool_or(a.attname = 'user_id'), bool_or(a.attname = 'memory_id'),"
    " bool_or(a.attname = 'activity_id'), bool_or(a.attname = 'session_id')"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
    "  AND NOT a.attisdropped"
    " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
    "  AND n.nspname = current_schema()"
    "  AND a.attname IN ('user_id', 'memory_id', 'activity_id', 'session_id')"
    " GROUP BY c.oid, n.nspname, c.relname ORDER BY c.relname");
  std::map<int64_t, table_info> by_oid;
  for (const auto& row : r) {
    table_info t;
    t.name = row[2].as<std::string>();
    if (governance_tables.count(t.name) > 0)
      continue;
    t.qualified = tx.quote_name(row[1].as<std::string>()) + "."
                  + tx.quote_name(t.name);
    t.user_id = row[3].as<bool>();
    t.memory_id = row[4].as<bool>();
    t.activity_id = row[5].as<bool>();
    t.session_id = row[6].as<bool>();
    if (t.user_id || t.memory_id || t.activity_id)
      by_oid.emplace(row[0].as<int64_t>(), std::move(t));
  }
  // child -> parents among the user tables
  std::map<int64_t, std::set<int64_t>> parents;
  auto fk = tx.exec("SELECT conrelid::bigint, confrelid::bigint"
                    " FROM pg_constraint WHERE contype = 'f'");
  for (const auto& row : fk) {
    auto child = row[0].as<int64_t>(), parent = row[1].as<int64_t>();
    if (child != parent && by_oid.count(child) && by_oid.count(parent))
      parents[child].insert(parent);
  }
  schema_tables out;
  std::set<int64_t> left;
  for (auto& [oid, t] : by_oid)
    if (t.user_id)
      left.insert(oid);
    else
      out.linked.push_back(t);
  // Kahn's algorithm on "is referenced by a remaining table": a table goes
  // when no remaining table references it. Cycles: the rest in name order.
  while (!left.empty()) {
    std::vector<int64_t> ready;
    for (auto oid : left) {
      bool referenced = false;
      for (auto other : left)
        if (other != oid && parents[other].count(oid))
          referenced = true;
      if (!referenced)
        ready.push_back(oid);
    }
    if (ready.empty())
      ready.assign(left.begin(), left.end());
    for (auto oid : ready) {
      out.user.push_back(by_oid[oid]);
      left.erase(oid);
    }
  }
  return out;
}

// WHERE clause of a linked table for memories/activities listed in the
// temp tables `mem_table` / `act_table` (column memory_id / activity_id).
std::string linked_condition(const table_info& t, const std::string& mem_table,
                             const std::string& act_table) {
  std::string cond;
  if (t.memory_id && !mem_table.empty())
    cond = "t.memory_id IN (SELECT memory_id FROM " + mem_table + ")";
  if (t.activity_id && !act_table.empty())
    cond += (cond.empty() ? "" : " OR ")
            + std::string{"t.activity_id IN (SELECT activity_id FROM "}
            + act_table + ")";
  return cond;
}

std::vector<uint64_t> parse_bigint_array(const std::string& text) {
  std::vector<uint64_t> out;
  uint64_t v = 0;
  bool in = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      v = v * 10 + static_cast<uint64_t>(c - '0');
      in = true;
    } else if (in) {
      out.push_back(v);
      v = 0;
      in = false;
    }
  }
  if (in)
    out.push_back(v);
  return out;
}

} // namespace

// The connection and its exception-to-error wrapper: pg_common.hpp.
struct governance_store::impl : detail::pg_session {};

governance_store::governance_store(std::unique_ptr<impl> p)
  : impl_(std::move(p)) {
}

governance_store::~governance_store() = default;

caf::expected<std::unique_ptr<governance_store>>
governance_store::connect(const std::string& url) {
  auto p = std::make_unique<impl>();
  p->url = url;
  if (auto err = p->open())
    return err;
  return std::unique_ptr<governance_store>{new governance_store(std::move(p))};
}

caf::expected<user_deletion>
governance_store::delete_user(const std::string& user_id) {
  if (user_id.find('\0') != std::string::npos)
    return make_error(errc::invalid_request, "NUL byte in user_id");
  return impl_->run<user_deletion>("delete_user", [&](pqxx::connection_base& c)
                                     -> caf::expected<user_deletion> {
    user_deletion out;
    out.user_id = user_id;
    pqxx::work tx{c};
    // Waits for in-flight batch commits; blocks new ones until commit.
    tx.exec(lock_sql(false, lock_ingest));
    tx.exec(detail::memory_change_sql("user_deletion"));
    auto tables = discover(tx);
    auto has = [&](const char* name) {
      for (auto& t : tables.user)
        if (t.name == name)
          return true;
      return false;
    };
    // Cutoff: no stored event of the user may be newer than it, so nothing
    // deleted here can be re-ingested.
    std::string newest = "now()";
    if (has("user_activities"))
      newest += ", (SELECT max(ts) FROM user_activities WHERE user_id = $1)";
    if (has("memories"))
      newest += ", (SELECT max(ts) FROM memories WHERE user_id = $1)";
    if (has("agent_sessions"))
      newest += ", (SELECT max(last_activity_at) FROM agent_sessions"
                " WHERE user_id = $1)";
    auto times = tx.exec_params("SELECT " + ms_of("now()") + ", "
                                  + ms_of("greatest(" + newest + ")"),
                                user_id);
    out.deleted_at_ms = times[0][0].as<int64_t>();
    out.cutoff_ms = times[0][1].as<int64_t>();
    tx.exec_params(
      "INSERT INTO user_tombstones (user_id, deleted_at, cutoff)"
      " VALUES ($1, now(), timestamptz 'epoch' + $2 * interval '1 millisecond')"
      " ON CONFLICT (user_id) DO UPDATE SET deleted_at = now(),"
      " cutoff = greatest(user_tombstones.cutoff, EXCLUDED.cutoff)",
      user_id, out.cutoff_ms);
    // Rows without user_id linked to the user's memories / activities.
    std::string mem_tmp, act_tmp;
    if (has("memories")) {
      tx.exec_params("CREATE TEMP TABLE gov_del_memories ON COMMIT DROP AS"
                     " SELECT memory_id FROM memories WHERE user_id = $1",
                     user_id);
      mem_tmp = "gov_del_memories";
    }
    if (has("user_activities")) {
      tx.exec_params("CREATE TEMP TABLE gov_del_activities ON COMMIT DROP AS"
                     " SELECT activity_id FROM user_activities"
                     " WHERE user_id = $1",
                     user_id);
      act_tmp = "gov_del_activities";
    }
    for (auto& t : tables.linked) {
      auto cond = linked_condition(t, mem_tmp, act_tmp);
      if (cond.empty())
        continue;
      auto r = tx.exec("DELETE FROM " + t.qualified + " t WHERE " + cond);
      if (r.affected_rows() > 0)
        out.tables.emplace_back(t.name, r.affected_rows());
    }
    for (auto& t : tables.user) {
      auto r = tx.exec_params("DELETE FROM " + t.qualified
                                + " WHERE user_id = $1",
                              user_id);
      out.tables.emplace_back(t.name, r.affected_rows());
    }
    tx.exec(lock_sql(false, lock_deletions));
    auto seq = tx.exec_params(
      "INSERT INTO deletions (kind, user_id, cutoff) VALUES ('user', $1,"
      " timestamptz 'epoch' + $2 * interval '1 millisecond') RETURNING seq",
      user_id, out.cutoff_ms);
    out.deletion_seq = seq[0][0].as<int64_t>();
    // The change stream's last word on the user: the memories' DELETE
    // records came from the trigger above (content-free), the user's
    // pending records with content went with the other user rows.
    if (has("memory_outbox"))
      tx.exec_params(
        "INSERT INTO memory_outbox (user_id, record_key, payload)"
        " VALUES (NULL, $1, jsonb_build_object('schema', 'agent.memory.v1',"
        " 'op', 'USER_DELETED', 'user_id', $1::text, 'deletion_seq', $2::bigint,"
        " 'changed_at', memory_change_time(now()),"
        " 'source', 'user_deletion'))",
        user_id, out.deletion_seq);
    tx.commit();
    return out;
  });
}

caf::error governance_store::export_user(
  const std::string& user_id, size_t page_rows,
  const std::function<bool(const std::string&, const std::string&)>& sink) {
  if (user_id.find('\0') != std::string::npos)
    return make_error(errc::invalid_request, "NUL byte in user_id");
  page_rows = std::max<size_t>(1, page_rows);
  auto res = impl_->run<bool>("export_user", [&](pqxx::connection_base& c)
                                               -> caf::expected<bool> {
    // One consistent snapshot for the whole export.
    pqxx::transaction<pqxx::isolation_level::repeatable_read,
                      pqxx::read_only>
      tx{c};
    auto tables = discover(tx);
    auto uid = tx.quote(user_id);
    bool has_mem = false, has_act = false;
    for (auto& t : tables.user) {
      has_mem = has_mem || t.name == "memories";
      has_act = has_act || t.name == "user_activities";
    }
    std::vector<std::pair<std::string, std::string>> queries;
    auto user_sorted = tables.user;
    std::sort(user_sorted.begin(), user_sorted.end(),
              [](auto& a, auto& b) { return a.name < b.name; });
    for (auto& t : user_sorted)
      queries.emplace_back(t.name, "SELECT row_to_json(t)::text FROM "
                                     + t.qualified + " t WHERE t.user_id = "
                                     + uid);
    for (auto& t : tables.linked) {
      std::string cond;
      if (t.memory_id && has_mem)
        cond = "t.memory_id IN (SELECT memory_id FROM memories"
               " WHERE user_id = " + uid + ")";
      if (t.activity_id && has_act)
        cond += (cond.empty() ? "" : " OR ")
                + std::string{"t.activity_id IN (SELECT activity_id FROM"
                              " user_activities WHERE user_id = "}
                + uid + ")";
      if (!cond.empty())
        queries.emplace_back(t.name, "SELECT row_to_json(t)::text FROM "
                                       + t.qualified + " t WHERE " + cond);
    }
    auto fetch = "FETCH FORWARD " + std::to_string(page_rows)
                 + " FROM gov_export";
    for (auto& [name, q] : queries) {
      tx.exec("DECLARE gov_export NO SCROLL CURSOR FOR " + q);
      while (true) {
        auto page = tx.exec(fetch);
        for (const auto& row : page)
          if (!sink(name, row[0].as<std::string>()))
            return false;
        if (page.size() < page_rows)
          break;
      }
      tx.exec("CLOSE gov_export");
    }
    tx.commit();
    return true;
  });
  if (!res)
    return res.error();
  return caf::none;
}

caf::expected<std::vector<deletion_entry>>
governance_store::deletions_after(int64_t seq, size_t limit) {
  using result_t = std::vector<deletion_entry>;
  return impl_->run<result_t>("deletions_after", [&](pqxx::connection_base& c)
                                                   -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
      "SELECT seq, kind, coalesce(user_id, ''), coalesce(session_id, ''),"
      " coalesce(" + ms_of("cutoff") + ", -1), point_ids::text"
      " FROM deletions WHERE seq > $1 ORDER BY seq LIMIT $2",
      seq, static_cast<int64_t>(std::min<size_t>(limit, 1'000'000)));
    result_t out;
    out.reserve(r.size());
    for (const auto& row : r) {
      deletion_entry e;
      e.seq = row[0].as<int64_t>();
      e.kind = row[1].as<std::string>();
      e.user_id = row[2].as<std::string>();
      e.session_id = row[3].as<std::string>();
      e.cutoff_ms = row[4].as<int64_t>();
      e.point_ids = parse_bigint_array(row[5].as<std::string>());
      out.push_back(std::move(e));
    }
    tx.commit();
    return out;
  });
}

caf::expected<retention_result>
governance_store::apply_retention(const retention_policy& p,
                                  domain::embedder* reembed) {
  return impl_->run<retention_result>("apply_retention", [&](pqxx::connection_base& c)
                                        -> caf::expected<retention_result> {
    retention_result out;
    auto limit = std::to_string(std::max<int64_t>(1, p.max_rows_per_pass));
    if (p.close_idle_sessions_ms > 0) {
      pqxx::work tx{c};
      auto r = tx.exec_params(
        "UPDATE agent_sessions SET ended_at = last_activity_at"
        " WHERE (user_id, session_id) IN (SELECT user_id, session_id"
        "  FROM agent_sessions WHERE ended_at IS NULL"
        "  AND last_activity_at < now() - $1 * interval '1 millisecond'"
        // Implied by the line above (a session's last activity is never
        // before its start); lets the scan use the open sessions' started_at
        // index (migration 034: last_activity_at has none).
        "  AND started_at < now() - $1 * interval '1 millisecond'"
        "  LIMIT " + limit + ")",
        p.close_idle_sessions_ms);
      out.sessions_closed = r.affected_rows();
      tx.commit();
    }
    if (p.delete_sessions_after_ms > 0) {
      pqxx::work tx{c};
      auto tables = discover(tx);
      auto n = tx.exec_params(
        "CREATE TEMP TABLE gov_ret_sessions ON COMMIT DROP AS"
        " SELECT s.user_id, s.session_id FROM agent_sessions s"
        " WHERE s.last_activity_at < now() - $1 * interval '1 millisecond'"
        " AND s.started_at < now() - $1 * interval '1 millisecond'" // implied; indexed
        " AND NOT EXISTS (SELECT 1 FROM memories m"
        "  WHERE m.user_id = s.user_id AND m.session_id = s.session_id"
        "  AND m.created_at > now() - $2 * interval '1 millisecond')"
        " ORDER BY s.last_activity_at LIMIT " + limit,
        p.delete_sessions_after_ms, p.grace_ms);
      out.sessions_deleted = n.affected_rows();
      if (out.sessions_deleted > 0) {
        tx.exec(detail::memory_change_sql("retention"));
        tx.exec("CREATE TEMP TABLE gov_ret_memories ON COMMIT DROP AS"
                " SELECT m.memory_id, m.point_id, m.user_id, m.session_id"
                " FROM memories m JOIN gov_ret_sessions s"
                " USING (user_id, session_id)");
        tx.exec("CREATE TEMP TABLE gov_ret_activities ON COMMIT DROP AS"
                " SELECT a.activity_id FROM user_activities a"
                " JOIN gov_ret_sessions s USING (user_id, session_id)");
        for (auto& t : tables.linked) {
          auto cond = linked_condition(t, "gov_ret_memories",
                                       "gov_ret_activities");
          if (!cond.empty())
            out.rows_deleted +=
              tx.exec("DELETE FROM " + t.qualified + " t WHERE " + cond)
                .affected_rows();
        }
        for (auto& t : tables.user) {
          if (!t.session_id)
            continue;
          auto r = tx.exec("DELETE FROM " + t.qualified
                           + " t USING gov_ret_sessions s"
                             " WHERE t.user_id = s.user_id"
                             " AND t.session_id = s.session_id");
          out.rows_deleted += r.affected_rows();
          if (t.name == "user_activities")
            out.activities_deleted = r.affected_rows();
          if (t.name == "memories")
            out.memories_deleted += r.affected_rows();
        }
        tx.exec(lock_sql(false, lock_deletions));
        tx.exec("INSERT INTO deletions (kind, user_id, session_id, point_ids)"
                " SELECT 'session', s.user_id, s.session_id,"
                " coalesce((SELECT array_agg(m.point_id ORDER BY m.point_id)"
                "  FROM gov_ret_memories m WHERE m.user_id = s.user_id"
                "  AND m.session_id = s.session_id), '{}')"
                " FROM gov_ret_sessions s ORDER BY s.user_id, s.session_id");
      }
      tx.commit();
    }
    if (p.delete_memories_after_ms > 0 && p.min_importance > 0) {
      pqxx::work tx{c};
      auto tables = discover(tx);
      auto n = tx.exec_params(
        "CREATE TEMP TABLE gov_ret_low ON COMMIT DROP AS"
        " SELECT memory_id, point_id, user_id, session_id, text FROM memories"
        " WHERE importance < $1"
        " AND ts < now() - $2 * interval '1 millisecond'"
        " AND created_at < now() - $3 * interval '1 millisecond'"
        " ORDER BY ts LIMIT " + limit,
        p.min_importance, p.delete_memories_after_ms, p.grace_ms);
      if (n.affected_rows() > 0) {
        // Before the deletes: commit_batch takes this lock before it locks
        // memory rows, so taking it after them could deadlock.
        tx.exec(detail::memory_change_sql("retention"));
        for (auto& t : tables.linked) {
          auto cond = linked_condition(t, "gov_ret_low", "");
          if (!cond.empty())
            out.rows_deleted +=
              tx.exec("DELETE FROM " + t.qualified + " t WHERE " + cond)
                .affected_rows();
        }
        auto r = tx.exec("DELETE FROM memories WHERE memory_id IN"
                         " (SELECT memory_id FROM gov_ret_low)");
        out.memories_deleted += r.affected_rows();
        out.rows_deleted += r.affected_rows();
        // A deleted turn lives on as the retrieval context of the turn after
        // it (docs/retrieval.md): clear those contexts and give the rows a
        // new seq, under the writers' memories lock (taken above), so that
        // every node's keyword index re-indexes them without the deleted
        // text.
        auto cleared = tx.exec(
          "UPDATE memories m SET context = NULL, seq = DEFAULT"
          " FROM gov_ret_low d"
          " WHERE m.user_id = d.user_id AND m.session_id = d.session_id"
          " AND m.context IS NOT NULL"
          " AND starts_with(m.context, left(d.text, 200))"
          " RETURNING m.memory_id, m.text");
        out.contexts_cleared = static_cast<int64_t>(cleared.size());
        if (reembed && !cleared.empty()) {
          // Their vectors were computed from text + the deleted context
          // (actors/embedding.cpp): recompute them from the text alone.
          std::vector<std::string> ids, texts, hexes;
          for (const auto& row : cleared) {
            ids.push_back(row[0].as<std::string>());
            texts.push_back(row[1].as<std::string>());
          }
          std::vector<std::string_view> views(texts.begin(), texts.end());
          std::vector<std::vector<float>> vectors;
          if (auto err = reembed->embed(views, vectors))
            return err;
          for (auto& v : vectors)
            hexes.push_back(detail::vector_to_bytea_hex(v));
          tx.exec_params("UPDATE memories m SET embedding = v.hex::bytea"
                         " FROM unnest($1::text[], $2::text[]) AS v(id, hex)"
                         " WHERE m.memory_id = v.id",
                         detail::text_array_literal(ids),
                         detail::text_array_literal(hexes));
        }
        tx.exec(lock_sql(false, lock_deletions));
        tx.exec("INSERT INTO deletions (kind, point_ids)"
                " SELECT 'memories', array_agg(point_id ORDER BY point_id)"
                " FROM gov_ret_low");
      }
      tx.commit();
    }
    return out;
  });
}

caf::expected<std::vector<std::string>> governance_store::user_tables() {
  using result_t = std::vector<std::string>;
  return impl_->run<result_t>("user_tables", [&](pqxx::connection_base& c)
                                               -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto tables = discover(tx);
    result_t out;
    for (auto& t : tables.user)
      out.push_back(t.name);
    tx.commit();
    return out;
  });
}

} // namespace agentmem::storage
