#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::storage {

/// A private PostgreSQL cluster owned by this process (for `agentmem dev`
/// and tests). Layout of the cluster directory `<dir>`:
///   - `<dir>` itself is the data directory (PG_VERSION, base/, ...);
///   - `<dir>/agentmem.password`: the password of the `agentmem` superuser,
///     one line of 32 hex characters, mode 0600 (random, written at initdb
///     time and read back on every restart);
///   - `<dir>/postgres.log`: the server's stdout/stderr (appended);
///   - the server's unix socket lives in `<dir>` when that path fits the
///     107-byte socket path limit, else there is none.
/// The server listens on that socket and on 127.0.0.1 only (url() names
/// the socket when there is one: no TCP/IP stack per round trip), authenticates with
/// scram-sha-256 and has a database `agentmem` owned by user `agentmem`.
/// When the process runs as root, initdb and postgres run as the `postgres`
/// system user (they refuse to run as root): the cluster directory is
/// chown'ed to that user and every ancestor directory gets o+x.
/// The server is a child process in its own process group; it gets SIGINT
/// (fast shutdown) when the thread that called start() exits, so call
/// start() from a long-lived thread (e.g. main). Not thread-safe.
class pg_cluster {
public:
  /// True when initdb and postgres binaries were found (find_pg_bindir of
  /// storage/pg_programs.hpp: $AGENTMEM_PG_BINDIR, else the newest
  /// /usr/lib/postgresql/<N>/bin, else `pg_config --bindir`, else $PATH).
  static bool available();

  /// Starts a cluster in `dir` (created if missing; initdb runs when it has
  /// no PG_VERSION, an existing cluster is reused with its stored
  /// password) listening on 127.0.0.1:`port`; port 0 picks a free loopback
  /// port. Blocks until the server accepts connections (at most ~30 s) and
  /// database `agentmem` exists. Errors: errc::io_error (binaries missing,
  /// directory or process failures, initialised cluster without password
  /// file, server exited; the detail holds the tail of postgres.log),
  /// errc::timeout (not ready within 30 s), errc::postgres_error.
  static caf::expected<std::unique_ptr<pg_cluster>>
  start(const std::string& dir, uint16_t port);

  /// Stops the server (fast shutdown) if it still runs; errors are ignored.
  ~pg_cluster();

  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

  /// libpq URL of database `agentmem`:
  /// postgresql://agentmem:PASSWORD@/agentmem?host=DIR&port=PORT (the unix
  /// socket in DIR, percent-encoded), or
  /// postgresql://agentmem:PASSWORD@127.0.0.1:PORT/agentmem when the
  /// cluster has no socket. Holds the password: never log it, log
  /// redacted_url() instead.
  std::string url() const;

  /// url() with the password replaced by `***` (safe to log).
  std::string redacted_url() const;

  /// TCP port the server listens on (127.0.0.1).
  uint16_t port() const;

  /// Absolute path of the cluster (data) directory.
  const std::string& dir() const;

  /// Path of the server log, `<dir>/postgres.log`.
  std::string log_path() const;

  /// True while the server process has not been stopped by stop().
  bool running() const;

  /// Fast shutdown (SIGINT) and wait for the server to exit (at most 60 s,
  /// then SIGQUIT and SIGKILL). Idempotent. Errors: errc::timeout when the
  /// server needed SIGQUIT/SIGKILL, errc::io_error when it exited with an
  /// error status.
  caf::error stop();

  /// Drops (WITH FORCE, disconnecting sessions) and creates database
  /// `name` on the server `admin_url` points at; the connecting role needs
  /// CREATEDB. `name` must match [a-z_][a-z0-9_]{0,62}. Returns admin_url
  /// with the database replaced by `name`. Errors: errc::invalid_request
  /// (bad name), errc::postgres_error.
  static caf::expected<std::string>
  recreate_database(const std::string& admin_url, const std::string& name);

  /// Drops database `name` (IF EXISTS, WITH FORCE) on the server
  /// `admin_url` points at. Errors as recreate_database().
  static caf::error drop_database(const std::string& admin_url,
                                  const std::string& name);

  /// `url` with its database replaced by `db`: for URIs
  /// (postgres[ql]://...) the path is replaced (query kept); for key=value
  /// conninfo strings ` dbname=<db>` is appended (the last keyword wins).
  static std::string with_database(const std::string& url,
                                   const std::string& db);

  /// A Postgres URI or conninfo string with any password replaced by `***`.
  static std::string redact(const std::string& url);

  /// `text` (e.g. a libpq error message, which may quote the whole URI)
  /// with every occurrence of a password of `url` -- the URI's userinfo
  /// password (as written and percent-decoded) and `password=` values --
  /// replaced by `***`.
  static std::string redact_in(const std::string& text, const std::string& url);

private:
  pg_cluster() = default;

  std::string dir_;
  std::string socket_dir_; ///< empty: no unix socket (url() uses TCP)
  std::string password_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

} // namespace agentmem::storage
