#include "storage/pg_common.hpp"

#include <cstring>

#include "messages/errc.hpp"
#include "storage/pg_cluster.hpp"

namespace agentmem::storage::detail {

std::string lock_sql(bool shared, int purpose) {
  return std::string{"SELECT pg_advisory_xact_lock"}
         + (shared ? "_shared(" : "(") + std::to_string(lock_class) + ", "
         + std::to_string(purpose) + ")";
}

std::string memory_change_sql(const char* source) {
  return lock_sql(false, lock_memories)
         + "; SELECT set_config('agentmem.change_source', '"
         + std::string{source} + "', true)";
}

std::string ts_of(const std::string& column) {
  return "(timestamptz 'epoch' + " + column + " * interval '1 millisecond')";
}

std::string ms_of(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000)::bigint";
}

std::string activity_id_of(const std::string& event_id_column) {
  return "(SELECT a.activity_id FROM user_activities a WHERE a.event_id = "
         + event_id_column + ")";
}

namespace {

template <class Int>
std::string array_literal(const std::vector<Int>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i)
    out += (i > 0 ? "," : "") + std::to_string(xs[i]);
  return out + "}";
}

} // namespace

std::string int_array_literal(const std::vector<int32_t>& xs) {
  return array_literal(xs);
}

std::string int_array_literal(const std::vector<int64_t>& xs) {
  return array_literal(xs);
}

std::string keyset_tail(const std::vector<std::string>& cols,
                        const std::vector<std::string>& after,
                        bool descending, int limit) {
  auto tuple = [](const std::vector<std::string>& xs) {
    std::string out = "(";
    for (size_t i = 0; i < xs.size(); ++i)
      out += (i ? ", " : "") + xs[i];
    return out + ")";
  };
  std::string sql;
  if (!after.empty())
    sql += " AND " + tuple(cols) + (descending ? " < " : " > ") + tuple(after);
  sql += " ORDER BY ";
  for (size_t i = 0; i < cols.size(); ++i)
    sql += (i ? ", " : "") + cols[i] + (descending ? " DESC" : "");
  return sql + " LIMIT " + std::to_string(limit + 1);
}

std::string trimmed_what(const std::exception& e) {
  std::string s = e.what();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

namespace {

// SQLSTATE classes that reject the rows themselves (PostgreSQL manual,
// Appendix A "Error Codes"): 22 data exception, 23 integrity constraint
// violation, 54 program limit exceeded. Retrying the same rows fails the
// same way. Every other class (08 connection, 40 rollback, 53 resources,
// 55 lock not available, 57 operator intervention, 42 a schema out of date,
// ...) is about the server or the program and may pass on a retry.
bool rejects_data(const std::string& sqlstate) {
  return sqlstate.size() == 5
         && (sqlstate.compare(0, 2, "22") == 0
             || sqlstate.compare(0, 2, "23") == 0
             || sqlstate.compare(0, 2, "54") == 0);
}

// The primary message of a server error, without the "ERROR:  " prefix and
// without DETAIL/CONTEXT lines (DETAIL may quote the failing row, i.e.
// event content, which must not reach logs or the DLQ reason).
std::string primary_message(const std::string& what) {
  auto s = what.substr(0, what.find('\n'));
  for (const char* p : {"ERROR:  ", "FATAL:  "})
    if (s.compare(0, std::strlen(p), p) == 0)
      return s.substr(std::strlen(p));
  return s;
}

} // namespace

const std::string& prepared_statements::name_of(pqxx::connection_base& c,
                                               const std::string& sql) {
  auto it = names_.find(sql);
  if (it != names_.end())
    return it->second;
  auto name = "agentmem_stmt_" + std::to_string(names_.size());
  c.prepare(name, sql);
  return names_.emplace(sql, std::move(name)).first->second;
}

caf::error pg_session::open() {
  conn.reset();
  statements.clear();
  try {
    conn = std::make_unique<pg_connection>(url);
    ++generation;
    broken = false;
    return caf::none;
  } catch (const std::exception& e) {
    broken = true;
    return make_error(errc::postgres_error,
                      "connecting to " + pg_cluster::redact(url) + ": "
                        + pg_cluster::redact_in(trimmed_what(e), url));
  }
}

caf::error pg_session::ensure() {
  if (!broken && conn && conn->is_open())
    return caf::none;
  return open();
}

caf::error pg_session::failure(const char* what,
                               const std::exception& e) const {
  return make_error(errc::postgres_error,
                    std::string{what} + ": "
                      + pg_cluster::redact_in(trimmed_what(e), url));
}

caf::error pg_session::sql_failure(const char* what,
                                   const pqxx::sql_error& e) const {
  // libpqxx 6.4 maps 22xxx/23xxx to data_exception /
  // integrity_constraint_violation but not 54xxx: use the SQLSTATE.
  auto state = e.sqlstate();
  if (!rejects_data(state))
    return failure(what, e);
  return make_error(errc::data_rejected,
                    std::string{what} + ": SQLSTATE " + state + ": "
                      + pg_cluster::redact_in(primary_message(trimmed_what(e)),
                                              url));
}

} // namespace agentmem::storage::detail
