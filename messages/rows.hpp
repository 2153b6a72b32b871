#pragma once

// Rows the stores return to readers (the HTTP API through api::backend):
// plain structs, so that storage/ never includes api/ headers.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace agentmem {

/// One `usage_analytics` row: one user's activity of one UTC day and agent
/// type.
struct usage_row {
  std::string day; ///< YYYY-MM-DD
  std::string agent_type;
  int64_t activity_count = 0;
  int64_t error_count = 0;
  int64_t total_processing_time_ms = 0;
  int64_t tokens_used = 0;
  int64_t files_uploaded = 0;
};

/// One version of a memory (a `memory_history` row, docs/memory.md).
struct memory_version {
  std::string memory_id;
  int32_t version = 1;
  std::string event; ///< "ADD", "UPDATE" or "DELETE"
  std::optional<std::string> old_text; ///< none for ADD
  std::optional<std::string> new_text; ///< none for DELETE
  std::optional<double> old_importance;
  std::optional<double> new_importance;
  std::string event_id;         ///< source event of the change, or ""
  std::string source_memory_id; ///< memory the change came from, or ""
  int64_t changed_at_ms = 0;    ///< commit time, ms since epoch
};

/// A validated query of a user's facts (`GET /v1/users/{user_id}/facts`).
struct fact_query {
  std::string user_id;
  std::optional<int64_t> as_of_ms; ///< ms since epoch; absent: current facts
  std::string subject;             ///< empty: any subject
  std::string predicate;           ///< empty: any predicate
  int limit = 100;                 ///< 1..1000
};

/// One stored fact (docs/memory.md, "Facts and preferences").
struct fact_row {
  std::string fact_id;
  std::string subject;
  std::string predicate;
  std::string object;
  std::string kind;      ///< "fact" or "preference"
  bool polarity = true;  ///< false: a negated/retracted statement
  double confidence = 0; ///< 0..1
  std::string event_id;  ///< source event
  std::string session_id;
  int64_t valid_at_ms = 0;
  std::optional<int64_t> invalid_at_ms; ///< absent while valid
  std::string invalidated_by;           ///< fact_id that closed it, or ""
  int64_t recorded_at_ms = 0;           ///< when agentmem stored it
  std::string source_text;
};

/// One entity of a user's graph memory.
struct entity_row {
  std::string entity_id;
  std::string name;
  std::string type;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t mention_count = 0; ///< distinct events that mention it
};

/// One edge from an entity to a neighbour.
struct neighbor_row {
  entity_row entity;     ///< the neighbour
  std::string relation;  ///< co_occurs, mentions, works_at, lives_in, ...
  std::string direction; ///< "out" (entity -> neighbour), "in", or "both"
  int64_t weight = 0;    ///< distinct events evidencing the edge
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
};

/// An entity and its neighbours, strongest edges first.
struct entity_neighbors {
  entity_row entity;
  std::vector<neighbor_row> neighbors;
};

} // namespace agentmem
