#include "actors/embedding.hpp"

#include <stdexcept>

#include "messages/errc.hpp"
#include "actors/dedup_lookup.hpp"
#include "actors/fault_injection.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

caf::behavior embedding(caf::stateful_actor<embedding_state>* self,
                        embedding_config cfg) {
  return {
    [=](batch& b) {
      auto start = stage_metrics::begin();
      fault_point("embedding");
      // A memory with retrieval context is embedded as text, newline,
      // context: text first, so a model that truncates its input keeps it.
      std::vector<std::string> joined;
      std::vector<std::string_view> texts;
      texts.reserve(b.memories.size());
      for (auto& m : b.memories)
        if (!m.context.empty())
          joined.push_back(m.text + "\n" + m.context);
      size_t next_joined = 0;
      for (auto& m : b.memories)
        texts.emplace_back(m.context.empty() ? std::string_view{m.text}
                                             : joined[next_joined++]);
      std::vector<std::vector<float>> vectors;
      if (auto err = cfg.provider->embed(texts, vectors))
        throw std::runtime_error("embedding: " + describe(err));
      for (size_t i = 0; i < b.memories.size(); ++i)
        b.memories[i].vector = std::move(vectors[i]);
      if (cfg.dedup.enabled)
        mark_duplicates(b, cfg);
      self->state.metrics.done(start);
      self->send(cfg.next, std::move(b));
    },
  };
}

} // namespace agentmem::actors
