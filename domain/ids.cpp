#include "domain/ids.hpp"

#include <cstdio>
#include <xxhash.h>

namespace agentmem::domain {

memory_identity make_memory_identity(std::string_view event_id,
                                     std::string_view memory_type,
                                     int32_t chunk_index) {
  std::string key;
  key.reserve(event_id.size() + memory_type.size() + 16);
  key.append(event_id);
  key.push_back('\0');
  key.append(memory_type);
  key.push_back('\0');
  key.append(std::to_string(chunk_index));
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  memory_identity id;
  id.memory_id = buf;
  id.point_id = h.low64 & 0x7FFFFFFFFFFFFFFFULL;
  return id;
}

uint64_t hash64(std::string_view s, uint64_t seed) {
  return XXH3_64bits_withSeed(s.data(), s.size(), seed);
}

} // namespace agentmem::domain
