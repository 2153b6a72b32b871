#include "storage/analytics_store.hpp"

#include <algorithm>
#include <tuple>

#include <pqxx/pqxx>

#include "domain/rollup.hpp"
#include "messages/errc.hpp"
#include "storage/memory_versions.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

struct analytics_store::impl : detail::pg_session {};

namespace {

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 86'400'000;

int64_t ceil_to(int64_t t, int64_t w) {
  auto f = domain::window_start(t, w);
  return f == t ? t : f + w;
}

// WHERE conditions of a range over the rows of `grain` of the view
// analytics_windows (migration 043: a day window is its day row plus its
// open hours, so every read aggregates over the window's rows).
std::string range_where(pqxx::transaction_base& tx,
                        const agentmem::analytics_range& r,
                        const std::string& grain) {
  const int64_t w = grain == "day" ? day_ms : hour_ms;
  std::string out = "grain = " + tx.quote(grain) + " AND bucket_start >= "
                    + detail::ts_of(std::to_string(domain::window_start(r.from_ms, w)))
                    + " AND bucket_start < "
                    + detail::ts_of(std::to_string(ceil_to(r.to_ms, w)));
  if (!r.scope.all) {
    if (!r.scope.prefix.empty())
      out += " AND left(user_id, char_length(" + tx.quote(r.scope.prefix)
             + ")) = " + tx.quote(r.scope.prefix);
    else
      out += " AND user_id = ANY(" + tx.quote(detail::text_array_literal(r.scope.users))
             + "::text[])";
  }
  if (!r.user_id.empty())
    out += " AND user_id = " + tx.quote(r.user_id);
  return out;
}

// Day rows when the range is whole days (fewer rows), else hour rows.
std::string summary_grain(const agentmem::analytics_range& r) {
  return r.from_ms % day_ms == 0 && r.to_ms % day_ms == 0 ? "day" : "hour";
}

// Aggregates of the measures over a group of rows: 13 columns, read by
// read_measures. The sketch is merged once and read four times.
constexpr const char* measures_sql =
  "sum(events)::bigint AS events, sum(errors)::bigint AS errors,"
  " sum(processing_time_ms)::bigint AS processing_time_ms,"
  " analytics_sketch_merge(latency_sketch) AS sk,"
  " sum(tokens)::bigint AS tokens, sum(files)::bigint AS files,"
  " sum(sessions_started)::bigint AS sessions_started,"
  " sum(sessions_ended)::bigint AS sessions_ended,"
  " sum(cost_usd) AS cost_usd, sum(priced_events)::bigint AS priced,"
  " sum(unpriced_events)::bigint AS unpriced,"
  " max(last_event_at) AS last_event_at";

// The measures' output columns (from a subquery `m` built with
// measures_sql): 16 columns.
std::string measures_out(const std::string& m) {
  return m + ".events, " + m + ".errors, " + m + ".processing_time_ms, "
         "analytics_sketch_quantile(" + m + ".sk, 0.5), "
         "analytics_sketch_quantile(" + m + ".sk, 0.9), "
         "analytics_sketch_quantile(" + m + ".sk, 0.95), "
         "analytics_sketch_quantile(" + m + ".sk, 0.99), "
         + m + ".tokens, " + m + ".files, " + m + ".sessions_started, "
         + m + ".sessions_ended, " + m + ".cost_usd::text, " + m
         + ".priced, " + m + ".unpriced, coalesce("
         + detail::ms_of(m + ".last_event_at") + ", 0)";
}


std::optional<double> opt_double(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<double>();
}

agentmem::analytics_measures read_measures(const pqxx::row& row, int i) {
  agentmem::analytics_measures m;
  m.events = row[i].as<int64_t>();
  m.errors = row[i + 1].as<int64_t>();
  if (m.events > 0)
    m.success_rate = 1.0 - static_cast<double>(m.errors)
                             / static_cast<double>(m.events);
  m.processing_time_ms = row[i + 2].as<int64_t>();
  if (m.events > 0) {
    m.p50_ms = opt_double(row[i + 3]);
    m.p90_ms = opt_double(row[i + 4]);
    m.p95_ms = opt_double(row[i + 5]);
    m.p99_ms = opt_double(row[i + 6]);
  }
  m.tokens = row[i + 7].as<int64_t>();
  m.files = row[i + 8].as<int64_t>();
  m.sessions_started = row[i + 9].as<int64_t>();
  m.sessions_ended = row[i + 10].as<int64_t>();
  m.cost_usd = row[i + 11].as<std::string>();
  m.priced_events = row[i + 12].as<int64_t>();
  m.unpriced_events = row[i + 13].as<int64_t>();
  m.last_event_ms = row[i + 14].as<int64_t>();
  return m;
}

caf::error invalid(std::string what) {
  return make_error(errc::invalid_request, std::move(what));
}

// The two parts of a position's id, split at its first U+001F (the first
// part, an identifier or a number, never holds one; api/analytics.hpp);
// errc::invalid_request without a separator.
caf::expected<std::pair<std::string, std::string>>
id_pair(const list_position& pos) {
  auto sep = pos.id.find('\x1f');
  if (sep == std::string::npos)
    return invalid("page position: expected two parts separated by U+001F");
  return std::pair{pos.id.substr(0, sep), pos.id.substr(sep + 1)};
}

std::string joined(const std::string& a, const std::string& b) {
  return a + '\x1f' + b;
}

// SQL literal of -v (the position of a column sorted descending,
// detail::keyset_tail).
std::string negated(int64_t v) {
  return "(" + std::to_string(-v) + ")::bigint";
}

// Literals of the position of a report ordered by a count descending, then
// a two-part key (agents, tools): {-count, part 1, part 2}; {} for the
// first page.
caf::expected<std::vector<std::string>>
count_then_pair(pqxx::transaction_base& tx,
                const std::optional<list_position>& pos) {
  if (!pos)
    return std::vector<std::string>{};
  auto parts = id_pair(*pos);
  if (!parts)
    return parts.error();
  return std::vector<std::string>{negated(pos->ts_ms), tx.quote(parts->first),
                                  tx.quote(parts->second)};
}

// A numeric's text as PostgreSQL writes it: [-]digits[.digits].
bool is_decimal(const std::string& s) {
  size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
  size_t digits = 0, dots = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == '.' && digits > 0 && dots == 0)
      ++dots;
    else if (s[i] >= '0' && s[i] <= '9')
      ++digits;
    else
      return false;
  }
  return digits > 0 && s.size() <= 64 && s.back() != '.';
}

agentmem::skill read_skill(const pqxx::row& row) {
  agentmem::skill s;
  s.name = row[0].as<std::string>();
  s.description = row[1].as<std::string>();
  s.category = row[2].as<std::string>();
  s.version = row[3].as<std::string>();
  s.spec_json = row[4].as<std::string>();
  pqxx::array_parser parser{row[5].c_str()};
  for (auto [j, v] = parser.get_next(); j != pqxx::array_parser::done;
       std::tie(j, v) = parser.get_next())
    if (j == pqxx::array_parser::string_value)
      s.dependencies.push_back(std::move(v));
  s.active = row[6].as<bool>();
  s.updated_ms = row[7].as<int64_t>();
  return s;
}

const std::string skill_columns =
  "name, description, category, version, spec::text, dependencies, active, "
  + detail::ms_of("updated_at");

agentmem::skill_binding read_binding(const pqxx::row& row) {
  agentmem::skill_binding b;
  b.agent_name = row[0].as<std::string>();
  b.skill = row[1].as<std::string>();
  b.enabled = row[2].as<bool>();
  b.priority = row[3].as<int32_t>();
  b.config_json = row[4].as<std::string>();
  b.updated_ms = row[5].as<int64_t>();
  return b;
}

const std::string binding_columns =
  "agent_name, skill, enabled, priority, config::text, "
  + detail::ms_of("updated_at");

// One keyset page of a listing ordered by `cols` (ascending; descending
// ones negated, detail::keyset_tail): `select(tx)` is the query up to its
// WHERE conditions, `after(tx)` the previous page's position as SQL
// literals ({} for the first page) or an error, read(row) a row, key(row)
// its position.
template <class T, class After, class Select, class Read, class Key>
caf::expected<agentmem::keyset_page<T>>
read_page(detail::pg_session& pg, const char* what,
          const agentmem::page_request& p,
          const std::vector<std::string>& cols, After after, Select select,
          Read read, Key key) {
  using result_t = agentmem::keyset_page<T>;
  return pg.run<result_t>(what, [&](pqxx::connection_base& c)
                                  -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    caf::expected<std::vector<std::string>> pos = after(tx);
    if (!pos)
      return pos.error();
    result_t page;
    detail::fill_page(
      tx.exec(select(tx) + detail::keyset_tail(cols, *pos, false, p.limit)),
      p.limit, page, read, key);
    return page;
  });
}

// The position of a listing ordered by a number descending, then a unique
// name: {-ts_ms, id}.
auto number_then_name(const std::optional<list_position>& pos) {
  return [&pos](pqxx::transaction_base& tx) {
    return pos ? std::vector<std::string>{negated(pos->ts_ms),
                                          tx.quote(pos->id)}
               : std::vector<std::string>{};
  };
}

} // namespace

analytics_store::analytics_store(std::unique_ptr<impl> p)
  : impl_(std::move(p)) {
}

analytics_store::~analytics_store() = default;

caf::expected<std::unique_ptr<analytics_store>>
analytics_store::connect(const std::string& url) {
  auto p = std::make_unique<impl>();
  p->url = url;
  if (auto err = p->open())
    return err;
  return std::unique_ptr<analytics_store>{new analytics_store(std::move(p))};
}

caf::expected<agentmem::usage_page>
analytics_store::usage(const agentmem::usage_query& q) {
  if (q.granularity != "hour" && q.granularity != "day")
    return invalid("granularity must be hour or day");
  std::string kind, key_expr, cat_expr = "''";
  if (q.group_by == "user")
    kind = "agent", key_expr = "user_id";
  else if (q.group_by == "agent_type")
    kind = "agent", key_expr = "agent_type";
  else if (q.group_by == "agent_name")
    kind = "agent", key_expr = "agent_name";
  else if (q.group_by == "model")
    kind = "model", key_expr = "model";
  else if (q.group_by == "tool")
    kind = "tool", key_expr = "tool_name || chr(31) || tool_category";
  else
    return invalid("group_by must be user, agent_type, agent_name, model or "
                   "tool");
  using result_t = agentmem::usage_page;
  return impl_->run<result_t>("analytics usage", [&](pqxx::connection_base& c)
                                                   -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    std::string where = range_where(tx, q.range, q.granularity)
                        + " AND kind = " + tx.quote(kind);
    if (auto& after = q.page.after)
      where += " AND (bucket_start, " + key_expr + ") > ("
               + detail::ts_of(std::to_string(after->ts_ms)) + ", "
               + tx.quote(after->id) + ")";
    auto r = tx.exec(
      "SELECT " + detail::ms_of("m.bucket_start") + ", m.k, "
      + measures_out("m") + " FROM (SELECT bucket_start, " + key_expr
      + " AS k, " + measures_sql + " FROM analytics_windows WHERE " + where
      + " GROUP BY 1, 2 ORDER BY 1, 2 LIMIT "
      + std::to_string(q.page.limit + 1) + ") m ORDER BY 1, 2");
    result_t page;
    const bool tool = q.group_by == "tool";
    detail::fill_page(
      r, q.page.limit, page,
      [&](const pqxx::row& row) {
        agentmem::usage_bucket b;
        b.bucket_start_ms = row[0].as<int64_t>();
        b.group = row[1].as<std::string>();
        if (tool) {
          auto sep = b.group.find('\x1f');
          b.tool_category = b.group.substr(sep + 1);
          b.group.resize(sep);
        }
        b.m = read_measures(row, 2);
        return b;
      },
      [&](const agentmem::usage_bucket& b) {
        return list_position{b.bucket_start_ms,
                             tool ? joined(b.group, b.tool_category)
                                  : b.group};
      });
    return page;
  });
}

caf::expected<agentmem::keyset_page<agentmem::agent_summary>>
analytics_store::agents(const agentmem::analytics_range& r,
                        const agentmem::page_request& p) {
  return read_page<agentmem::agent_summary>(
    *impl_, "analytics agents", p,
    {"-m.events", "m.agent_type", "m.agent_name"},
    [&](pqxx::transaction_base& tx) { return count_then_pair(tx, p.after); },
    [&](pqxx::transaction_base& tx) {
      return "SELECT m.agent_type, m.agent_name, " + measures_out("m")
             + " FROM (SELECT agent_type, agent_name, " + measures_sql
             + " FROM analytics_windows WHERE "
             + range_where(tx, r, summary_grain(r))
             + " AND kind = 'agent' GROUP BY 1, 2) m WHERE true";
    },
    [](const pqxx::row& row) {
      agentmem::agent_summary a;
      a.agent_type = row[0].as<std::string>();
      a.agent_name = row[1].as<std::string>();
      a.m = read_measures(row, 2);
      if (a.m.sessions_started > 0)
        a.mean_events_per_session = static_cast<double>(a.m.events)
                                    / static_cast<double>(a.m.sessions_started);
      return a;
    },
    [](const agentmem::agent_summary& a) {
      return list_position{a.m.events, joined(a.agent_type, a.agent_name)};
    });
}

caf::expected<agentmem::keyset_page<agentmem::tool_summary>>
analytics_store::tools(const agentmem::analytics_range& r,
                       const agentmem::page_request& p) {
  return read_page<agentmem::tool_summary>(
    *impl_, "analytics tools", p,
    {"-m.events", "m.tool_name", "m.tool_category"},
    [&](pqxx::transaction_base& tx) { return count_then_pair(tx, p.after); },
    [&](pqxx::transaction_base& tx) {
      return "SELECT m.tool_name, m.tool_category, m.agents, "
             + measures_out("m")
             + " FROM (SELECT tool_name, tool_category, count(DISTINCT"
               " (agent_type, agent_name)) AS agents, " + measures_sql
             + " FROM analytics_windows WHERE "
             + range_where(tx, r, summary_grain(r))
             + " AND kind = 'tool' GROUP BY 1, 2) m WHERE true";
    },
    [](const pqxx::row& row) {
      agentmem::tool_summary t;
      t.tool_name = row[0].as<std::string>();
      t.tool_category = row[1].as<std::string>();
      t.agents = row[2].as<int64_t>();
      t.m = read_measures(row, 3);
      return t;
    },
    [](const agentmem::tool_summary& t) {
      return list_position{t.m.events, joined(t.tool_name, t.tool_category)};
    });
}

caf::expected<agentmem::keyset_page<agentmem::model_cost>>
analytics_store::costs(const agentmem::analytics_range& r,
                       const agentmem::page_request& p) {
  return read_page<agentmem::model_cost>(
    *impl_, "analytics costs", p, {"-m.cost_usd", "-m.tokens", "m.model"},
    [&](pqxx::transaction_base& tx)
      -> caf::expected<std::vector<std::string>> {
      if (!p.after)
        return std::vector<std::string>{};
      auto parts = id_pair(*p.after);
      if (!parts)
        return parts.error();
      if (!is_decimal(parts->first))
        return invalid("page position: the cost is not a decimal number");
      return std::vector<std::string>{
        "(-" + tx.quote(parts->first) + "::numeric)",
        negated(p.after->ts_ms), tx.quote(parts->second)};
    },
    [&](pqxx::transaction_base& tx) {
      return "SELECT m.model, " + measures_out("m") + " FROM (SELECT model, "
             + measures_sql + " FROM analytics_windows WHERE "
             + range_where(tx, r, summary_grain(r))
             + " AND kind = 'model' GROUP BY 1) m WHERE true";
    },
    [](const pqxx::row& row) {
      agentmem::model_cost m;
      m.model = row[0].as<std::string>();
      m.m = read_measures(row, 1);
      return m;
    },
    [](const agentmem::model_cost& m) {
      return list_position{m.m.tokens, joined(m.m.cost_usd, m.model)};
    });
}

caf::expected<agentmem::keyset_page<agentmem::skill_usage>>
analytics_store::skill_usage(const agentmem::analytics_range& r,
                             const agentmem::page_request& p) {
  return read_page<agentmem::skill_usage>(
    *impl_, "skill usage", p, {"-coalesce(m.events, 0)", "s.name"},
    number_then_name(p.after),
    [&](pqxx::transaction_base& tx) {
      return "SELECT s.name, s.category, s.active, coalesce((SELECT"
             " array_agg(b.agent_name ORDER BY b.priority DESC, b.agent_name)"
             " FROM agent_skill_bindings b WHERE b.skill = s.name AND"
             " b.enabled), '{}'::text[]), " + measures_out("m")
             + " FROM skills s CROSS JOIN LATERAL (SELECT " + measures_sql
             + " FROM analytics_windows WHERE "
             + range_where(tx, r, summary_grain(r))
             + " AND kind = 'tool' AND tool_name = s.name) m WHERE true";
    },
    [](const pqxx::row& row) {
      agentmem::skill_usage u;
      u.skill = row[0].as<std::string>();
      u.category = row[1].as<std::string>();
      u.active = row[2].as<bool>();
      pqxx::array_parser parser{row[3].c_str()};
      for (auto [j, v] = parser.get_next(); j != pqxx::array_parser::done;
           std::tie(j, v) = parser.get_next())
        if (j == pqxx::array_parser::string_value)
          u.bound_agents.push_back(std::move(v));
      if (!row[4].is_null())
        u.m = read_measures(row, 4);
      return u;
    },
    [](const agentmem::skill_usage& u) {
      return list_position{u.m.events, u.skill};
    });
}

caf::expected<agentmem::keyset_page<agentmem::skill>>
analytics_store::skills(const agentmem::page_request& p) {
  return read_page<agentmem::skill>(
    *impl_, "skills", p, {"name"},
    [&](pqxx::transaction_base& tx) {
      return p.after ? std::vector<std::string>{tx.quote(p.after->id)}
                     : std::vector<std::string>{};
    },
    [](pqxx::transaction_base&) {
      return "SELECT " + skill_columns + " FROM skills WHERE true";
    },
    read_skill,
    [](const agentmem::skill& s) { return list_position{0, s.name}; });
}

caf::expected<agentmem::skill> analytics_store::get_skill(const std::string& name) {
  return impl_->run<agentmem::skill>("get skill", [&](pqxx::connection_base& c)
                                               -> caf::expected<agentmem::skill> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params("SELECT " + skill_columns
                              + " FROM skills WHERE name = $1",
                            name);
    if (r.empty())
      return make_error(errc::not_found, "no skill " + name);
    return read_skill(r[0]);
  });
}

caf::expected<agentmem::skill> analytics_store::put_skill(const agentmem::skill& s) {
  return impl_->run<agentmem::skill>("put skill", [&](pqxx::connection_base& c)
                                               -> caf::expected<agentmem::skill> {
    pqxx::work tx{c};
    auto r = tx.exec_params(
      "INSERT INTO skills (name, description, category, version, spec,"
      " dependencies, active) VALUES ($1, $2, $3, $4, $5::jsonb, $6::text[],"
      " $7) ON CONFLICT (name) DO UPDATE SET description ="
      " EXCLUDED.description, category = EXCLUDED.category, version ="
      " EXCLUDED.version, spec = EXCLUDED.spec, dependencies ="
      " EXCLUDED.dependencies, active = EXCLUDED.active, updated_at = now()"
      " RETURNING " + skill_columns,
      s.name, s.description, s.category, s.version, s.spec_json,
      detail::text_array_literal(s.dependencies), s.active);
    tx.commit();
    return read_skill(r[0]);
  });
}

caf::error analytics_store::delete_skill(const std::string& name) {
  auto n = impl_->run<size_t>("delete skill", [&](pqxx::connection_base& c)
                                                -> caf::expected<size_t> {
    pqxx::work tx{c};
    auto r = tx.exec_params("DELETE FROM skills WHERE name = $1", name);
    tx.commit();
    return static_cast<size_t>(r.affected_rows());
  });
  if (!n)
    return n.error();
  if (*n == 0)
    return make_error(errc::not_found, "no skill " + name);
  return caf::none;
}

caf::expected<agentmem::keyset_page<agentmem::skill_binding>>
analytics_store::bindings(const std::string& agent_name,
                          const agentmem::page_request& p) {
  return read_page<agentmem::skill_binding>(
    *impl_, "skill bindings", p, {"-priority", "skill"},
    number_then_name(p.after),
    [&](pqxx::transaction_base& tx) {
      return "SELECT " + binding_columns
             + " FROM agent_skill_bindings WHERE agent_name = "
             + tx.quote(agent_name);
    },
    read_binding,
    [](const agentmem::skill_binding& b) {
      return list_position{b.priority, b.skill};
    });
}

caf::expected<agentmem::skill_binding>
analytics_store::get_binding(const std::string& agent_name,
                             const std::string& skill) {
  using result_t = agentmem::skill_binding;
  return impl_->run<result_t>("get skill binding", [&](pqxx::connection_base& c)
                                                     -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params("SELECT " + binding_columns
                              + " FROM agent_skill_bindings WHERE"
                                " agent_name = $1 AND skill = $2",
                            agent_name, skill);
    if (r.empty())
      return make_error(errc::not_found,
                        "no binding of skill " + skill + " to " + agent_name);
    return read_binding(r[0]);
  });
}

caf::expected<agentmem::skill_binding>
analytics_store::put_binding(const agentmem::skill_binding& b) {
  using result_t = agentmem::skill_binding;
  return impl_->run<result_t>("put skill binding", [&](pqxx::connection_base& c)
                                                     -> caf::expected<result_t> {
    pqxx::work tx{c};
    auto known = tx.exec_params("SELECT 1 FROM skills WHERE name = $1", b.skill);
    if (known.empty())
      return make_error(errc::not_found, "no skill " + b.skill);
    auto r = tx.exec_params(
      "INSERT INTO agent_skill_bindings (agent_name, skill, enabled,"
      " priority, config) VALUES ($1, $2, $3, $4, $5::jsonb)"
      " ON CONFLICT (agent_name, skill) DO UPDATE SET enabled ="
      " EXCLUDED.enabled, priority = EXCLUDED.priority, config ="
      " EXCLUDED.config, updated_at = now() RETURNING " + binding_columns,
      b.agent_name, b.skill, b.enabled, b.priority, b.config_json);
    tx.commit();
    return read_binding(r[0]);
  });
}

caf::error analytics_store::delete_binding(const std::string& agent_name,
                                           const std::string& skill) {
  auto n = impl_->run<size_t>("delete skill binding", [&](pqxx::connection_base& c)
                                                        -> caf::expected<size_t> {
    pqxx::work tx{c};
    auto r = tx.exec_params("DELETE FROM agent_skill_bindings WHERE"
                            " agent_name = $1 AND skill = $2",
                            agent_name, skill);
    tx.commit();
    return static_cast<size_t>(r.affected_rows());
  });
  if (!n)
    return n.error();
  if (*n == 0)
    return make_error(errc::not_found,
                      "no binding of skill " + skill + " to " + agent_name);
  return caf::none;
}

} // namespace agentmem::storage
