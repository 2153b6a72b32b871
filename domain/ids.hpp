#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agentmem::domain {

/// Deterministic identity of a memory: 128-bit XXH3 of
/// "event_id\0memory_type\0chunk_index". `memory_id` is its 32-char lower
/// hex form; `point_id` (the hnswlib label and Postgres point id) is its low
/// 63 bits, so it fits a Postgres bigint. Replays of an event produce the
/// same ids, which makes every write an idempotent upsert.
struct memory_identity {
  std::string memory_id;
  uint64_t point_id = 0;
};

/// Identity of memory number `chunk_index` of `memory_type` from `event_id`.
memory_identity make_memory_identity(std::string_view event_id,
                                     std::string_view memory_type,
                                     int32_t chunk_index);

/// 64-bit XXH3 of a string (feature hashing, cache keys).
uint64_t hash64(std::string_view s, uint64_t seed = 0);

} // namespace agentmem::domain
