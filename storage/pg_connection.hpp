#pragma once

// Internal to storage/ (and bench/, which measures the same COPY): a
// libpqxx connection that also hands out its libpq handle, for what
// libpqxx 6.4 cannot do itself -- a COPY in binary format (copy_writer.hpp,
// binary_copy_writer).
//
// libpqxx 6.4 keeps the PGconn* private; its documented extension point is
// the connection policy (pqxx/connectionpolicy.hxx), which sees every
// handle it opens and closes. pg_connection is basic_connection_base<>
// with a policy that remembers the handle: the same construction,
// connection_base's protected constructor plus init().

#include <string>

#include <pqxx/connection>
#include <pqxx/connectionpolicy>

namespace agentmem::storage::detail {

/// pqxx::connect_direct that remembers the handle it opened (nullptr once
/// dropped or closed).
class handle_keeping_policy : public pqxx::connect_direct {
public:
  explicit handle_keeping_policy(const std::string& options)
    : pqxx::connect_direct(options) {}

  handle do_startconnect(handle orig) override;
  handle do_completeconnect(handle orig) override;
  handle do_dropconnect(handle orig) noexcept override;
  handle do_disconnect(handle orig) noexcept override;

  /// The open connection's libpq handle, nullptr when there is none.
  handle current() const noexcept { return current_; }

private:
  handle current_ = nullptr;
};

/// A pqxx::connection (connect at once, libpq's connection string or URL;
/// throws pqxx::broken_connection when that fails) whose libpq handle
/// raw_handle() returns.
class pg_connection : public pqxx::connection_base {
public:
  explicit pg_connection(const std::string& options);
  ~pg_connection() noexcept;
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  /// The libpq handle (PGconn*) of the open connection; nullptr when
  /// closed. Valid until the connection closes or reconnects.
  pqxx::connectionpolicy::handle raw_handle() const noexcept {
    return policy_.current();
  }

private:
  // connection_base keeps a reference to it; constructed before init()
  // connects (the member is initialised after the base, as in
  // basic_connection_base).
  handle_keeping_policy policy_;
};

} // namespace agentmem::storage::detail
