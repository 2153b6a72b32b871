#pragma once

#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::storage {

/// The directory holding every one of `programs` (e.g. {"pg_dump",
/// "pg_restore"}), searched in this order: $AGENTMEM_PG_BINDIR (only that
/// directory when set), the newest Debian /usr/lib/postgresql/<N>/bin,
/// `pg_config --bindir`, then each $PATH entry. "" when none has them all.
std::string find_pg_bindir(const std::vector<std::string>& programs);

/// A libpq URL or conninfo string split for a child program: `conninfo`
/// holds every parameter but the password (key=value form, safe on a
/// command line, which other users can read in /proc), `password` the
/// password ("" when the URL has none: PGPASSWORD/~/.pgpass then apply).
struct pg_client_target {
  std::string conninfo;
  std::string password;
  /// `sslpassword` (the client key's passphrase), also kept off `conninfo`:
  /// libpq has no environment variable for it.
  std::string ssl_password;
};

/// Parses `url` with libpq's PQconninfoParse. Errors: errc::invalid_config
/// with libpq's message, the URL redacted.
caf::expected<pg_client_target> split_password(const std::string& url);

/// Runs `<bindir>/<program> <args...> --no-password --dbname=<conninfo>` for
/// the database `url` points at, the password (if any) handed over in the
/// child's environment as PGPASSWORD (the rest of this process's
/// environment is inherited: PGSSLROOTCERT, PGPASSFILE, ... apply). stdin
/// and stdout are /dev/null; stderr is collected. Returns stderr (passwords
/// of `url` replaced by `***`) when the program exits with status 0.
/// Errors: errc::io_error "<program> failed (exit status N): <stderr>" (the
/// last 4000 bytes, redacted), or when it cannot be started;
/// errc::invalid_config when `url` does not parse or has an `sslpassword`
/// (it could only be passed on the command line).
caf::expected<std::string> run_pg_program(const std::string& bindir,
                                          const std::string& program,
                                          const std::vector<std::string>& args,
                                          const std::string& url);

} // namespace agentmem::storage
