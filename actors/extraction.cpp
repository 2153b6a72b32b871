#include "actors/extraction.hpp"

#include <stdexcept>

#include "messages/errc.hpp"
#include "actors/fault_injection.hpp"
#include "domain/entities.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

caf::behavior extraction(caf::stateful_actor<extraction_state>* self,
                         extraction_config cfg) {
  return {
    [=](batch& b) {
      auto start = std::chrono::steady_clock::now();
      fault_point("extraction");
      // 1. Conversation buffer first, so summaries see this batch's turns.
      std::vector<storage::hot_state::message_write> writes;
      for (auto& a : b.activities) {
        if (a.activity_class != "message")
          continue;
        writes.push_back({a.user_id, a.session_id,
                          {a.event_id, a.ts_ms, a.role, a.agent_name,
                           a.content}});
      }
      if (auto err = cfg.hot->append_messages(writes))
        throw std::runtime_error("hot state: " + describe(err));
      // 2. Memories.
      b.memories.clear();
      for (auto& a : b.activities) {
        if (a.activity_class == "session_end") {
          auto msgs = cfg.hot->session_messages(a.user_id, a.session_id,
                                                cfg.hot->buffer_limit());
          if (!msgs)
            throw std::runtime_error("hot state: " + describe(msgs.error()));
          std::vector<domain::utterance> us;
          us.reserve(msgs->size());
          for (auto& m : *msgs)
            us.push_back({m.agent_name.empty() ? m.role : m.agent_name,
                          m.content});
          domain::make_session_summary(a, us, cfg.rules, b.memories);
          if (auto err = cfg.hot->merge_session(
                a.user_id, a.session_id, {a.ts_ms, a.ts_ms, a.ts_ms}))
            throw std::runtime_error("hot state: " + describe(err));
        } else {
          domain::extract_memories(a, cfg.rules, b.memories);
        }
      }
      // 3. Facts, entities and relationships (graph memory).
      b.knowledge = {};
      for (auto& a : b.activities)
        domain::extract_knowledge(a, b.knowledge);
      self->state.metrics.done(start);
      self->send(cfg.next, std::move(b));
    },
  };
}

} // namespace agentmem::actors
