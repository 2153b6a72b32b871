#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "domain/http_embedder.hpp"

namespace agentmem::storage {

/// The HTTP embedding provider's persistent cache level in its own RocksDB
/// (`<data_dir>/embedding_cache`): key = 16-byte XXH3-128 digest of
/// (model, text), value = the normalised vector as float32 (host byte
/// order, dims * 4 bytes). Survives restarts, so replays and re-deliveries
/// of already embedded text cost no request. Grows by one entry per
/// distinct text (like the memories themselves); delete the directory to
/// drop it. Read/write failures are logged and count as misses.
class embedding_cache : public domain::embedding_cache_store {
public:
  /// errc::rocksdb_error when the database cannot be opened.
  static caf::expected<std::shared_ptr<embedding_cache>>
  open(const std::string& dir);
  ~embedding_cache() override;
  void get(const std::vector<std::string>& keys,
           std::vector<std::vector<float>>& out) override;
  void put(const std::vector<std::pair<std::string, std::vector<float>>>&
             items) override;
  /// Deletes every entry, then flushes and compacts the whole database so
  /// the vectors leave the WAL and SST files too. errc::rocksdb_error.
  caf::error clear() override;

  struct impl;

private:
  explicit embedding_cache(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
