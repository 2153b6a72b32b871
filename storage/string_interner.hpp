#pragma once

// Strings interned to dense ids, for the per-shard dictionaries of the
// keyword index (terms) and the payload store (users, sessions, types,
// tags, scopes).
//
// Why not std::unordered_map<std::string, uint32_t> (what both used):
// every lookup hashed the string with std::hash, took a modulo by a prime
// bucket count, read the bucket and then a separately allocated node, and
// the map kept a second copy of every string beside the id -> string
// vector. With 256 shards each dictionary is cold in the cache, and the
// keyword index's term lookups were ≈ 4 % of a steady run's process
// (docs/performance.md, sixteenth round). Here a lookup is one XXH3 hash,
// one 8-byte slot (a 32-bit tag of the hash and the id) and, on a tag
// match, one comparison with the stored string.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentmem::storage {

/// Strings interned to ids 0, 1, 2, ... in first-seen order; an id stays
/// valid until clear(). Lookups probe an open-addressing table (XXH3-64 of
/// the string, linear probing, at most half full; 8 bytes per slot beside
/// the strings themselves). Not thread-safe: its owner locks.
class string_interner {
public:
  /// The id of `s`, added when `s` is new.
  uint32_t intern(std::string_view s);

  /// The id of `s`, or nullopt when it was never interned.
  std::optional<uint32_t> find(std::string_view s) const;

  /// The string of `id` (< size()).
  const std::string& operator[](uint32_t id) const {
    return strings_[id];
  }

  /// Every interned string, indexed by id.
  const std::vector<std::string>& strings() const {
    return strings_;
  }

  size_t size() const {
    return strings_.size();
  }

  /// Forgets every string; ids restart at 0.
  void clear();

private:
  static constexpr uint32_t empty = UINT32_MAX;
  struct slot {
    uint32_t tag = 0;    ///< high 32 bits of the hash
    uint32_t id = empty; ///< index into strings_
  };
  /// The slot holding `s` (hash `h`), or the empty slot where it belongs.
  size_t probe(std::string_view s, uint64_t h) const;
  void grow();

  std::vector<slot> slots_; ///< power-of-two size, or empty
  std::vector<std::string> strings_;
};

} // namespace agentmem::storage
