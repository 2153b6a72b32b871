#include "storage/pg_backup.hpp"

#include <algorithm>

#include <pqxx/pqxx>

#include "messages/errc.hpp"
#include "storage/embedded_migrations.hpp"
#include "storage/pg_common.hpp"
#include "storage/pg_programs.hpp"

namespace agentmem::storage {

namespace {

// Relations outside the system schemas; the first column names them.
constexpr const char* user_relations_sql =
  "SELECT n.nspname || '.' || c.relname FROM pg_class c"
  " JOIN pg_namespace n ON n.oid = c.relnamespace"
  " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
  " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
  " AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
  " ORDER BY 1";

// The summary as seen by `tx` (its snapshot).
pg_database_summary summarize(pqxx::transaction_base& tx) {
  pg_database_summary out;
  out.server_version = tx.exec1("SHOW server_version")[0].as<std::string>();
  auto tables = tx.exec("SELECT tablename FROM pg_tables"
                        " WHERE schemaname = 'public' ORDER BY 1");
  for (const auto& row : tables) {
    auto name = row[0].as<std::string>();
    out.rows[name] = tx.exec1("SELECT count(*) FROM public."
                              + tx.quote_name(name))[0]
                       .as<int64_t>();
  }
  if (out.rows.count("schema_migrations") > 0)
    out.schema_version =
      tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0]
        .as<int>();
  return out;
}

using snapshot_tx = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

} // namespace

int latest_known_migration() {
  int latest = 0;
  for (size_t i = 0; i < detail::embedded_migration_count; ++i)
    latest = std::max(latest, detail::embedded_migrations[i].version);
  return latest;
}

caf::expected<pg_database_summary> dump_database(const std::string& bindir,
                                                 const std::string& url,
                                                 const std::string& archive) {
  detail::pg_session s;
  s.url = url;
  caf::error dump_error;
  auto summary = s.run<pg_database_summary>(
    "backup snapshot",
    [&](pqxx::connection_base& c) -> caf::expected<pg_database_summary> {
      snapshot_tx tx{c};
      auto snapshot =
        tx.exec1("SELECT pg_export_snapshot()")[0].as<std::string>();
      auto out = summarize(tx);
      // The exporting transaction stays open while pg_dump imports it.
      auto dumped = run_pg_program(bindir, "pg_dump",
                                   {"--format=custom", "--file=" + archive,
                                    "--snapshot=" + snapshot},
                                   url);
      if (!dumped)
        return std::move(dumped.error());
      tx.commit();
      return out;
    });
  return summary;
}

caf::expected<pg_database_summary> summarize_database(const std::string& url) {
  detail::pg_session s;
  s.url = url;
  return s.run<pg_database_summary>(
    "summarising the database",
    [](pqxx::connection_base& c) -> caf::expected<pg_database_summary> {
      snapshot_tx tx{c};
      auto out = summarize(tx);
      tx.commit();
      return out;
    });
}

caf::expected<pg_relations> user_relations(const std::string& url) {
  detail::pg_session s;
  s.url = url;
  return s.run<pg_relations>(
    "listing relations", [](pqxx::connection_base& c) -> caf::expected<pg_relations> {
      pqxx::read_transaction tx{c};
      pg_relations out;
      for (const auto& row : tx.exec(user_relations_sql)) {
        if (out.examples.size() < 5)
          out.examples.push_back(row[0].as<std::string>());
        ++out.count;
      }
      return out;
    });
}

caf::error clear_public_schema(const std::string& url) {
  detail::pg_session s;
  s.url = url;
  auto done = s.run<bool>(
    "dropping schema public", [](pqxx::connection_base& c) -> caf::expected<bool> {
      pqxx::work tx{c};
      tx.exec("DROP SCHEMA IF EXISTS public CASCADE");
      if (c.server_version() >= 140000) {
        tx.exec("CREATE SCHEMA public AUTHORIZATION pg_database_owner");
        tx.exec("GRANT USAGE ON SCHEMA public TO PUBLIC");
      } else {
        tx.exec("CREATE SCHEMA public");
        tx.exec("GRANT ALL ON SCHEMA public TO PUBLIC");
      }
      tx.exec("COMMENT ON SCHEMA public IS 'standard public schema'");
      tx.commit();
      return true;
    });
  return done ? caf::error{} : std::move(done.error());
}

caf::error restore_database(const std::string& bindir, const std::string& url,
                            const std::string& archive) {
  auto out = run_pg_program(bindir, "pg_restore",
                            {"--no-owner", "--no-privileges", "--exit-on-error",
                             "--single-transaction", archive},
                            url);
  return out ? caf::error{} : std::move(out.error());
}

} // namespace agentmem::storage
