#pragma once

// Runs set-up SQL (DDL, pg_terminate_backend, ...) against a test database
// in its own transaction with libpqxx; for tests that prepare a server-side
// condition postgres_store offers no call for. Link PkgConfig::PQXX.

#include <string>

#include <pqxx/pqxx>

namespace agentmem::test {

/// Executes `sql` on `url` and commits; pqxx exceptions propagate (a failed
/// test case).
inline void exec_sql(const std::string& url, const std::string& sql) {
  pqxx::connection c{url};
  pqxx::work tx{c};
  tx.exec(sql);
  tx.commit();
}

} // namespace agentmem::test
