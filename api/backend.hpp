#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/rows.hpp"

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
  /// Scope of the source event (exact; empty: any): the agent that
  /// produced it and its project.
  std::string agent_type;
  std::string agent_name;
  std::string project_id;
  std::optional<double> min_importance; ///< importance >= this (0..1)
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
  double importance = 0;  ///< 0..1, as stored (float precision)
  std::string agent_type; ///< scope of the source event, "" when absent
  std::string agent_name;
  std::string project_id;
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

// Rows the stores return (messages/rows.hpp), under their API names.
using ::agentmem::entity_neighbors;
using ::agentmem::entity_row;
using ::agentmem::fact_query;
using ::agentmem::fact_row;
using ::agentmem::list_position;
using ::agentmem::memory_deletion;
using ::agentmem::memory_list_query;
using ::agentmem::memory_page;
using ::agentmem::memory_patch;
using ::agentmem::memory_record;
using ::agentmem::memory_version;
using ::agentmem::project_list_query;
using ::agentmem::project_page;
using ::agentmem::project_row;
using ::agentmem::session_list_query;
using ::agentmem::session_page;
using ::agentmem::session_row;
using ::agentmem::neighbor_row;
using ::agentmem::usage_row;

/// One item of a session's working memory (storage/working_memory.hpp).
struct working_item {
  std::string event_id;
  int64_t ts_ms = 0;       ///< event time, ms since epoch
  std::string kind;        ///< "message", "tool_result" or "task"
  std::string name;        ///< speaker (messages) or tool/task name
  std::string content;     ///< text, truncated (docs/memory.md)
  bool success = true;     ///< tool results and tasks
};

/// A session's working memory and when it expires without new activity.
struct working_memory_view {
  std::vector<working_item> items; ///< oldest first
  int64_t expires_at_ms = 0;       ///< wall clock, ms since epoch
};
/// What DELETE /v1/users/{user_id} removed (docs/data-governance.md).
struct deletion_report {
  std::string user_id;
  int64_t deleted_at_ms = 0; ///< ms since epoch (Postgres transaction time)
  int64_t cutoff_ms = 0;     ///< tombstone: events with ts <= this are dropped
  int64_t deletion_seq = 0;  ///< deletions-log entry other nodes apply
  /// Postgres rows deleted per table, in deletion order.
  std::vector<std::pair<std::string, int64_t>> postgres;
  int64_t vectors = 0;      ///< vector-index points removed on this node
  int64_t keyword_docs = 0; ///< keyword-index documents removed on this node
  int64_t hot_messages = 0; ///< RocksDB conversation-buffer entries
  int64_t hot_sessions = 0; ///< RocksDB session states
  int64_t hot_docs = 0;     ///< RocksDB memory docs
  int64_t working_items = 0;    ///< working-memory items (all sessions)
  int64_t working_sessions = 0; ///< working-memory session headers
  int64_t embedding_caches_cleared = 0; ///< 1 when the provider's caches
                                        ///< were dropped (HTTP provider)
};

/// How a read reached this node (routed reads, docs/operations.md
/// "Scaling out").
struct read_context {
  int hops = 0; ///< node-to-node forwards so far (0: from a client)
  /// Set on a forwarded read: answer only from the shards of these
  /// partitions. Empty: every partition of the user.
  std::vector<int32_t> partitions;
  /// The caller's token scope as in a token line ("admin", "users=a,b",
  /// "prefix=acme-"), passed along when the read is forwarded.
  std::string scope;
  /// The request as received (its target still percent-encoded), so that
  /// it can be forwarded as it is.
  std::string method;
  std::string target;
  std::string body;
};

/// How fresh an answer is: `stale` when (part of) it was read from
/// Postgres alone because no node holding the shard could answer; then
/// `lag_ms` says how far behind the stream it may be (time since the
/// partition's newest commit).
struct read_freshness {
  bool stale = false;
  int64_t lag_ms = 0;
};

/// The reads whose answer depends on which node holds the user's shards.
enum class routed_read {
  search,           ///< POST /v1/memories/search
  session_messages, ///< GET /v1/sessions/{session_id}/messages
  working_memory,   ///< GET /v1/sessions/{session_id}/working-memory
};

/// A search's hits and their freshness.
struct search_answer {
  std::vector<search_hit> hits;
  read_freshness freshness;
};

/// A session's buffered messages and their freshness.
struct messages_answer {
  std::vector<buffered_message> messages;
  read_freshness freshness;
};

/// Request headers of a read forwarded by another node: the node-to-node
/// credential, the caller's token scope, the partitions to answer from and
/// the forwards so far (docs/operations.md, "Routed reads").
namespace forward_headers {
constexpr const char* credential = "X-Agentmem-Node-Credential";
constexpr const char* scope = "X-Agentmem-Scope";
constexpr const char* partitions = "X-Agentmem-Partitions";
constexpr const char* hops = "X-Agentmem-Hops";
} // namespace forward_headers

/// {1, 5, 7} as "1,5,7".
std::string format_partitions(const std::vector<int32_t>& ps);

/// "1,5,7" as {1, 5, 7}. Errors: invalid_request for anything but a
/// non-empty list of non-negative integers.
caf::expected<std::vector<int32_t>> parse_partitions(const std::string& s);

/// What another node answered to a forwarded read, relayed as it is.
struct relayed_reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after; ///< Retry-After header, "" when absent
};

/// Writes one JSON Lines line (with its '\n'); false when the client is
/// gone (the export stops).
using line_writer = std::function<bool(const std::string& line)>;

/// A prepared export: streams every line through the writer; returns an
/// error if the export failed part-way.
using export_stream = std::function<caf::error(const line_writer&)>;

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
  /// The versions of one memory of `user_id`, oldest first. The default
  /// (backends without Postgres) answers errc::not_found.
  virtual caf::expected<std::vector<memory_version>>
  memory_history(const std::string& user_id, const std::string& memory_id);
  /// The live working memory of a session. errc::not_found when it has
  /// none (never written, or expired); the default answers that too.
  virtual caf::expected<working_memory_view>
  working_memory(const std::string& user_id, const std::string& session_id);
  /// Facts of q.user_id valid at q.as_of_ms (current facts when absent),
  /// positive statements only, newest valid_at first, at most q.limit.
  /// The default (backends without Postgres) answers errc::not_found, as
  /// do the two graph calls below.
  virtual caf::expected<std::vector<fact_row>>
  facts(const fact_query& q);
  /// Entities of a user (of `type` unless empty), most mentioned first,
  /// at most `limit`.
  virtual caf::expected<std::vector<entity_row>>
  entities(const std::string& user_id, const std::string& type,
           int limit);
  /// An entity and up to `limit` of its edges, heaviest first. Errors:
  /// errc::not_found when the user has no such entity.
  virtual caf::expected<entity_neighbors>
  neighbors(const std::string& user_id, const std::string& entity_id,
            int limit);
  /// Deletes everything stored for `user_id` (Postgres, this node's
  /// derived state; other nodes follow the deletions log) and tombstones
  /// the user. The default implementation reports that this backend has no
  /// data governance (-> 503).
  virtual caf::expected<deletion_report> delete_user(const std::string& user_id);
  /// Prepares a JSON Lines export of everything stored for `user_id`
  /// (connecting first, so connection errors become a status code). Same
  /// default as delete_user.
  virtual caf::expected<export_stream> open_export(const std::string& user_id);
  /// One memory of `user_id`. errc::not_found when the user has no such
  /// memory; the default (backends without Postgres) answers that too, as
  /// do the other single-memory and listing calls below.
  virtual caf::expected<memory_record>
  get_memory(const std::string& user_id, const std::string& memory_id);
  /// Changes text (re-embedded), importance and/or tags of one memory in
  /// place (new version, history row, re-indexed on every node). Errors:
  /// errc::not_found, errc::invalid_request.
  virtual caf::expected<memory_record>
  update_memory(const std::string& user_id, const std::string& memory_id,
                const memory_patch& patch);
  /// Deletes one memory (history row, removed from every node's indexes).
  /// Errors: errc::not_found.
  virtual caf::expected<memory_deletion>
  delete_memory(const std::string& user_id, const std::string& memory_id);
  /// One page of a user's memories, newest first (memory_list_query).
  virtual caf::expected<memory_page> list_memories(const memory_list_query& q);
  /// One page of a user's sessions, newest first (session_list_query).
  virtual caf::expected<session_page>
  list_sessions(const session_list_query& q);
  /// One page of a user's projects (project_list_query).
  virtual caf::expected<project_page>
  list_projects(const project_list_query& q);
  /// Readiness: empty string when ready, else the reason it is not.
  virtual std::string not_ready_reason() = 0;

  // --- routed reads (docs/operations.md, "Scaling out") -----------------
  // A node holds derived state only for the partitions it owns. The server
  // asks route_read() first for the reads that need it (search, session
  // messages, working memory); a reply is relayed as it is, std::nullopt
  // means "answer here" with the routed_* calls below. The defaults answer
  // everything here from the calls above (a single node).

  /// `user_id` as authorized. An error means no node and no fallback can
  /// answer now: the server answers 503 with Retry-After.
  virtual caf::expected<std::optional<relayed_reply>>
  route_read(routed_read kind, const std::string& user_id,
             const read_context& ctx);
  /// search() with the context of a routed read.
  virtual caf::expected<search_answer>
  routed_search(const search_request& req, const read_context& ctx);
  /// session_messages() with the context of a routed read.
  virtual caf::expected<messages_answer>
  routed_session_messages(const std::string& user_id,
                          const std::string& session_id, int limit,
                          const read_context& ctx);
};

} // namespace agentmem::api
