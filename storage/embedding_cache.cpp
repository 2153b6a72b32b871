#include "storage/embedding_cache.hpp"

#include <cstring>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "messages/errc.hpp"

namespace agentmem::storage {

struct embedding_cache::impl {
  std::unique_ptr<rocksdb::DB> db;
};

embedding_cache::embedding_cache(std::unique_ptr<impl> p)
  : impl_(std::move(p)) {
}

embedding_cache::~embedding_cache() {
  if (impl_ && impl_->db)
    impl_->db->Close();
}

caf::expected<std::shared_ptr<embedding_cache>>
embedding_cache::open(const std::string& dir) {
  rocksdb::Options opts;
  opts.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, &raw);
  if (!st.ok())
    return make_error(errc::rocksdb_error,
                      "embedding cache " + dir + ": " + st.ToString());
  auto p = std::make_unique<impl>();
  p->db.reset(raw);
  return std::shared_ptr<embedding_cache>{new embedding_cache(std::move(p))};
}

void embedding_cache::get(const std::vector<std::string>& keys,
                          std::vector<std::vector<float>>& out) {
  out.assign(keys.size(), {});
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  auto sts = impl_->db->MultiGet(rocksdb::ReadOptions{}, slices, &values);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!sts[i].ok()) {
      if (!sts[i].IsNotFound())
        spdlog::warn("[embedding cache] read failed: {}", sts[i].ToString());
      continue;
    }
    auto& v = values[i];
    if (v.size() % sizeof(float) != 0)
      continue;
    out[i].resize(v.size() / sizeof(float));
    std::memcpy(out[i].data(), v.data(), v.size());
  }
}

void embedding_cache::put(
  const std::vector<std::pair<std::string, std::vector<float>>>& items) {
  if (items.empty())
    return;
  rocksdb::WriteBatch wb;
  for (auto& [k, v] : items)
    wb.Put(k, rocksdb::Slice{reinterpret_cast<const char*>(v.data()),
                             v.size() * sizeof(float)});
  auto st = impl_->db->Write(rocksdb::WriteOptions{}, &wb);
  if (!st.ok())
    spdlog::warn("[embedding cache] write failed: {}", st.ToString());
}

caf::error embedding_cache::clear() {
  auto& db = *impl_->db;
  rocksdb::WriteBatch wb;
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator({})};
  for (it->SeekToFirst(); it->Valid(); it->Next())
    wb.Delete(it->key());
  auto st = it->status();
  it.reset();
  if (st.ok() && wb.Count() > 0)
    st = db.Write(rocksdb::WriteOptions{}, &wb);
  if (st.ok() && wb.Count() > 0) {
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
    st = db.CompactRange(co, nullptr, nullptr);
  }
  if (!st.ok())
    return make_error(errc::rocksdb_error,
                      "embedding cache clear: " + st.ToString());
  return caf::none;
}

} // namespace agentmem::storage
