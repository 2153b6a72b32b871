#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::api {

/// Payload filter of a memory search (all parts optional; user_id is not
/// here because every search is scoped to exactly one user).
struct search_filter {
  std::vector<std::string> memory_types; ///< empty: any type
  std::string session_id;                ///< empty: any session
  std::optional<int64_t> since_ms;       ///< inclusive, ms since epoch
  std::optional<int64_t> until_ms;       ///< inclusive, ms since epoch
  /// Tags of the source event; empty: any. With `tags_all` a memory must
  /// carry every listed tag, otherwise at least one of them.
  std::vector<std::string> tags;
  bool tags_all = false;
};

/// A validated `POST /v1/memories/search` request.
struct search_request {
  std::string user_id;
  std::string query;
  int top_k = 10; ///< 1..100
  /// "vector" (cosine over embeddings), "keyword" (BM25) or "hybrid"
  /// (reciprocal rank fusion of both).
  std::string mode = "hybrid";
  search_filter filter;
  /// Context expansion: each hit comes with up to this many conversation
  /// turns of its session before and after it (0..10).
  int neighbors = 0;
};

/// A conversation turn returned as context of a hit.
struct context_turn {
  std::string memory_id;
  std::string event_id;
  int64_t ts_ms = 0;
  std::string text;
};

/// One hit; `metadata_json` is the source event's `metadata` (or "{}").
struct search_hit {
  std::string memory_id;
  double score = 0; ///< mode's score (cosine, BM25 or RRF); higher is better
  std::string memory_type;
  std::string text;
  std::string user_id;
  std::string session_id;
  std::string event_id;
  int64_t ts_ms = 0;
  std::string metadata_json;
  /// With `neighbors` n > 0: up to n turns before / after the hit, oldest
  /// first, by turn time.
  std::vector<context_turn> context_before;
  std::vector<context_turn> context_after;
};

/// One conversation-buffer entry of a session, oldest first.
struct buffered_message {
  std::string event_id;
  int64_t ts_ms = 0;
  std::string role;
  std::string agent_name;
  std::string content;
};

/// One `usage_analytics` row.
struct usage_row {
  std::string day; ///< YYYY-MM-DD
  std::string agent_type;
  int64_t activity_count = 0;
  int64_t error_count = 0;
  int64_t total_processing_time_ms = 0;
  int64_t tokens_used = 0;
  int64_t files_uploaded = 0;
};

/// What the HTTP layer needs from the rest of agentmem. Implementations
/// must be thread-safe: the server calls them from its worker threads.
/// Errors are returned as values (errc::invalid_request -> 400,
/// errc::not_found -> 404, anything else -> 503).
class backend {
public:
  virtual ~backend() = default;
  /// Memory search scoped to req.user_id, best first, at most req.top_k.
  virtual caf::expected<std::vector<search_hit>>
  search(const search_request& req) = 0;
  /// Up to `limit` most recent messages of a session, oldest first.
  virtual caf::expected<std::vector<buffered_message>>
  session_messages(const std::string& user_id, const std::string& session_id,
                   int limit) = 0;
  /// Daily rollups of one user for days in [from_day, to_day] (YYYY-MM-DD).
  virtual caf::expected<std::vector<usage_row>>
  usage(const std::string& user_id, const std::string& from_day,
        const std::string& to_day) = 0;
  /// Readiness: empty string when ready, else the reason it is not.
  virtual std::string not_ready_reason() = 0;
};

} // namespace agentmem::api
