#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::storage {

/// What a database holds, as a backup manifest records it and a restore
/// checks it.
struct pg_database_summary {
  /// max(schema_migrations.version); 0 when the table does not exist.
  int schema_version = 0;
  /// Exact row count of every table of schema `public`, by table name.
  std::map<std::string, int64_t> rows;
  /// The server's `server_version` setting, e.g. "15.8 (Debian 15.8-0+deb12u1)".
  std::string server_version;
};

/// Highest migration version compiled into this binary
/// (storage/migrations/NNN_name.sql).
int latest_known_migration();

/// Dumps the database `url` points at into `archive` with
/// `<bindir>/pg_dump --format=custom` and summarises it, both from ONE
/// snapshot: a read-only REPEATABLE READ transaction exports its snapshot
/// (pg_export_snapshot) and pg_dump runs with `--snapshot`, so the archive
/// and the summary see exactly the same committed transactions while
/// writers go on (PostgreSQL docs, "pg_dump", "Snapshot Synchronization
/// Functions"). Errors: errc::postgres_error (connection, queries; the URL
/// redacted), errc::io_error (pg_dump failed: its stderr, redacted).
caf::expected<pg_database_summary> dump_database(const std::string& bindir,
                                                 const std::string& url,
                                                 const std::string& archive);

/// The summary of the database `url` points at now (one read-only
/// REPEATABLE READ transaction). Errors: errc::postgres_error.
caf::expected<pg_database_summary> summarize_database(const std::string& url);

/// Relations (tables, views, sequences, ...) outside the system schemas of
/// the database `url` points at: how many, and the first few
/// schema-qualified names. Errors: errc::postgres_error.
struct pg_relations {
  int64_t count = 0;
  std::vector<std::string> examples; ///< at most 5
};
caf::expected<pg_relations> user_relations(const std::string& url);

/// Drops schema `public` with everything in it and creates it again with
/// PostgreSQL's default owner and privileges (pg_database_owner, USAGE for
/// PUBLIC; before PostgreSQL 14: the connecting role, ALL for PUBLIC), in
/// one transaction. Needs ownership of the schema (the database owner).
/// Errors: errc::postgres_error.
caf::error clear_public_schema(const std::string& url);

/// Restores `archive` (pg_dump custom format) into the database `url`
/// points at with `<bindir>/pg_restore --no-owner --no-privileges
/// --exit-on-error --single-transaction`: all or nothing, objects owned by
/// the connecting role. Errors: errc::io_error (pg_restore failed: its
/// stderr, redacted).
caf::error restore_database(const std::string& bindir, const std::string& url,
                            const std::string& archive);

} // namespace agentmem::storage
