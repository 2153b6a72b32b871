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

/// One stored memory as the API shows it (`GET /v1/memories/{memory_id}`,
/// listings).
struct memory_record {
  std::string memory_id;
  std::string memory_type;
  std::string user_id;
  std::string session_id;
  std::string event_id;   ///< source event
  int64_t ts_ms = 0;      ///< event time of the source, ms since epoch
  double importance = 0;  ///< 0..1
  int32_t version = 1;    ///< 1 as added, +1 per change in place
  std::string text;
  std::string role;       ///< conversation memories: speaker role, or ""
  std::string speaker;    ///< conversation memories: agent_name, or ""
  std::string metadata_json; ///< source event's metadata, or ""
  std::vector<std::string> tags;
  std::string agent_type; ///< agent of the source event, or ""
  std::string agent_name; ///< or ""
  std::string project_id; ///< project of the source event, or ""
  int64_t created_at_ms = 0;            ///< commit time of the ADD
  std::optional<int64_t> updated_at_ms; ///< last change in place, if any
};

/// A change of one memory through the API: absent fields stay as they are.
struct memory_patch {
  std::optional<std::string> text;              ///< re-embedded when set
  std::optional<double> importance;             ///< 0..1
  std::optional<std::vector<std::string>> tags; ///< replaces the tags
};

/// A position in a listing ordered newest first: the last item's sort key.
struct list_position {
  int64_t ts_ms = 0;
  std::string id;
};

/// A validated `GET /v1/users/{user_id}/memories` request. Results are
/// ordered by (ts, memory_id) descending; `after` continues after that
/// position (keyset pagination: rows inserted meanwhile never shift a
/// page, so no row is returned twice or skipped).
struct memory_list_query {
  std::string user_id;
  std::vector<std::string> memory_types; ///< empty: any
  std::string session_id;                ///< empty: any
  std::optional<int64_t> since_ms;       ///< inclusive
  std::optional<int64_t> until_ms;       ///< inclusive
  std::vector<std::string> tags;         ///< empty: any
  bool tags_all = false;                 ///< all tags instead of any
  std::optional<double> min_importance;  ///< importance >= this
  std::string agent_type;                ///< empty: any
  std::string agent_name;                ///< empty: any
  std::string project_id;                ///< empty: any
  int limit = 50;                        ///< 1..1000
  std::optional<list_position> after;
};

/// A page of memories and where the next page starts (none: last page).
struct memory_page {
  std::vector<memory_record> items;
  std::optional<list_position> next;
};

/// One session of a user (`agent_sessions` plus its memory count).
struct session_row {
  std::string session_id;
  std::string agent_type;
  std::string project_id; ///< latest project of its events, or ""
  int64_t started_at_ms = 0;
  int64_t last_activity_at_ms = 0;
  std::optional<int64_t> ended_at_ms;
  int64_t total_interactions = 0;
  int64_t memory_count = 0;
};

/// A validated `GET /v1/users/{user_id}/sessions` request, ordered by
/// (started_at, session_id) descending with keyset pagination.
struct session_list_query {
  std::string user_id;
  std::string agent_type;          ///< empty: any
  std::string project_id;          ///< empty: any
  std::optional<int64_t> since_ms; ///< last activity >= this
  std::optional<int64_t> until_ms; ///< started at <= this
  int limit = 50;                  ///< 1..1000
  std::optional<list_position> after;
};

/// A page of sessions.
struct session_page {
  std::vector<session_row> items;
  std::optional<list_position> next;
};

/// One project of a user (`GET /v1/users/{user_id}/projects`): what
/// carries its project_id, and when it was last active.
struct project_row {
  std::string project_id;
  int64_t sessions = 0;          ///< agent_sessions rows
  int64_t memories = 0;          ///< memories rows
  int64_t uploads = 0;           ///< file_uploads rows
  int64_t last_activity_ms = 0;  ///< newest last_activity_at of a session
};

/// A validated `GET /v1/users/{user_id}/projects` request: ordered by
/// project_id ascending, keyset-paginated after `after`.
struct project_list_query {
  std::string user_id;
  int limit = 50; ///< 1..1000
  /// Continue after this project_id (`id`; `ts_ms` unused, 0).
  std::optional<list_position> after;
};

/// A page of projects.
struct project_page {
  std::vector<project_row> items;
  std::optional<list_position> next; ///< {0, last project_id}
};

/// What `DELETE /v1/memories/{memory_id}` removed.
struct memory_deletion {
  std::string memory_id;
  std::string user_id;
  int32_t version = 0;      ///< the DELETE's version in memory_history
  int64_t deletion_seq = 0; ///< deletions-log entry other nodes apply
  int64_t deleted_at_ms = 0;
};

} // namespace agentmem
