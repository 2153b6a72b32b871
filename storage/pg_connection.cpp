#include "storage/pg_connection.hpp"

namespace agentmem::storage::detail {

handle_keeping_policy::handle
handle_keeping_policy::do_startconnect(handle orig) {
  current_ = pqxx::connect_direct::do_startconnect(orig);
  return current_;
}

handle_keeping_policy::handle
handle_keeping_policy::do_completeconnect(handle orig) {
  current_ = pqxx::connect_direct::do_completeconnect(orig);
  return current_;
}

handle_keeping_policy::handle
handle_keeping_policy::do_dropconnect(handle orig) noexcept {
  current_ = pqxx::connect_direct::do_dropconnect(orig);
  return current_;
}

handle_keeping_policy::handle
handle_keeping_policy::do_disconnect(handle orig) noexcept {
  current_ = pqxx::connect_direct::do_disconnect(orig);
  return current_;
}

pg_connection::pg_connection(const std::string& options)
  : pqxx::connection_base(policy_), policy_(options) {
  init();
}

pg_connection::~pg_connection() noexcept {
  close();
}

} // namespace agentmem::storage::detail
