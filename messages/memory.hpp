#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/inspect.hpp"

namespace agentmem {

/// Memory types derived by memory extraction (docs/memory.md).
namespace memory_types {
constexpr const char* conversation = "conversation";
constexpr const char* episodic = "episodic";
constexpr const char* document = "document";
constexpr const char* session_summary = "session_summary";
} // namespace memory_types

/// One memory: a piece of text derived from an activity, with its point in
/// the `memories` collection. `memory_id` is deterministic in
/// (event_id, memory_type, chunk_index) so replays upsert the same memory.
struct memory {
  std::string memory_id;   ///< 32 hex chars (128-bit xxh3 of the source key)
  uint64_t point_id = 0;   ///< hnswlib label: low 63 bits of the same hash
  std::string memory_type; ///< one of memory_types
  std::string user_id;
  std::string session_id;
  std::string event_id;    ///< source event
  int64_t ts_ms = 0;       ///< event time of the source, ms since epoch
  double importance = 0.5; ///< 0..1
  int32_t chunk_index = 0; ///< position among memories of one event
  int64_t turn_ts_ms = 0;  ///< ordering key inside a session (== ts_ms)
  std::string role;        ///< conversation memories: speaker role
  std::string speaker;     ///< conversation memories: agent_name, if any
  std::string text;
  /// Retrieval context (conversation memories): the text of the turn just
  /// before this one in the same session, or empty. Indexed beside `text`
  /// (BM25 at half weight, embedded after it) because a reply's meaning
  /// often lives in the question it answers; never returned as the hit.
  std::string context;
  std::string metadata_json; ///< source event's `metadata`, or empty
  std::vector<std::string> tags; ///< source event's `tags` (payload filter)
  /// Scope of the source event (payload filters; empty when absent): the
  /// agent that produced it and the project it belongs to.
  std::string agent_type;
  std::string agent_name;
  std::string project_id;
  std::vector<float> vector; ///< filled by the embedding stage
  /// Set by the embedding stage's dedup (domain/dedup.hpp): memory_id of an
  /// existing memory of the same user that this one nearly duplicates, so
  /// the writer updates that memory instead of adding this one. Empty: add.
  std::string update_of;
  /// Kafka partition the source event arrived on (domain::
  /// assign_partitions); -1 when unknown. Decides which partition's shard
  /// holds the memory (unknown: partition 0's; docs/operations.md).
  int32_t partition = -1;
};

/// The partition whose shard holds `m`: its source partition, 0 when
/// unknown.
inline int32_t shard_partition(const memory& m) {
  return m.partition < 0 ? 0 : m.partition;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, memory& x) {
  return f(caf::meta::type_name("agentmem::memory"), x.memory_id, x.point_id,
           x.memory_type, x.user_id, x.session_id, x.event_id, x.ts_ms,
           x.importance, x.chunk_index, x.turn_ts_ms, x.role, x.speaker,
           x.text, x.context, x.metadata_json, x.vector, x.update_of, x.tags,
           x.agent_type, x.agent_name, x.project_id, x.partition);
}

} // namespace agentmem
