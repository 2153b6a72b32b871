#pragma once

// The compact binary encoding of the RocksDB values (and key parts) that
// hot_state and working_memory write: strings as a u32 length then the
// bytes, integers as i64 in host order (little-endian on every platform we
// ship), key integers as u64 big-endian so that they sort. The on-disk data
// of both stores is in this format: changing it needs a data migration.
// Internal to storage/.

#include <cstdint>
#include <cstring>
#include <string>

namespace agentmem::storage::detail {

/// Appends `v` as 8 bytes, host order (i64 LE).
inline void put_i64(std::string& out, int64_t v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  out.append(buf, 8);
}

/// Appends `s` as a u32 (host order) byte length followed by its bytes.
inline void put_str(std::string& out, const std::string& s) {
  auto n = static_cast<uint32_t>(s.size());
  char buf[4];
  std::memcpy(buf, &n, 4);
  out.append(buf, 4);
  out.append(s);
}

/// Appends `v` as 8 bytes big-endian (keys: byte order == numeric order).
inline void put_be64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (i * 8)) & 0xFF));
}

/// Reads put_i64/put_str fields in order from [p, end); a read past the end
/// returns 0 or "" and clears `ok` (check it once after the last field).
struct value_reader {
  const char* p;
  const char* end;
  bool ok = true;

  /// The next put_i64 field.
  int64_t i64() {
    if (end - p < 8) {
      ok = false;
      return 0;
    }
    int64_t v;
    std::memcpy(&v, p, 8);
    p += 8;
    return v;
  }

  /// The next put_str field.
  std::string str() {
    if (end - p < 4) {
      ok = false;
      return {};
    }
    uint32_t n;
    std::memcpy(&n, p, 4);
    p += 4;
    if (static_cast<size_t>(end - p) < n) {
      ok = false;
      return {};
    }
    std::string s{p, n};
    p += n;
    return s;
  }
};

} // namespace agentmem::storage::detail
