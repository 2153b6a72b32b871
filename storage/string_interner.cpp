#include "storage/string_interner.hpp"

#include <xxhash.h>

namespace agentmem::storage {

namespace {

uint64_t hash_of(std::string_view s) {
  return XXH3_64bits(s.data(), s.size());
}

} // namespace

size_t string_interner::probe(std::string_view s, uint64_t h) const {
  const size_t mask = slots_.size() - 1;
  const auto tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const auto& sl = slots_[i];
    if (sl.id == empty || (sl.tag == tag && strings_[sl.id] == s))
      return i;
  }
}

uint32_t string_interner::intern(std::string_view s) {
  // Keep at most half of the slots used: short probe runs, and the loop in
  // probe() always reaches an empty slot.
  if ((strings_.size() + 1) * 2 > slots_.size())
    grow();
  const auto h = hash_of(s);
  auto& sl = slots_[probe(s, h)];
  if (sl.id == empty) {
    sl.tag = static_cast<uint32_t>(h >> 32);
    sl.id = static_cast<uint32_t>(strings_.size());
    strings_.emplace_back(s);
  }
  return sl.id;
}

std::optional<uint32_t> string_interner::find(std::string_view s) const {
  if (slots_.empty())
    return std::nullopt;
  const auto& sl = slots_[probe(s, hash_of(s))];
  if (sl.id == empty)
    return std::nullopt;
  return sl.id;
}

void string_interner::clear() {
  slots_.clear();
  strings_.clear();
}

void string_interner::grow() {
  std::vector<slot> bigger(slots_.empty() ? 16 : slots_.size() * 2);
  slots_.swap(bigger);
  // Re-insert by id (the strings are unchanged, only their slots move).
  const size_t mask = slots_.size() - 1;
  for (uint32_t id = 0; id < strings_.size(); ++id) {
    const auto h = hash_of(strings_[id]);
    size_t i = h & mask;
    while (slots_[i].id != empty)
      i = (i + 1) & mask;
    slots_[i] = {static_cast<uint32_t>(h >> 32), id};
  }
}

} // namespace agentmem::storage
