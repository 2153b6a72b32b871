#include "actors/vector_linking.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "actors/fault_injection.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

caf::behavior vector_linking(caf::stateful_actor<vector_linking_state>* self,
                             vector_linking_config cfg) {
  self->state.vectors = &metrics::global().get_gauge(
    "agentmem_index_vectors", "Points in the memories collection.");
  self->state.vectors->set(static_cast<double>(cfg.shards->size()));
  return {
    [=](batch& b) {
      auto start = stage_metrics::begin();
      double helper_cpu = 0; // HNSW insertion's second thread
      fault_point("vector_linking");
      {
        std::unique_lock<std::mutex> guard;
        if (cfg.tombstones) {
          guard = std::unique_lock<std::mutex>{cfg.tombstones->apply_mutex()};
          if (!cfg.tombstones->empty()) {
            auto t = cfg.tombstones->snapshot();
            b.memories.erase(
              std::remove_if(b.memories.begin(), b.memories.end(),
                             [&](const memory& m) {
                               return domain::is_tombstoned(*t, m.user_id,
                                                            m.ts_ms);
                             }),
              b.memories.end());
          }
        }
        // The docs first: then the index takes the memories without a
        // copy. A doc without its point yet is never read (reads start at
        // the index), and a retried batch overwrites it.
        if (auto err = cfg.hot->put_docs(b.memories))
          throw std::runtime_error("hot state: " + describe(err));
        auto added = cfg.shards->upsert(std::move(b.memories), &helper_cpu,
                                        b.seq_first, b.seq_last);
        if (!added)
          throw std::runtime_error("vector index: "
                                   + describe(added.error()));
        if (cfg.applied)
          cfg.applied->add(b.seq_first, b.seq_last);
      }
      auto& st = self->state;
      st.vectors->set(static_cast<double>(cfg.shards->size()));
      st.metrics.done(start, helper_cpu);
      batch_ack ack;
      ack.id = b.id;
      ack.offsets = std::move(b.offsets);
      ack.created_ns = b.created_ns;
      ack.events = b.activities.size() + b.dead_letters.size();
      cfg.acks->done(b.id);
      self->send(cfg.ingress, std::move(ack));
    },
  };
}

} // namespace agentmem::actors
