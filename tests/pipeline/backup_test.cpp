// pipeline/backup.cpp against a real PostgreSQL server (pg_fixture.hpp):
// a backup of an older schema restores with the newer migrations applied,
// and every refusal (corrupt archive, non-empty target or data dir, schema
// newer than the binary, pg_dump missing) changes nothing and names why,
// without the password.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "messages/errc.hpp"
#include "pipeline/backup.hpp"
#include "storage/embedded_migrations.hpp"
#include "storage/pg_backup.hpp"
#include "storage/pg_programs.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/pipeline/secrets.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace agentmem;
using agentmem::test::password_of;
using agentmem::test::shows;
using agentmem::test::why;

/// A fresh temporary directory, removed at the end.
struct scratch {
  scratch() {
    std::string tmpl = (fs::temp_directory_path() / "agentmem-backup-XXXXXX")
                         .string();
    BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path dir;
};

/// A second database on the test server (besides the fixture's), dropped
/// at the end.
struct extra_database {
  extra_database()
    : name(test::pg_server::instance().unique_name()),
      url(test::pg_server::instance().fresh_database(name)) {
  }
  ~extra_database() {
    try {
      test::pg_server::instance().drop_database(name);
    } catch (...) {
    }
  }
  std::string name;
  std::string url;
};

std::string read_text(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out << text;
  BOOST_REQUIRE(out.good());
}


/// What an agentmem of the previous release left: every compiled-in
/// migration but the newest, applied the way postgres_store::migrate()
/// applies them, plus some rows.
void migrate_all_but_newest(const std::string& url) {
  pqxx::connection c{url};
  pqxx::work tx{c};
  tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
  const int newest = storage::latest_known_migration();
  for (size_t i = 0; i < storage::detail::embedded_migration_count; ++i) {
    auto& m = storage::detail::embedded_migrations[i];
    if (m.version == newest)
      continue;
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO schema_migrations (version, name)"
                   " VALUES ($1, $2)",
                   m.version, std::string{m.name});
  }
  tx.exec("INSERT INTO kafka_offsets (consumer_group, topic, partition,"
          " next_offset) VALUES ('agentmem', 'agent.activity.v1', 0, 42),"
          " ('agentmem', 'agent.activity.v1', 1, 7)");
  tx.commit();
}

/// The second-newest compiled-in migration version.
int previous_migration() {
  int newest = storage::latest_known_migration(), previous = 0;
  for (size_t i = 0; i < storage::detail::embedded_migration_count; ++i) {
    int v = storage::detail::embedded_migrations[i].version;
    if (v < newest)
      previous = std::max(previous, v);
  }
  return previous;
}

bool is(const caf::error& err, errc code) {
  return err && err.category() == errc_category
         && static_cast<errc>(err.code()) == code;
}

} // namespace

BOOST_AUTO_TEST_SUITE(backup_restore)

BOOST_FIXTURE_TEST_CASE(
  a_backup_of_an_older_schema_restores_row_for_row_and_gets_the_newer_migrations,
  test::pg_database) {
  migrate_all_but_newest(url);
  scratch tmp;
  auto m = pipeline::backup(url, (tmp.dir / "b").string());
  BOOST_TEST_REQUIRE(!!m, why(m));
  BOOST_TEST(m->schema_version == previous_migration());
  BOOST_TEST(m->rows.at("kafka_offsets") == 2);
  BOOST_TEST(m->rows.at("memories") == 0);
  BOOST_TEST(m->archive_bytes == fs::file_size(tmp.dir / "b" / m->archive));
  BOOST_TEST(m->archive_sha256.size() == 64u);
  const auto manifest_text = read_text(tmp.dir / "b" / "manifest.json");
  auto parsed = pipeline::parse_manifest(manifest_text);
  BOOST_TEST_REQUIRE(!!parsed, why(parsed));
  BOOST_TEST(parsed->rows == m->rows);
  BOOST_TEST(parsed->archive_sha256 == m->archive_sha256);
  BOOST_TEST(!shows(manifest_text, password_of(url)));

  extra_database target;
  pipeline::restore_options o;
  o.postgres_url = target.url;
  o.data_dir = (tmp.dir / "data").string();
  o.from_dir = (tmp.dir / "b").string();
  auto r = pipeline::restore(o);
  BOOST_TEST_REQUIRE(!!r, why(r));
  BOOST_TEST(r->migrations_applied == 1);
  BOOST_TEST(!r->schema_cleared);
  BOOST_TEST(r->data_dir_moved_to.empty());
  BOOST_TEST(fs::is_directory(o.data_dir));
  BOOST_TEST(fs::is_empty(o.data_dir));
  auto after = storage::summarize_database(target.url);
  BOOST_TEST_REQUIRE(!!after, why(after));
  BOOST_TEST(after->schema_version == storage::latest_known_migration());
  auto expected = m->rows;
  ++expected.at("schema_migrations"); // the newest migration's row
  BOOST_TEST(after->rows == expected);
  pqxx::connection c{target.url};
  pqxx::read_transaction tx{c};
  BOOST_TEST(tx.exec1("SELECT sum(next_offset) FROM kafka_offsets")[0]
               .as<int64_t>()
             == 49);
}

BOOST_FIXTURE_TEST_CASE(
  restore_refuses_a_corrupt_archive_a_non_empty_target_and_data_dir_and_a_newer_schema_unless_forced,
  test::pg_database) {
  auto source = test::open_migrated(url);
  scratch tmp;
  const auto dir = tmp.dir / "b";
  auto m = pipeline::backup(url, dir.string());
  BOOST_TEST_REQUIRE(!!m, why(m));
  BOOST_TEST(m->schema_version == storage::latest_known_migration());

  // A second backup into the same directory is refused.
  auto again = pipeline::backup(url, dir.string());
  BOOST_TEST_REQUIRE(!again);
  BOOST_TEST(is(again.error(), errc::invalid_request), why(again));

  extra_database target;
  pipeline::restore_options o;
  o.postgres_url = target.url;
  o.data_dir = (tmp.dir / "data").string();
  o.from_dir = dir.string();
  const auto secret = password_of(target.url);
  auto empty_target = [&] {
    auto rel = storage::user_relations(target.url);
    BOOST_REQUIRE_MESSAGE(rel, why(rel));
    return rel->count == 0;
  };

  // One flipped byte in the middle of the archive.
  {
    auto bad = tmp.dir / "corrupt";
    fs::copy(dir, bad);
    auto text = read_text(bad / m->archive);
    text[text.size() / 2] = static_cast<char>(text[text.size() / 2] ^ 0x5a);
    write_text(bad / m->archive, text);
    auto r = pipeline::restore({target.url, o.data_dir, bad.string(), true});
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST(is(r.error(), errc::invalid_request), why(r));
    BOOST_TEST(why(r).find("does not match the manifest") != std::string::npos,
               why(r));
    BOOST_TEST(empty_target(), "a refused restore changed the target");
  }
  // A backup of a newer agentmem.
  {
    auto newer = tmp.dir / "newer";
    fs::copy(dir, newer);
    auto text = read_text(newer / "manifest.json");
    auto key = "\"schema_version\": " + std::to_string(m->schema_version);
    auto at = text.find(key);
    BOOST_TEST_REQUIRE(at != std::string::npos, text);
    text.replace(at, key.size(),
                 "\"schema_version\": "
                   + std::to_string(storage::latest_known_migration() + 1));
    write_text(newer / "manifest.json", text);
    auto r = pipeline::restore({target.url, o.data_dir, newer.string(), true});
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST(why(r).find("newer than this binary") != std::string::npos,
               why(r));
    BOOST_TEST(empty_target());
  }
  // Not a backup directory.
  {
    auto r = pipeline::restore({target.url, o.data_dir, tmp.dir.string(), false});
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST(why(r).find("no manifest.json") != std::string::npos, why(r));
  }
  // The first restore succeeds; the same again meets a non-empty target.
  {
    auto r = pipeline::restore(o);
    BOOST_TEST_REQUIRE(!!r, why(r));
    BOOST_TEST(r->migrations_applied == 0);
  }
  {
    auto r = pipeline::restore(o);
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST(is(r.error(), errc::invalid_request), why(r));
    BOOST_TEST(why(r).find("target database is not empty") != std::string::npos,
               why(r));
    BOOST_TEST(why(r).find("--force") != std::string::npos, why(r));
    BOOST_TEST(!shows(why(r), secret));
  }
  // --force: a target with a stray table and a data dir with old derived
  // state.
  {
    pqxx::connection c{target.url};
    pqxx::work tx{c};
    tx.exec("CREATE TABLE stray (x int)");
    tx.commit();
  }
  fs::create_directories(fs::path{o.data_dir} / "index");
  write_text(fs::path{o.data_dir} / "index" / "snapshot", "old");
  {
    // Only the data dir in the way: still refused without --force.
    extra_database fresh;
    auto r = pipeline::restore({fresh.url, o.data_dir, dir.string(), false});
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST(why(r).find("is not empty") != std::string::npos, why(r));
    auto rel = storage::user_relations(fresh.url);
    BOOST_TEST_REQUIRE(!!rel, why(rel));
    BOOST_TEST(rel->count == 0);
  }
  o.force = true;
  auto r = pipeline::restore(o);
  BOOST_TEST_REQUIRE(!!r, why(r));
  BOOST_TEST(r->schema_cleared);
  BOOST_TEST(!r->data_dir_moved_to.empty());
  BOOST_TEST(fs::exists(fs::path{r->data_dir_moved_to} / "index" / "snapshot"));
  BOOST_TEST(fs::is_empty(o.data_dir));
  auto after = storage::summarize_database(target.url);
  BOOST_TEST_REQUIRE(!!after, why(after));
  BOOST_TEST(after->rows == m->rows); // no `stray` table any more
  fs::remove_all(r->data_dir_moved_to);
}

BOOST_FIXTURE_TEST_CASE(errors_name_the_cause_and_never_the_password,
                        test::pg_database) {
  scratch tmp;
  const auto secret = password_of(url);
  // A database that does not exist: pg_dump's own message, redacted.
  auto missing = storage::pg_cluster::with_database(url, "no_such_db");
  auto m = pipeline::backup(missing, (tmp.dir / "b1").string());
  BOOST_TEST_REQUIRE(!m);
  BOOST_TEST(why(m).find("no_such_db") != std::string::npos, why(m));
  BOOST_TEST(!shows(why(m), secret), why(m));
  // A wrong password: authentication fails, the attempt is not echoed.
  if (auto at = url.find(secret); !secret.empty() && at != std::string::npos) {
    auto wrong = url;
    wrong.replace(at, secret.size(), "Wr0ngPassw0rd");
    m = pipeline::backup(wrong, (tmp.dir / "b2").string());
    BOOST_TEST_REQUIRE(!m);
    BOOST_TEST(!shows(why(m), "Wr0ngPassw0rd"), why(m));
  }
  // A client key passphrase could only reach pg_dump on its command line.
  const bool uri = url.rfind("postgres", 0) == 0;
  const auto sep = !uri ? " " : url.find('?') == std::string::npos ? "?" : "&";
  m = pipeline::backup(url + sep + "sslpassword=Pa55phrase",
                       (tmp.dir / "b4").string());
  BOOST_TEST_REQUIRE(!m);
  BOOST_TEST(is(m.error(), errc::invalid_config), why(m));
  BOOST_TEST(!shows(why(m), "Pa55phrase"), why(m));
  // No pg_dump where AGENTMEM_PG_BINDIR points.
  ::setenv("AGENTMEM_PG_BINDIR", tmp.dir.c_str(), 1);
  m = pipeline::backup(url, (tmp.dir / "b3").string());
  ::unsetenv("AGENTMEM_PG_BINDIR");
  BOOST_TEST_REQUIRE(!m);
  BOOST_TEST(is(m.error(), errc::io_error), why(m));
  BOOST_TEST(why(m).find("pg_dump not found") != std::string::npos, why(m));
  BOOST_TEST(!fs::exists(tmp.dir / "b3"));
}

BOOST_AUTO_TEST_SUITE_END()
