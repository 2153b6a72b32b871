#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::pipeline {

/// `manifest.json` of a backup directory: what `agentmem backup` wrote and
/// `agentmem restore` checks before it touches anything.
struct backup_manifest {
  /// "agentmem-backup"; a restore refuses anything else.
  std::string format = "agentmem-backup";
  /// Layout version of the directory; a restore refuses newer ones.
  int format_version = 1;
  /// Version of the agentmem binary that wrote the backup (CMake project
  /// version).
  std::string agentmem_version;
  /// Highest schema migration applied in the dumped database
  /// (schema_migrations.version, storage/migrations/NNN_*.sql).
  int schema_version = 0;
  /// When the snapshot was taken, RFC 3339 UTC with ms.
  std::string created_at;
  /// `server_version` of the dumped PostgreSQL server.
  std::string postgres_version;
  /// File name (no directory part) of the pg_dump custom-format archive.
  std::string archive = "agentmem.dump";
  /// Size of the archive in bytes.
  uint64_t archive_bytes = 0;
  /// SHA-256 of the archive, 64 lower-case hex digits.
  std::string archive_sha256;
  /// Exact row count of every table of schema `public` in the snapshot
  /// (the Kafka offsets in `kafka_offsets` are part of the dump).
  std::map<std::string, int64_t> rows;
};

/// The manifest as pretty-printed JSON (keys as the field names above).
std::string to_json(const backup_manifest& m);

/// Parses manifest.json. Errors: errc::invalid_request naming the missing
/// or malformed key, a foreign `format`, a newer `format_version`, or an
/// `archive` that is not a plain file name.
caf::expected<backup_manifest> parse_manifest(const std::string& text);

/// `agentmem backup`: dumps the PostgreSQL database `postgres_url` points
/// at (the source of truth; derived stores are rebuilt from it, so they are
/// not copied) into `dir` while the pipeline keeps running: `dir`/<archive>
/// (pg_dump custom format, one consistent snapshot, storage/pg_backup.hpp)
/// and `dir`/manifest.json, written last (a directory without it is an
/// incomplete backup); both are fsync'ed. `dir` is created; it must not
/// exist or be empty. Errors: errc::io_error (directory, pg_dump or its
/// binaries missing: set AGENTMEM_PG_BINDIR), errc::invalid_request (`dir`
/// not empty), errc::postgres_error. No error or log line holds the
/// password of `postgres_url`.
caf::expected<backup_manifest> backup(const std::string& postgres_url,
                                      const std::string& dir);

/// What `agentmem restore` is asked to do.
struct restore_options {
  std::string postgres_url; ///< target database (secret)
  std::string data_dir;     ///< the node's data dir (derived state)
  std::string from_dir;     ///< a directory written by backup()
  /// Restore into a database that holds relations (schema `public` is
  /// dropped first) and move a non-empty data dir aside.
  bool force = false;
};

/// What restore() did.
struct restore_report {
  backup_manifest manifest;
  /// Migrations of this binary newer than the backup's schema, applied
  /// after the restore.
  int migrations_applied = 0;
  /// Where a non-empty data dir was moved (`<data_dir>.pre-restore-<UTC
  /// time>`), "" when it was empty or absent.
  std::string data_dir_moved_to;
  bool schema_cleared = false; ///< --force dropped schema public first
};

/// `agentmem restore`: checks first, changes after. Refuses (errc::
/// invalid_request, nothing changed) when the manifest is malformed, the
/// archive's size or SHA-256 differs from the manifest, the backup's
/// schema is newer than this binary knows, or — without `force` — the
/// target database holds any relation or the data dir is not empty. Then:
/// with `force` drops schema public and moves the data dir aside;
/// pg_restore (one transaction, storage/pg_backup.hpp); checks the restored
/// schema version and every table's row count against the manifest
/// (errc::io_error on a difference); applies this binary's newer
/// migrations; leaves an empty data dir, from which the node rebuilds its
/// derived state (vector and keyword indexes, RocksDB hot state) at start.
/// Errors also: errc::io_error (files, pg_restore or its binaries missing),
/// errc::postgres_error. No error holds the password of `postgres_url`.
caf::expected<restore_report> restore(const restore_options& opts);

} // namespace agentmem::pipeline
