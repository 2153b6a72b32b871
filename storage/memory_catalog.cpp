#include "storage/memory_catalog.hpp"

#include <cmath>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/importance.hpp"
#include "domain/strict_input.hpp"
#include "messages/errc.hpp"
#include "storage/memory_versions.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

using detail::lock_deletions;
using detail::lock_sql;
using detail::ms_of;
using detail::text_array_literal;
using detail::ts_of;
using detail::vector_to_bytea_hex;

namespace {

// The columns read_record() reads, in order.
const std::string record_columns =
  "memory_id, memory_type, user_id, session_id, event_id, " + ms_of("ts")
  + ", importance, version, text, coalesce(role, ''),"
    " coalesce(speaker, ''), coalesce(metadata::text, ''),"
    " coalesce(array_to_json(tags)::text, '[]'), "
  + ms_of("created_at") + ", " + ms_of("updated_at")
  + ", point_id, coalesce(context, ''), coalesce(source_partition, -1),"
    " coalesce(agent_type, ''), coalesce(agent_name, ''),"
    " coalesce(project_id, '')";

struct stored {
  memory_record rec;
  uint64_t point_id = 0;
  std::string context;
  int32_t partition = -1; ///< source_partition: the memory's shard
};

stored read_record(const pqxx::row& row) {
  stored s;
  auto& r = s.rec;
  r.memory_id = row[0].as<std::string>();
  r.memory_type = row[1].as<std::string>();
  r.user_id = row[2].as<std::string>();
  r.session_id = row[3].as<std::string>();
  r.event_id = row[4].as<std::string>();
  r.ts_ms = row[5].as<int64_t>();
  r.importance = row[6].as<double>();
  r.version = row[7].as<int32_t>();
  r.text = row[8].as<std::string>();
  r.role = row[9].as<std::string>();
  r.speaker = row[10].as<std::string>();
  r.metadata_json = row[11].as<std::string>();
  auto tags = nlohmann::json::parse(row[12].as<std::string>(), nullptr, false);
  if (tags.is_array())
    for (auto& t : tags)
      if (t.is_string())
        r.tags.push_back(t.get<std::string>());
  r.created_at_ms = row[13].as<int64_t>();
  if (!row[14].is_null())
    r.updated_at_ms = row[14].as<int64_t>();
  s.point_id = static_cast<uint64_t>(row[15].as<int64_t>());
  s.context = row[16].as<std::string>();
  s.partition = row[17].as<int32_t>();
  r.agent_type = row[18].as<std::string>();
  r.agent_name = row[19].as<std::string>();
  r.project_id = row[20].as<std::string>();
  return s;
}

caf::error not_found(const std::string& user_id, const std::string& id) {
  return make_error(errc::not_found,
                    "user " + user_id + " has no memory " + id);
}

// One memory of one user, in its own read transaction.
caf::expected<stored> read_one(pqxx::connection_base& c, const std::string& user_id,
                               const std::string& id) {
  pqxx::read_transaction tx{c};
  auto r = tx.exec_params("SELECT " + record_columns
                            + " FROM memories WHERE user_id = $1"
                              " AND memory_id = $2",
                          user_id, id);
  if (r.empty())
    return not_found(user_id, id);
  return read_record(r[0]);
}

// A finite double as SQL text (real columns compare as float4).
std::string sql_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

// `x` as a `real` column holds it: rounded to float, and 0 below float's
// normal range, where PostgreSQL refuses the text as "out of range for
// type real" (an importance of 1e-311 passed the API's 0..1 check and
// came back as a 503; found by Schemathesis, tests/contract/).
double as_real(double x) {
  return static_cast<double>(domain::stored_importance(x));
}

// The keyset tail of a list query ordered by (ts_col, id_col) descending
// (detail::keyset_tail).
std::string newest_first_tail(pqxx::transaction_base& tx,
                              const std::string& ts_col,
                              const std::string& id_col,
                              const std::optional<list_position>& after,
                              int limit) {
  std::vector<std::string> pos;
  if (after)
    pos = {ts_of(std::to_string(after->ts_ms)), tx.quote(after->id)};
  return detail::keyset_tail({ts_col, id_col}, pos, true, limit);
}

} // namespace

struct memory_catalog::impl : detail::pg_session {};

memory_catalog::memory_catalog(std::unique_ptr<impl> p)
  : impl_(std::move(p)) {
}

memory_catalog::~memory_catalog() = default;

caf::expected<std::unique_ptr<memory_catalog>>
memory_catalog::connect(const std::string& url) {
  auto p = std::make_unique<impl>();
  p->url = url;
  if (auto err = p->open())
    return err;
  return std::unique_ptr<memory_catalog>{new memory_catalog(std::move(p))};
}

caf::expected<memory_record> memory_catalog::get(const std::string& user_id,
                                                 const std::string& id) {
  if (domain::strict::has_nul(user_id) || domain::strict::has_nul(id))
    return not_found(user_id, id);
  return impl_->run<memory_record>(
    "get memory", [&](pqxx::connection_base& c) -> caf::expected<memory_record> {
      auto s = read_one(c, user_id, id);
      if (!s)
        return s.error();
      return std::move(s->rec);
    });
}

caf::expected<memory_record>
memory_catalog::update(const std::string& user_id, const std::string& id,
                       const memory_patch& patch, domain::embedder& embed,
                       memory& stored_now) {
  if (!patch.text && !patch.importance && !patch.tags)
    return make_error(errc::invalid_request,
                      "nothing to change: give text, importance or tags");
  for (int attempt = 0; attempt < 3; ++attempt) {
    // 1. The current row, and the new vector outside any transaction (the
    // embedder may be a remote model server).
    auto cur = impl_->run<stored>(
      "update memory", [&](pqxx::connection_base& c) {
        return read_one(c, user_id, id);
      });
    if (!cur)
      return cur.error();
    auto next = cur->rec;
    if (patch.text)
      next.text = *patch.text;
    if (patch.importance)
      next.importance = as_real(*patch.importance);
    if (patch.tags)
      next.tags = *patch.tags;
    bool text_changed = next.text != cur->rec.text;
    if (!text_changed && next.importance == as_real(cur->rec.importance)
        && next.tags == cur->rec.tags)
      return cur->rec;
    std::vector<float> vec;
    if (text_changed) {
      std::string input = cur->context.empty()
                            ? next.text
                            : next.text + "\n" + cur->context;
      std::vector<std::string_view> texts{input};
      std::vector<std::vector<float>> out;
      if (auto err = embed.embed(texts, out))
        return err;
      vec = std::move(out.at(0));
    }
    // 2. One transaction: lock as commit_batch does (memories lock first,
    // then the row), re-check the version, write row and history.
    auto res = impl_->run<std::optional<memory_record>>(
      "update memory",
      [&](pqxx::connection_base& c)
        -> caf::expected<std::optional<memory_record>> {
        pqxx::work tx{c};
        tx.exec(detail::memory_change_sql("api"));
        auto r = tx.exec_params("SELECT version FROM memories WHERE"
                                " user_id = $1 AND memory_id = $2 FOR UPDATE",
                                user_id, id);
        if (r.empty())
          return not_found(user_id, id);
        if (r[0][0].as<int32_t>() != cur->rec.version)
          return std::optional<memory_record>{}; // changed meanwhile
        std::string set = "importance = " + sql_number(next.importance)
                          + ", tags = "
                          + tx.quote(text_array_literal(next.tags))
                          + "::text[]";
        if (text_changed) {
          auto blob = vector_to_bytea_hex(vec);
          set += ", text = " + tx.quote(next.text) + ", embedding = "
                 + tx.quote(blob) + "::bytea, dims = "
                 + std::to_string(vec.size())
                 + ", embedding_model = " + tx.quote(embed.model());
        }
        auto u = tx.exec_params(
          "UPDATE memories SET " + set
            + ", version = version + 1, updated_at = now(), seq = DEFAULT"
              " WHERE user_id = $1 AND memory_id = $2 RETURNING "
            + record_columns,
          user_id, id);
        auto after = read_record(u[0]).rec;
        tx.exec_params(
          "INSERT INTO memory_history (memory_id, version, event, user_id,"
          " old_text, new_text, old_importance, new_importance, event_id,"
          " source_memory_id) VALUES ($1, $2, 'UPDATE', $3, $4, $5, $6, $7,"
          " NULL, $1)",
          id, after.version, user_id, cur->rec.text, after.text,
          cur->rec.importance, after.importance);
        tx.commit();
        return std::optional<memory_record>{std::move(after)};
      });
    if (!res)
      return res.error();
    if (*res) {
      auto& r = **res;
      stored_now = memory{};
      stored_now.memory_id = r.memory_id;
      stored_now.point_id = cur->point_id;
      stored_now.memory_type = r.memory_type;
      stored_now.user_id = r.user_id;
      stored_now.session_id = r.session_id;
      stored_now.event_id = r.event_id;
      stored_now.ts_ms = r.ts_ms;
      stored_now.turn_ts_ms = r.ts_ms;
      stored_now.importance = r.importance;
      stored_now.role = r.role;
      stored_now.speaker = r.speaker;
      stored_now.text = r.text;
      stored_now.context = cur->context;
      stored_now.metadata_json = r.metadata_json;
      stored_now.tags = r.tags;
      stored_now.agent_type = r.agent_type;
      stored_now.agent_name = r.agent_name;
      stored_now.project_id = r.project_id;
      stored_now.vector = std::move(vec);
      stored_now.partition = cur->partition;
      return std::move(r);
    }
  }
  return make_error(errc::postgres_error,
                    "memory " + id + " kept changing while it was updated");
}

caf::expected<memory_deletion>
memory_catalog::remove(const std::string& user_id, const std::string& id,
                       uint64_t& point_id) {
  if (domain::strict::has_nul(user_id) || domain::strict::has_nul(id))
    return not_found(user_id, id);
  return impl_->run<memory_deletion>(
    "delete memory",
    [&](pqxx::connection_base& c) -> caf::expected<memory_deletion> {
      pqxx::work tx{c};
      tx.exec(detail::memory_change_sql("api"));
      auto r = tx.exec_params("SELECT point_id, version, text, importance"
                              " FROM memories WHERE user_id = $1"
                              " AND memory_id = $2 FOR UPDATE",
                              user_id, id);
      if (r.empty())
        return not_found(user_id, id);
      memory_deletion out;
      out.memory_id = id;
      out.user_id = user_id;
      point_id = static_cast<uint64_t>(r[0][0].as<int64_t>());
      out.version = r[0][1].as<int32_t>() + 1;
      tx.exec_params("DELETE FROM memories WHERE memory_id = $1", id);
      tx.exec_params(
        "INSERT INTO memory_history (memory_id, version, event, user_id,"
        " old_text, new_text, old_importance, new_importance, event_id,"
        " source_memory_id) VALUES ($1, $2, 'DELETE', $3, $4, NULL, $5, NULL,"
        " NULL, $1) ON CONFLICT (memory_id, version) DO NOTHING",
        id, out.version, user_id, r[0][2].as<std::string>(),
        r[0][3].as<double>());
      tx.exec(lock_sql(false, lock_deletions));
      auto d = tx.exec_params(
        "INSERT INTO deletions (kind, user_id, point_ids) VALUES"
        " ('memories', $1, ARRAY[$2::bigint]) RETURNING seq, "
          + ms_of("created_at"),
        user_id, static_cast<int64_t>(point_id));
      out.deletion_seq = d[0][0].as<int64_t>();
      out.deleted_at_ms = d[0][1].as<int64_t>();
      tx.commit();
      return out;
    });
}

caf::expected<memory_page>
memory_catalog::list(const memory_list_query& q) {
  return impl_->run<memory_page>(
    "list memories", [&](pqxx::connection_base& c) -> caf::expected<memory_page> {
      pqxx::read_transaction tx{c};
      std::string sql = "SELECT " + record_columns
                        + " FROM memories WHERE user_id = "
                        + tx.quote(q.user_id);
      if (!q.memory_types.empty())
        sql += " AND memory_type = ANY("
               + tx.quote(text_array_literal(q.memory_types)) + "::text[])";
      if (!q.session_id.empty())
        sql += " AND session_id = " + tx.quote(q.session_id);
      if (q.since_ms)
        sql += " AND ts >= " + ts_of(std::to_string(*q.since_ms));
      if (q.until_ms)
        sql += " AND ts <= " + ts_of(std::to_string(*q.until_ms));
      if (!q.tags.empty())
        sql += std::string{" AND coalesce(tags, '{}') "}
               + (q.tags_all ? "@>" : "&&") + " "
               + tx.quote(text_array_literal(q.tags)) + "::text[]";
      if (q.min_importance)
        sql += " AND importance >= " + sql_number(as_real(*q.min_importance))
               + "::real";
      if (!q.agent_type.empty())
        sql += " AND agent_type = " + tx.quote(q.agent_type);
      if (!q.agent_name.empty())
        sql += " AND agent_name = " + tx.quote(q.agent_name);
      if (!q.project_id.empty())
        sql += " AND project_id = " + tx.quote(q.project_id);
      sql += newest_first_tail(tx, "ts", "memory_id", q.after, q.limit);
      memory_page page;
      detail::fill_page(
        tx.exec(sql), q.limit, page,
        [](const pqxx::row& row) { return read_record(row).rec; },
        [](const memory_record& m) {
          return list_position{m.ts_ms, m.memory_id};
        });
      return page;
    });
}

caf::expected<session_page>
memory_catalog::sessions(const session_list_query& q) {
  return impl_->run<session_page>(
    "list sessions",
    [&](pqxx::connection_base& c) -> caf::expected<session_page> {
      pqxx::read_transaction tx{c};
      std::string sql =
        "SELECT s.session_id, s.agent_type, coalesce(s.project_id, ''), "
        + ms_of("s.started_at") + ", "
        + ms_of("s.last_activity_at") + ", " + ms_of("s.ended_at")
        + ", s.total_interactions, (SELECT count(*) FROM memories m"
          " WHERE m.user_id = s.user_id AND m.session_id = s.session_id)"
          " FROM agent_sessions s WHERE s.user_id = "
        + tx.quote(q.user_id);
      if (!q.agent_type.empty())
        sql += " AND s.agent_type = " + tx.quote(q.agent_type);
      if (!q.project_id.empty())
        sql += " AND s.project_id = " + tx.quote(q.project_id);
      if (q.since_ms)
        sql += " AND s.last_activity_at >= "
               + ts_of(std::to_string(*q.since_ms));
      if (q.until_ms)
        sql += " AND s.started_at <= " + ts_of(std::to_string(*q.until_ms));
      sql += newest_first_tail(tx, "s.started_at", "s.session_id", q.after,
                         q.limit);
      session_page page;
      detail::fill_page(
        tx.exec(sql), q.limit, page,
        [](const pqxx::row& row) {
          session_row s;
          s.session_id = row[0].as<std::string>();
          s.agent_type = row[1].as<std::string>();
          s.project_id = row[2].as<std::string>();
          s.started_at_ms = row[3].as<int64_t>();
          s.last_activity_at_ms = row[4].as<int64_t>();
          if (!row[5].is_null())
            s.ended_at_ms = row[5].as<int64_t>();
          s.total_interactions = row[6].as<int64_t>();
          s.memory_count = row[7].as<int64_t>();
          return s;
        },
        [](const session_row& s) {
          return list_position{s.started_at_ms, s.session_id};
        });
      return page;
    });
}

caf::expected<project_page>
memory_catalog::projects(const project_list_query& q) {
  return impl_->run<project_page>(
    "list projects",
    [&](pqxx::connection_base& c) -> caf::expected<project_page> {
      pqxx::read_transaction tx{c};
      // Every project named by the user's sessions, memories or uploads
      // (the partial indexes on (user_id, project_id) serve each part).
      std::string after =
        q.after ? " AND project_id > " + tx.quote(q.after->id) : "";
      std::string uid = tx.quote(q.user_id);
      auto part = [&](const char* table, const char* what,
                      const std::string& last) {
        return std::string{"SELECT project_id, "} + what + ", " + last
               + " FROM " + table + " WHERE user_id = " + uid
               + " AND project_id IS NOT NULL" + after
               + " GROUP BY project_id";
      };
      std::string sql =
        "SELECT project_id, sum(s)::bigint, sum(m)::bigint, sum(u)::bigint, "
        + ms_of("max(last)") + " FROM ("
        + part("agent_sessions", "count(*) AS s, 0 AS m, 0 AS u",
               "max(last_activity_at) AS last")
        + " UNION ALL "
        + part("memories", "0, count(*), 0", "max(ts)")
        + " UNION ALL "
        + part("file_uploads", "0, 0, count(*)", "max(uploaded_at)")
        + ") p GROUP BY project_id ORDER BY project_id LIMIT "
        + std::to_string(q.limit + 1);
      project_page page;
      detail::fill_page(
        tx.exec(sql), q.limit, page,
        [](const pqxx::row& row) {
          project_row p;
          p.project_id = row[0].as<std::string>();
          p.sessions = row[1].as<int64_t>();
          p.memories = row[2].as<int64_t>();
          p.uploads = row[3].as<int64_t>();
          p.last_activity_ms = row[4].as<int64_t>();
          return p;
        },
        [](const project_row& p) { return list_position{0, p.project_id}; });
      return page;
    });
}

} // namespace agentmem::storage
