#pragma once

#include <cstdint>
#include <vector>

#include "messages/activity.hpp"
#include "messages/inspect.hpp"
#include "messages/knowledge.hpp"
#include "messages/memory.hpp"
#include "messages/record.hpp"
#include "messages/rollup.hpp"

namespace agentmem {

/// The unit of work that flows through the pipeline. Ingress fills
/// `records` and `offsets`; each stage fills its part and forwards the batch:
/// capture -> activities/dead_letters, extraction -> memories, embedding ->
/// memory vectors, aggregation -> usage/session deltas, writer -> commit,
/// vector linking -> index, then an ack to ingress.
struct batch {
  uint64_t id = 0;             ///< ingress sequence number
  int64_t created_ns = 0;      ///< steady-clock ns when ingress closed it
  int32_t attempt = 0;         ///< 0 on first delivery, +1 per replay
  std::vector<kafka_record> records;
  std::vector<partition_offset> offsets; ///< per partition, next offset
  std::vector<activity> activities;
  std::vector<dead_letter> dead_letters;
  std::vector<memory> memories;
  std::vector<usage_delta> usage;     ///< assuming every activity is new
  std::vector<session_delta> sessions;///< assuming every activity is new
  std::vector<analytics_delta> analytics; ///< assuming every activity is new
  int64_t oldest_record_ts_ms = -1;   ///< for end-to-end latency
  knowledge_delta knowledge;          ///< facts, entities (extraction)
  /// memories.seq range [first, last] the writer's transaction allocated
  /// (0, 0: none or unknown); vector linking reports it as applied.
  int64_t seq_first = 0;
  int64_t seq_last = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch& x) {
  return f(caf::meta::type_name("agentmem::batch"), x.id, x.created_ns,
           x.attempt, x.records, x.offsets, x.activities, x.dead_letters,
           x.memories, x.usage, x.sessions, x.oldest_record_ts_ms,
           x.knowledge, x.seq_first, x.seq_last, x.analytics);
}

/// Sent by vector linking to ingress once a batch is durable everywhere.
struct batch_ack {
  uint64_t id = 0;
  std::vector<partition_offset> offsets;
  int64_t created_ns = 0;
  uint64_t events = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_ack& x) {
  return f(caf::meta::type_name("agentmem::batch_ack"), x.id, x.offsets,
           x.created_ns, x.events);
}

} // namespace agentmem
