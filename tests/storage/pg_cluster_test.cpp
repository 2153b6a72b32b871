// pg_cluster: the private PostgreSQL launcher. Each test that starts its
// own cluster uses its own temporary directory (initdb takes ~1 s).

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <boost/test/unit_test.hpp>

#include "messages/errc.hpp"
#include "storage/pg_cluster.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace fs = std::filesystem;
using agentmem::describe;
using agentmem::test::why;
using agentmem::errc;
using agentmem::storage::pg_cluster;
using agentmem::storage::postgres_store;

namespace {

// A fresh directory below /tmp, removed at scope exit.
struct temp_dir {
  std::string path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "agentmem-pgc-XXXXXX")
                         .string();
    BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string password_of(const std::string& url) {
  auto colon = url.find(':', url.find("://") + 3);
  auto at = url.find('@');
  return url.substr(colon + 1, at - colon - 1);
}

int64_t select_one(const std::string& url) {
  auto store = postgres_store::connect(url);
  BOOST_REQUIRE_MESSAGE(store, why(store));
  auto v = (*store)->scalar("SELECT 1");
  BOOST_REQUIRE_MESSAGE(v, why(v));
  return *v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pg_cluster_suite)

BOOST_AUTO_TEST_CASE(the_postgres_binaries_are_available_on_this_machine) {
  BOOST_TEST(pg_cluster::available());
}

BOOST_AUTO_TEST_CASE(a_cluster_starts_in_a_fresh_directory_and_accepts_connections) {
  temp_dir tmp;
  auto dir = tmp.path + "/data";
  auto started = pg_cluster::start(dir, 0);
  BOOST_REQUIRE_MESSAGE(started, why(started));
  auto& cluster = **started;
  BOOST_TEST(cluster.running());
  BOOST_TEST(cluster.port() != 0);
  BOOST_TEST(cluster.dir() == dir);
  auto url = cluster.url();
  auto password = password_of(url);
  BOOST_TEST(password.size() == 32u);
  // Through the unix socket in the cluster directory (short enough here).
  BOOST_TEST(url == "postgresql://agentmem:" + password + "@/agentmem?host="
                      + dir + "&port=" + std::to_string(cluster.port()));
  BOOST_TEST(cluster.redacted_url().find(password) == std::string::npos);
  BOOST_TEST(cluster.redacted_url()
             == "postgresql://agentmem:***@/agentmem?host=" + dir + "&port="
                  + std::to_string(cluster.port()));
  BOOST_TEST(select_one(url) == 1);
  {
    // inet_client_addr() is NULL for a unix-socket connection.
    auto store = postgres_store::connect(url);
    BOOST_REQUIRE_MESSAGE(store, why(store));
    auto local = (*store)->scalar("SELECT (inet_client_addr() IS NULL)::int");
    BOOST_REQUIRE_MESSAGE(local, why(local));
    BOOST_TEST(*local == 1);
  }
  // And over TCP on 127.0.0.1, for clients that cannot use the socket.
  BOOST_TEST(select_one("postgresql://agentmem:" + password + "@127.0.0.1:"
                        + std::to_string(cluster.port()) + "/agentmem")
             == 1);
  // The password file is private to its owner and holds the URL's secret.
  struct stat st;
  BOOST_REQUIRE(::stat((dir + "/agentmem.password").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  std::ifstream in{dir + "/agentmem.password"};
  std::string stored;
  std::getline(in, stored);
  BOOST_TEST(stored == password);
  BOOST_TEST(fs::exists(cluster.log_path()));
  BOOST_TEST(fs::exists(dir + "/PG_VERSION"));
  // A wrong password is refused (scram-sha-256, not trust).
  auto wrong = postgres_store::connect("postgresql://agentmem:nope@127.0.0.1:"
                                       + std::to_string(cluster.port())
                                       + "/agentmem");
  BOOST_TEST(!wrong);
  auto err = cluster.stop();
  BOOST_TEST(!err, describe(err));
  BOOST_TEST(!cluster.running());
  BOOST_TEST(!cluster.stop()); // idempotent
  BOOST_TEST(!postgres_store::connect(url));
}

BOOST_AUTO_TEST_CASE(a_directory_too_long_for_a_unix_socket_is_reached_over_tcp) {
  // A socket path is limited to 107 bytes: then the server has no socket
  // and url() names 127.0.0.1.
  temp_dir tmp;
  auto dir = tmp.path + "/" + std::string(100, 'd');
  auto started = pg_cluster::start(dir, 0);
  BOOST_REQUIRE_MESSAGE(started, why(started));
  auto& cluster = **started;
  BOOST_TEST(cluster.redacted_url()
             == "postgresql://agentmem:***@127.0.0.1:"
                  + std::to_string(cluster.port()) + "/agentmem");
  BOOST_TEST(select_one(cluster.url()) == 1);
}

BOOST_AUTO_TEST_CASE(a_cluster_restarts_on_an_existing_directory_with_the_same_password) {
  temp_dir tmp;
  auto dir = tmp.path + "/data";
  std::string first_url;
  {
    auto first = pg_cluster::start(dir, 0);
    BOOST_REQUIRE_MESSAGE(first, why(first));
    first_url = (*first)->url();
    auto store = postgres_store::connect(first_url);
    BOOST_REQUIRE_MESSAGE(store, why(store));
    auto applied = (*store)->migrate();
    BOOST_REQUIRE_MESSAGE(applied, why(applied));
    BOOST_TEST(*applied >= 1);
    store->reset();
    BOOST_TEST(!(*first)->stop());
  } // the destructor after stop() is a no-op
  auto second = pg_cluster::start(dir, 0);
  BOOST_REQUIRE_MESSAGE(second, why(second));
  BOOST_TEST(password_of((*second)->url()) == password_of(first_url));
  auto store = postgres_store::connect((*second)->url());
  BOOST_REQUIRE_MESSAGE(store, why(store));
  // Data survived: the schema is current, nothing left to apply.
  auto applied = (*store)->migrate();
  BOOST_REQUIRE_MESSAGE(applied, why(applied));
  BOOST_TEST(*applied == 0);
  auto tables = (*store)->scalar(
    "SELECT count(*) FROM pg_tables WHERE tablename = 'user_activities'");
  BOOST_REQUIRE(tables);
  BOOST_TEST(*tables == 1);
}

BOOST_AUTO_TEST_CASE(a_second_cluster_on_a_taken_port_fails_with_the_log_tail) {
  auto& shared = agentmem::test::pg_server::instance();
  if (shared.cluster() == nullptr)
    return; // external server: no port of ours to collide with
  temp_dir tmp;
  auto started = pg_cluster::start(tmp.path + "/data",
                                   shared.cluster()->port());
  BOOST_REQUIRE(!started);
  auto text = why(started);
  BOOST_TEST(started.error().code() == static_cast<uint8_t>(errc::io_error));
  BOOST_TEST(text.find("postgres exited during start-up") != std::string::npos,
             text);
  BOOST_TEST(text.find("could not") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(an_initialised_directory_without_password_file_is_refused) {
  temp_dir tmp;
  auto dir = tmp.path + "/data";
  fs::create_directories(dir);
  std::ofstream{dir + "/PG_VERSION"} << "15\n";
  auto started = pg_cluster::start(dir, 0);
  BOOST_REQUIRE(!started);
  BOOST_TEST(started.error().code() == static_cast<uint8_t>(errc::io_error));
  BOOST_TEST(why(started).find("agentmem.password")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(recreate_database_hands_out_an_empty_database) {
  auto& server = agentmem::test::pg_server::instance();
  auto name = server.unique_name();
  auto url = pg_cluster::recreate_database(server.admin_url(), name);
  BOOST_REQUIRE_MESSAGE(url, why(url));
  {
    auto store = postgres_store::connect(*url);
    BOOST_REQUIRE(store);
    BOOST_REQUIRE((*store)->migrate());
    auto n = (*store)->scalar("SELECT count(*) FROM schema_migrations");
    BOOST_REQUIRE(n);
    BOOST_TEST(*n >= 1);
  }
  // Recreating drops the old one even with a session still connected.
  auto holder = postgres_store::connect(*url);
  BOOST_REQUIRE(holder);
  auto again = pg_cluster::recreate_database(server.admin_url(), name);
  BOOST_REQUIRE_MESSAGE(again, why(again));
  auto store = postgres_store::connect(*again);
  BOOST_REQUIRE(store);
  auto n = (*store)->scalar(
    "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'");
  BOOST_REQUIRE(n);
  BOOST_TEST(*n == 0);
  store->reset();
  BOOST_TEST(!pg_cluster::drop_database(server.admin_url(), name));
  auto bad = pg_cluster::recreate_database(server.admin_url(), "Bad-Name");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().code()
             == static_cast<uint8_t>(errc::invalid_request));
}

BOOST_AUTO_TEST_CASE(redact_hides_passwords_in_uris_and_conninfo_strings) {
  BOOST_TEST(pg_cluster::redact("postgresql://u:s3cret@h:5432/db")
             == "postgresql://u:***@h:5432/db");
  BOOST_TEST(pg_cluster::redact("postgres://u@h/db?password=s3cret&x=1")
             == "postgres://u@h/db?password=***&x=1");
  BOOST_TEST(pg_cluster::redact("host=h password='a b' user=u")
             == "host=h password=*** user=u");
  BOOST_TEST(pg_cluster::redact("host=h password = s3cret")
             == "host=h password = ***");
  BOOST_TEST(pg_cluster::redact("postgresql://h/db") == "postgresql://h/db");
  BOOST_TEST(pg_cluster::redact("postgresql://h/db?sslpassword=k3y&x=1")
             == "postgresql://h/db?sslpassword=***&x=1");
  BOOST_TEST(pg_cluster::redact("host=h sslpassword=k3y")
             == "host=h sslpassword=***");
}

BOOST_AUTO_TEST_CASE(redact_in_scrubs_passwords_from_error_messages) {
  // libpq quotes the whole URI in some parse errors.
  const std::string uri = "postgresql://agentmem:s3cr%40t@[::1/db";
  BOOST_TEST(pg_cluster::redact_in("in URI: \"" + uri + "\"", uri)
             == "in URI: \"postgresql://agentmem:***@[::1/db\"");
  BOOST_TEST(pg_cluster::redact_in("x s3cr@t y", uri) == "x *** y");
  BOOST_TEST(pg_cluster::redact_in("pw q1w2e3 and 'a b'",
                                   "host=h password=q1w2e3 x=1")
             == "pw *** and 'a b'");
  BOOST_TEST(pg_cluster::redact_in("got a b here",
                                   "host=h password='a b' user=u")
             == "got *** here");
  BOOST_TEST(pg_cluster::redact_in("u?password=zz9&x", "postgres://u@h/db?password=zz9&x=1")
             == "u?password=***&x");
  BOOST_TEST(pg_cluster::redact_in("nothing secret", "postgresql://h/db")
             == "nothing secret");
  // The connect error of a malformed URL never carries its password.
  auto store = postgres_store::connect(
    "postgresql://agentmem:Sup3rS3cretPw@[::1/agentmem");
  BOOST_TEST_REQUIRE(!store);
  auto msg = describe(store.error());
  BOOST_TEST(msg.find("Sup3rS3cretPw") == std::string::npos, msg);
  BOOST_TEST(msg.find("IPv6") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(with_database_replaces_only_the_database_part) {
  BOOST_TEST(pg_cluster::with_database("postgresql://u:p@h:1/a?sslmode=disable",
                                       "b")
             == "postgresql://u:p@h:1/b?sslmode=disable");
  BOOST_TEST(pg_cluster::with_database("postgresql://u:p@h:1", "b")
             == "postgresql://u:p@h:1/b");
  BOOST_TEST(pg_cluster::with_database("postgresql://h?x=1", "b")
             == "postgresql://h/b?x=1");
  BOOST_TEST(pg_cluster::with_database("host=h dbname=a", "b")
             == "host=h dbname=a dbname=b");
}

BOOST_AUTO_TEST_SUITE_END()
