#pragma once

// PostgreSQL for tests: ONE server per test binary, a fresh database per
// test case. Self-contained (needs only storage/pg_cluster.hpp and the
// `storage` library); usable from any test folder:
//
//   BOOST_FIXTURE_TEST_CASE(some_sentence, agentmem::test::pg_database) {
//     auto store = agentmem::storage::postgres_store::connect(url);
//     ...
//   }
//
// The server is $AGENTMEM_TEST_PG_URL when set (a role allowed to CREATE
// DATABASE; databases are named agentmem_t<pid>_<n> and dropped after each
// test), else a private cluster started on first use with
// storage::pg_cluster in a fresh /tmp/agentmem-pg-XXXXXX directory that is
// stopped and removed when the binary exits (its log is
// <dir>/data/postgres.log; set AGENTMEM_TEST_KEEP_PG=1 to keep the
// directory). Failures throw std::runtime_error, which Boost.Test reports
// as a failed test case.

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/errc.hpp"
#include "storage/pg_cluster.hpp"

namespace agentmem::test {

/// The error of `x` as text, "" when it holds a value. Boost.Test builds
/// assertion messages eagerly, so `describe(x.error())` there would read
/// the error of a valued expected.
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

/// describe(err); "no error" for an empty error.
inline std::string why(const caf::error& err) {
  return describe(err);
}

/// The server shared by every test of one binary (created lazily, thread
/// safe to obtain; destroyed at exit).
class pg_server {
public:
  /// The shared instance; starts the private cluster on first call.
  /// Throws std::runtime_error when no server can be had.
  static pg_server& instance() {
    static pg_server server;
    return server;
  }

  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  /// URL of the server's administrative database (holds a password: never
  /// print it; use storage::pg_cluster::redact).
  const std::string& admin_url() const {
    return admin_url_;
  }

  /// The private cluster, or nullptr when $AGENTMEM_TEST_PG_URL is used.
  storage::pg_cluster* cluster() const {
    return cluster_.get();
  }

  /// A database name unique to this process: agentmem_t<pid>_<n>.
  std::string unique_name() {
    static std::atomic<int> counter{0};
    return "agentmem_t" + std::to_string(::getpid()) + "_"
           + std::to_string(++counter);
  }

  /// Drops (if present) and creates database `name`; returns its URL.
  /// Throws std::runtime_error on failure.
  std::string fresh_database(const std::string& name) {
    auto url = storage::pg_cluster::recreate_database(admin_url_, name);
    if (!url)
      throw std::runtime_error("cannot create test database " + name + ": "
                               + describe(url.error()));
    return *url;
  }

  /// Drops database `name` (disconnecting its sessions); throws
  /// std::runtime_error on failure.
  void drop_database(const std::string& name) {
    if (auto err = storage::pg_cluster::drop_database(admin_url_, name))
      throw std::runtime_error("cannot drop test database " + name + ": "
                               + describe(err));
  }

private:
  pg_server() {
    if (const char* env = std::getenv("AGENTMEM_TEST_PG_URL"); env && *env) {
      admin_url_ = env;
      return;
    }
    std::string tmpl = (std::filesystem::temp_directory_path()
                        / "agentmem-pg-XXXXXX")
                         .string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + tmpl + " failed");
    tmp_dir_ = tmpl;
    auto cluster = storage::pg_cluster::start(tmp_dir_ + "/data", 0);
    if (!cluster) {
      auto why = describe(cluster.error());
      remove_tmp_dir();
      throw std::runtime_error("cannot start a private PostgreSQL cluster "
                               "(set AGENTMEM_TEST_PG_URL to use a running "
                               "server): " + why);
    }
    cluster_ = std::move(*cluster);
    admin_url_ = cluster_->url();
  }

  ~pg_server() {
    if (cluster_)
      cluster_->stop();
    cluster_.reset();
    remove_tmp_dir();
  }

  void remove_tmp_dir() {
    const char* keep = std::getenv("AGENTMEM_TEST_KEEP_PG");
    if (tmp_dir_.empty() || (keep && *keep && std::string{keep} != "0"))
      return;
    std::error_code ec;
    std::filesystem::remove_all(tmp_dir_, ec);
  }

  std::string tmp_dir_;
  std::unique_ptr<storage::pg_cluster> cluster_;
  std::string admin_url_;
};

/// Boost.Test fixture: a fresh, empty database for one test case, dropped
/// afterwards. `url` is its libpq URL (holds a password: do not print it).
struct pg_database {
  pg_database()
    : name(pg_server::instance().unique_name()),
      url(pg_server::instance().fresh_database(name)) {
  }

  ~pg_database() {
    try {
      pg_server::instance().drop_database(name);
    } catch (...) {
      // A leftover database in a throw-away cluster is harmless.
    }
  }

  pg_database(const pg_database&) = delete;
  pg_database& operator=(const pg_database&) = delete;

  std::string name;
  std::string url;
};

} // namespace agentmem::test
