#include "actors/extraction.hpp"

#include <map>
#include <stdexcept>
#include <utility>

#include "messages/errc.hpp"
#include "actors/fault_injection.hpp"
#include "actors/rolling_summaries.hpp"
#include "domain/entities.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

caf::behavior extraction(caf::stateful_actor<extraction_state>* self,
                         extraction_config cfg) {
  return {
    [=](batch& b) {
      auto start = stage_metrics::begin();
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
      if (cfg.working)
        if (auto err = cfg.working->append(b.activities))
          throw std::runtime_error(describe(err));
      // 2. Memories. Conversation memories get the preceding turn of their
      // session as retrieval context; each session's buffer is read once
      // per batch (after step 1, so it holds this batch's turns too) as a
      // shared snapshot, and its turns are listed once.
      struct session_turns {
        storage::hot_state::buffer_snapshot buffer;
        std::vector<domain::prior_turn> turns; // views into `buffer`
      };
      std::map<std::pair<std::string, std::string>, session_turns> buffers;
      auto add_context = [&](const activity& a, size_t first) {
        auto key = std::make_pair(a.user_id, a.session_id);
        auto it = buffers.find(key);
        if (it == buffers.end()) {
          auto buf = cfg.hot->session_buffer(a.user_id, a.session_id);
          if (!buf)
            throw std::runtime_error("hot state: " + describe(buf.error()));
          session_turns st{std::move(*buf), {}};
          st.turns.reserve(st.buffer->size());
          for (auto& e : *st.buffer)
            st.turns.push_back({e.ts_ms, e.event_id, e.agent_name, e.content});
          it = buffers.emplace(std::move(key), std::move(st)).first;
        }
        auto ctx = domain::conversation_context(it->second.turns, a.ts_ms,
                                                a.event_id,
                                                cfg.rules.max_chunk_chars);
        for (auto i = first; i < b.memories.size(); ++i)
          if (b.memories[i].memory_type == memory_types::conversation)
            b.memories[i].context = ctx;
      };
      b.memories.clear();
      for (auto& a : b.activities) {
        if (a.activity_class == "session_end") {
          auto msgs = cfg.hot->session_buffer(a.user_id, a.session_id);
          if (!msgs)
            throw std::runtime_error("hot state: " + describe(msgs.error()));
          std::vector<domain::utterance> us;
          us.reserve((*msgs)->size());
          for (auto& m : **msgs)
            us.push_back({m.agent_name.empty() ? m.role : m.agent_name,
                          m.content});
          domain::make_session_summary(a, us, cfg.rules, b.memories);
          if (auto err = cfg.hot->merge_session(
                a.user_id, a.session_id, {a.ts_ms, a.ts_ms, a.ts_ms}))
            throw std::runtime_error("hot state: " + describe(err));
        } else {
          auto first = b.memories.size();
          domain::extract_memories(a, cfg.rules, b.memories);
          if (a.activity_class == "message")
            add_context(a, first);
        }
      }
      // 3. Rolling session summaries of sessions that grew.
      add_rolling_summaries(b, cfg, self->state.summary_marks);
      // 4. Facts, entities and relationships (graph memory).
      b.knowledge = {};
      for (auto& a : b.activities)
        domain::extract_knowledge(a, b.knowledge);
      self->state.metrics.done(start);
      self->send(cfg.next, std::move(b));
    },
  };
}

} // namespace agentmem::actors
