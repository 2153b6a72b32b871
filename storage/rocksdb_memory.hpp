#pragma once

// Internal to storage/: the memory a RocksDB instance holds, for
// hot_state::rocksdb_memory_bytes and working_memory::rocksdb_memory_bytes.

#include <cstddef>
#include <cstdint>

#include <rocksdb/db.h>

namespace agentmem::storage::detail {

/// Bytes of `db`'s memtables, table readers (index and filter blocks) and
/// block cache, from RocksDB's properties (0 for a property it does not
/// report).
inline size_t rocksdb_memory_bytes(rocksdb::DB& db) {
  size_t total = 0;
  for (const char* p : {"rocksdb.size-all-mem-tables",
                        "rocksdb.estimate-table-readers-mem",
                        "rocksdb.block-cache-usage"}) {
    uint64_t v = 0;
    if (db.GetIntProperty(p, &v))
      total += v;
  }
  return total;
}

} // namespace agentmem::storage::detail
