#include "pipeline/backup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "api/auth.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"
#include "storage/pg_backup.hpp"
#include "storage/pg_programs.hpp"
#include "storage/postgres_store.hpp"

#ifndef AGENTMEM_VERSION
#define AGENTMEM_VERSION "unknown"
#endif

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace agentmem::pipeline {

namespace {

constexpr const char* manifest_name = "manifest.json";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// Size and SHA-256 (lower-case hex) of a file, read in 1 MiB chunks.
caf::expected<std::pair<uint64_t, std::string>>
file_digest(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::io_error, "cannot read " + path.string());
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx{EVP_MD_CTX_new(),
                                                          EVP_MD_CTX_free};
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return make_error(errc::io_error, "OpenSSL SHA-256 initialisation failed");
  std::vector<char> buf(1 << 20);
  uint64_t bytes = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = static_cast<size_t>(in.gcount());
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1)
      return make_error(errc::io_error, "OpenSSL SHA-256 update failed");
    bytes += n;
  }
  if (in.bad())
    return make_error(errc::io_error, "error reading " + path.string());
  api::sha256_digest d{};
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1 || len != d.size())
    return make_error(errc::io_error, "OpenSSL SHA-256 final failed");
  return std::make_pair(bytes, api::to_hex(d));
}

// fsync of a file or directory, so a backup that reported success survives
// a power loss.
caf::error sync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
                                  | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    auto err = make_error(errc::io_error, "fsync " + path.string() + ": "
                                            + std::strerror(errno));
    if (fd >= 0)
      ::close(fd);
    return err;
  }
  ::close(fd);
  return caf::none;
}

// `text` into `path` through a temporary file and rename (fsync'ed).
caf::error write_file_durably(const fs::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
    out << text;
    out.flush();
    if (!out)
      return make_error(errc::io_error, "cannot write " + tmp.string());
  }
  if (auto err = sync_path(tmp, false))
    return err;
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    return make_error(errc::io_error, "rename " + tmp.string() + " -> "
                                        + path.string() + ": " + ec.message());
  return sync_path(path.parent_path(), true);
}

// True when `dir` does not exist or has no entries.
caf::expected<bool> absent_or_empty(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return true;
  if (!fs::is_directory(dir, ec))
    return make_error(errc::io_error, dir.string() + " is not a directory");
  bool empty = fs::is_empty(dir, ec);
  if (ec)
    return make_error(errc::io_error, "cannot list " + dir.string() + ": "
                                        + ec.message());
  return empty;
}

caf::expected<std::string> pg_bindir_for(const std::string& program) {
  auto dir = storage::find_pg_bindir({program});
  if (dir.empty())
    return make_error(errc::io_error,
                      program + " not found (looked in $AGENTMEM_PG_BINDIR, "
                                "/usr/lib/postgresql/<N>/bin, `pg_config "
                                "--bindir`, $PATH); install the PostgreSQL "
                                "client programs (Debian: postgresql-client) "
                                "or set AGENTMEM_PG_BINDIR");
  return dir;
}

std::string describe_rows(const std::map<std::string, int64_t>& rows) {
  std::string out;
  for (auto& [table, n] : rows)
    out += (out.empty() ? "" : ", ") + table + " " + std::to_string(n);
  return out;
}

// "2026-12-02T17:15:29.123Z" -> "20261202T171529Z" (for a directory name).
std::string compact_utc(int64_t ms) {
  std::string out;
  for (char c : domain::format_rfc3339_ms(ms).substr(0, 19))
    if (c != '-' && c != ':')
      out += c;
  return out + "Z";
}

// The archive, then the manifest.
caf::expected<backup_manifest> write_backup(const std::string& postgres_url,
                                            const fs::path& dir,
                                            const std::string& bindir) {
  backup_manifest m;
  m.agentmem_version = AGENTMEM_VERSION;
  m.created_at = domain::format_rfc3339_ms(now_ms());
  auto archive = dir / m.archive;
  auto summary = storage::dump_database(bindir, postgres_url, archive.string());
  if (!summary)
    return std::move(summary.error());
  m.schema_version = summary->schema_version;
  m.postgres_version = summary->server_version;
  m.rows = std::move(summary->rows);
  auto digest = file_digest(archive);
  if (!digest)
    return std::move(digest.error());
  m.archive_bytes = digest->first;
  m.archive_sha256 = digest->second;
  if (auto err = sync_path(archive, false))
    return err;
  if (auto err = write_file_durably(dir / manifest_name, to_json(m)))
    return err;
  return m;
}

} // namespace

std::string to_json(const backup_manifest& m) {
  json j = {{"format", m.format},
            {"format_version", m.format_version},
            {"agentmem_version", m.agentmem_version},
            {"schema_version", m.schema_version},
            {"created_at", m.created_at},
            {"postgres_version", m.postgres_version},
            {"archive", m.archive},
            {"archive_bytes", m.archive_bytes},
            {"archive_sha256", m.archive_sha256},
            {"rows", m.rows}};
  return j.dump(2) + "\n";
}

caf::expected<backup_manifest> parse_manifest(const std::string& text) {
  backup_manifest m;
  try {
    auto j = json::parse(text);
    m.format = j.at("format").get<std::string>();
    if (m.format != "agentmem-backup")
      return make_error(errc::invalid_request,
                        "manifest format is '" + m.format
                          + "', expected 'agentmem-backup'");
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version < 1 || m.format_version > backup_manifest{}.format_version)
      return make_error(errc::invalid_request,
                        "manifest format_version "
                          + std::to_string(m.format_version)
                          + " is not supported by this agentmem (it reads "
                            "version 1)");
    m.agentmem_version = j.at("agentmem_version").get<std::string>();
    m.schema_version = j.at("schema_version").get<int>();
    m.created_at = j.at("created_at").get<std::string>();
    m.postgres_version = j.at("postgres_version").get<std::string>();
    m.archive = j.at("archive").get<std::string>();
    m.archive_bytes = j.at("archive_bytes").get<uint64_t>();
    m.archive_sha256 = j.at("archive_sha256").get<std::string>();
    m.rows = j.at("rows").get<std::map<std::string, int64_t>>();
  } catch (const std::exception& e) {
    return make_error(errc::invalid_request,
                      std::string{"malformed manifest: "} + e.what());
  }
  if (m.archive.empty() || m.archive == "." || m.archive == ".."
      || m.archive.find('/') != std::string::npos)
    return make_error(errc::invalid_request,
                      "manifest archive '" + m.archive
                        + "' is not a plain file name");
  if (m.archive_sha256.size() != 64)
    return make_error(errc::invalid_request,
                      "manifest archive_sha256 is not 64 hex digits");
  return m;
}

caf::expected<backup_manifest> backup(const std::string& postgres_url,
                                      const std::string& dir_arg) {
  fs::path dir = fs::absolute(dir_arg).lexically_normal();
  auto empty = absent_or_empty(dir);
  if (!empty)
    return std::move(empty.error());
  if (!*empty)
    return make_error(errc::invalid_request,
                      dir.string() + " is not empty: back up into a new "
                                     "directory (backups are never "
                                     "overwritten)");
  auto bindir = pg_bindir_for("pg_dump");
  if (!bindir)
    return std::move(bindir.error());
  std::error_code ec;
  const bool created = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::io_error,
                      "cannot create " + dir.string() + ": " + ec.message());
  // A failed backup leaves nothing behind that looks like one.
  auto result = write_backup(postgres_url, dir, *bindir);
  if (!result) {
    fs::remove(dir / manifest_name, ec);
    fs::remove(dir / backup_manifest{}.archive, ec);
    if (created)
      fs::remove(dir, ec);
  }
  return result;
}

caf::expected<restore_report> restore(const restore_options& opts) {
  restore_report r;
  const fs::path from = fs::absolute(opts.from_dir).lexically_normal();
  // --- checks: nothing is changed until all of them passed ---------------
  {
    std::ifstream in{from / manifest_name, std::ios::binary};
    if (!in)
      return make_error(errc::invalid_request,
                        "no " + std::string{manifest_name} + " in "
                          + from.string()
                          + ": not a backup directory, or an incomplete "
                            "backup");
    std::stringstream ss;
    ss << in.rdbuf();
    auto m = parse_manifest(ss.str());
    if (!m)
      return std::move(m.error());
    r.manifest = std::move(*m);
  }
  const auto& m = r.manifest;
  const int known = storage::latest_known_migration();
  if (m.schema_version > known)
    return make_error(errc::invalid_request,
                      "the backup's schema version "
                        + std::to_string(m.schema_version)
                        + " (agentmem " + m.agentmem_version
                        + ") is newer than this binary's ("
                        + std::to_string(known)
                        + "): restore with that agentmem version or newer");
  const auto archive = from / m.archive;
  auto digest = file_digest(archive);
  if (!digest)
    return std::move(digest.error());
  if (digest->first != m.archive_bytes || digest->second != m.archive_sha256)
    return make_error(errc::invalid_request,
                      "archive " + archive.string() + " does not match the "
                        "manifest (size " + std::to_string(digest->first)
                        + " bytes, sha256 " + digest->second
                        + "; manifest: " + std::to_string(m.archive_bytes)
                        + " bytes, sha256 " + m.archive_sha256
                        + "): the backup is corrupt; nothing was restored");
  auto bindir = pg_bindir_for("pg_restore");
  if (!bindir)
    return std::move(bindir.error());
  auto relations = storage::user_relations(opts.postgres_url);
  if (!relations)
    return std::move(relations.error());
  if (relations->count > 0 && !opts.force) {
    std::string names;
    for (auto& n : relations->examples)
      names += (names.empty() ? "" : ", ") + n;
    return make_error(errc::invalid_request,
                      "the target database is not empty ("
                        + std::to_string(relations->count) + " relations, e.g. "
                        + names
                        + "): restore into a new database, or pass --force "
                          "to drop schema public and everything in it first");
  }
  fs::path data_dir = fs::absolute(opts.data_dir).lexically_normal();
  if (!data_dir.has_filename())
    data_dir = data_dir.parent_path();
  auto data_empty = absent_or_empty(data_dir);
  if (!data_empty)
    return std::move(data_empty.error());
  if (!*data_empty && !opts.force)
    return make_error(errc::invalid_request,
                      "data dir " + data_dir.string()
                        + " is not empty: its derived state (indexes, RocksDB) "
                          "would not match the restored database; empty it, "
                          "or pass --force to move it aside");
  // --- changes ------------------------------------------------------------
  if (relations->count > 0) {
    if (auto err = storage::clear_public_schema(opts.postgres_url))
      return err;
    r.schema_cleared = true;
  }
  if (!*data_empty) {
    fs::path aside = data_dir;
    aside += ".pre-restore-" + compact_utc(now_ms());
    std::error_code ec;
    fs::rename(data_dir, aside, ec);
    if (ec)
      return make_error(errc::io_error, "cannot move " + data_dir.string()
                                          + " to " + aside.string() + ": "
                                          + ec.message());
    r.data_dir_moved_to = aside.string();
  }
  if (auto err = storage::restore_database(*bindir, opts.postgres_url,
                                           archive.string()))
    return err;
  auto restored = storage::summarize_database(opts.postgres_url);
  if (!restored)
    return std::move(restored.error());
  if (restored->schema_version != m.schema_version || restored->rows != m.rows)
    return make_error(errc::io_error,
                      "the restored database differs from the manifest: "
                      "schema "
                        + std::to_string(restored->schema_version) + " rows {"
                        + describe_rows(restored->rows) + "}; manifest: schema "
                        + std::to_string(m.schema_version) + " rows {"
                        + describe_rows(m.rows) + "}");
  auto store = storage::postgres_store::connect(opts.postgres_url);
  if (!store)
    return std::move(store.error());
  auto applied = (*store)->migrate();
  if (!applied)
    return std::move(applied.error());
  r.migrations_applied = *applied;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec)
    return make_error(errc::io_error, "cannot create data dir "
                                        + data_dir.string() + ": "
                                        + ec.message());
  return r;
}

} // namespace agentmem::pipeline
