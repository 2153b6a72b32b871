#include "actors/dedup_lookup.hpp"

#include <stdexcept>

#include "messages/errc.hpp"
#include "metrics/registry.hpp"

namespace agentmem::actors {

size_t mark_duplicates(batch& b, const embedding_config& cfg) {
  std::vector<std::optional<domain::dedup_candidate>> stored(
    b.memories.size());
  if (cfg.shards && cfg.hot) {
    std::vector<size_t> who;
    std::vector<storage::scored_point> hits;
    for (size_t i = 0; i < b.memories.size(); ++i) {
      auto& m = b.memories[i];
      if (!domain::dedup_eligible(m.memory_type) || m.vector.empty()
          || m.vector.size() != cfg.shards->dims())
        continue;
      storage::vector_filter f;
      f.user_id = m.user_id;
      f.memory_types = {m.memory_type};
      // The user's shards on this node (one, unless the user's events
      // arrived on several partitions): the nearest other point of all.
      std::optional<storage::scored_point> best;
      for (auto& s : cfg.shards->holding(m.user_id))
        for (auto& h : s->vectors->search(m.vector.data(), 2, f)) {
          if (h.point_id == m.point_id)
            continue; // itself, already stored: a replay
          if (!best || h.score > best->score)
            best = h;
          break;
        }
      if (best) {
        who.push_back(i);
        hits.push_back(*best);
      }
    }
    if (!hits.empty()) {
      std::vector<uint64_t> ids;
      ids.reserve(hits.size());
      for (auto& h : hits)
        ids.push_back(h.point_id);
      auto docs = cfg.hot->get_docs(ids);
      if (!docs)
        throw std::runtime_error("hot state: " + describe(docs.error()));
      for (size_t k = 0; k < hits.size(); ++k)
        if (auto& d = (*docs)[k]; d && d->user_id == b.memories[who[k]].user_id)
          stored[who[k]] = domain::dedup_candidate{d->memory_id, d->text,
                                                   hits[k].score};
    }
  }
  auto n = domain::mark_near_duplicates(b.memories, stored, cfg.dedup);
  if (n > 0)
    metrics::global()
      .get_counter("agentmem_memory_near_duplicates_total",
                   "Memories the embedding stage found to nearly duplicate "
                   "an existing one (sent to the writer as updates).")
      .inc(static_cast<double>(n));
  return n;
}

} // namespace agentmem::actors
