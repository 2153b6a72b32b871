#include "actors/embedding.hpp"

#include <stdexcept>

#include "domain/embedding.hpp"
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
      // Text plus retrieval context (domain::embedding_text).
      std::vector<std::string> inputs;
      inputs.reserve(b.memories.size());
      for (auto& m : b.memories)
        inputs.push_back(domain::embedding_text(m));
      std::vector<std::string_view> texts(inputs.begin(), inputs.end());
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
