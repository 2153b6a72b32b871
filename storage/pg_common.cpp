#include "storage/pg_common.hpp"

#include "messages/errc.hpp"
#include "storage/pg_cluster.hpp"

namespace agentmem::storage::detail {

std::string lock_sql(bool shared, int purpose) {
  return std::string{"SELECT pg_advisory_xact_lock"}
         + (shared ? "_shared(" : "(") + std::to_string(lock_class) + ", "
         + std::to_string(purpose) + ")";
}

std::string ts_of(const std::string& column) {
  return "(timestamptz 'epoch' + " + column + " * interval '1 millisecond')";
}

std::string ms_of(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000)::bigint";
}

std::string trimmed_what(const std::exception& e) {
  std::string s = e.what();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

caf::error pg_session::open() {
  conn.reset();
  try {
    conn = std::make_unique<pqxx::connection>(url);
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

} // namespace agentmem::storage::detail
