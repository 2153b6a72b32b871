#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <caf/expected.hpp>

#include "actors/webhook_dispatcher.hpp"
#include "pipeline/memory_config.hpp"
#include "domain/http_embedder.hpp"
#include "domain/reranker.hpp"

namespace agentmem::pipeline {

/// Everything `agentmem run` reads from its TOML file (deploy/agentmem.toml
/// documents each key). String values of the form "env:NAME" are replaced
/// by the environment variable NAME at load time, so secrets (Postgres
/// password, SASL credentials) stay out of files and logs.
struct pipeline_config {
  // [kafka]
  std::string brokers;                          ///< bootstrap servers
  std::string topic = "agent.activity.v1";
  std::string dlq_topic = "agent.activity.v1.dlq";
  std::string group_id = "agentmem";
  std::map<std::string, std::string> kafka_properties; ///< passthrough
  bool create_topics = false; ///< create topic + DLQ at start if missing
  int topic_partitions = 16;  ///< partitions of topics it creates
  // [postgres]
  std::string postgres_url; ///< secret
  // [storage]
  std::string data_dir = "./data";
  size_t buffer_messages = 50; ///< conversation buffer per session
  /// Bound of the in-memory cache of conversation buffers, MiB (0: off).
  size_t buffer_cache_mb = 64;
  // [http]
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080; ///< 0 = ephemeral
  /// [http] ops_host / ops_port: when ops_port is set, /healthz, /readyz
  /// and /metrics move to that listener (main listener: 404 for them).
  bool http_ops_listener = false;
  std::string http_ops_host = "127.0.0.1";
  uint16_t http_ops_port = 0;
  // [auth] (docs/security.md)
  std::string auth_tokens_file; ///< token hash lines; plus $AGENTMEM_TOKENS
  bool auth_disabled = false;   ///< explicit opt-out for local use only
  // [limits]
  double rate_limit_per_s = 0;  ///< per token; 0 = unlimited
  double rate_limit_burst = 0;  ///< bucket size (at least 1)
  size_t max_body_bytes = 1 << 20;
  size_t max_response_bytes = 8 << 20;
  // [pipeline]
  size_t max_batch_records = 2000;
  std::chrono::milliseconds max_batch_wait{50};
  size_t max_in_flight = 4;
  std::chrono::milliseconds snapshot_interval{30000};
  std::chrono::milliseconds shutdown_timeout{30000};
  // [embedding]
  std::string embedding_provider = "hashing"; ///< "hashing" | "openai"
  size_t embedding_dims = 384;
  // [search] — ranking (pipeline/retriever.hpp, docs/retrieval.md)
  double rrf_k = 10;
  double vector_weight = -1; ///< < 0: default_vector_weight(model)
  double keyword_weight = 1.0;
  double neighbor_weight = 0.5; ///< session smoothing, 0: off
  size_t prf_docs = 5;          ///< BM25 feedback documents, 0: off
  size_t prf_terms = 20;        ///< BM25 feedback terms
  double prf_weight = 0.5;      ///< weight of the feedback terms
  double temporal_weight = 0.5; ///< temporal ranking, 0: off
  double speaker_weight = 0.5;  ///< speaker ranking, 0: off
  // [rerank] — re-ranking provider (domain/reranker.hpp); off without
  // base_url
  domain::http_reranker_config rerank_http;
  size_t rerank_depth = 50;   ///< candidates re-ranked when configured
  double rerank_weight = 0;   ///< 0: reranker order replaces; > 0: RRF
  // [memory] — dedup, working memory, rolling summaries (memory_config.hpp)
  memory_settings memory;
  /// provider "openai": base_url, model, api_key (secret, use "env:NAME"),
  /// max_batch, max_in_flight, timeouts, retries, cache bounds
  /// (domain/http_embedder.hpp); dims comes from embedding_dims.
  domain::http_embedder_config embedding_http;
  // [supervisor]
  size_t max_restarts = 5;
  std::chrono::seconds restart_window{60};
  // [retention] — docs/data-governance.md; 0 disables a policy
  bool retention_enabled = false;
  std::chrono::milliseconds retention_interval{300000};
  int64_t retention_close_idle_minutes = 0;
  int64_t retention_session_days = 0;
  double retention_min_importance = 0.0; ///< memories below it expire...
  int64_t retention_memory_days = 0;     ///< ...after this many days
  int64_t retention_max_rows = 10000;    ///< per policy and pass
  int64_t retention_grace_s = 10; ///< rows committed since are left alone
  // [analytics] — event-time rollups and agent.analytics.v1
  // (docs/operations.md "Analytics")
  /// false: no analytics_rollups are written (no windows, no records on the
  /// topic); usage_analytics and agent_sessions are kept either way.
  bool analytics_enabled = true;
  std::string analytics_topic = "agent.analytics.v1";
  int64_t analytics_grace_s = 3600;          ///< watermark = stream time - grace
  int64_t analytics_idle_partition_s = 300;  ///< idle partitions stop holding it
  std::chrono::milliseconds analytics_publish_interval{1000}; ///< outbox poll
  std::string skills_file; ///< JSON skills/bindings seeded at start ("": none)
  // [memory_stream] — the memory change stream (docs/events.md,
  // "Output topic agent.memory.v1"; docs/operations.md "Memory change stream")
  std::string memory_stream_topic = "agent.memory.v1";
  std::chrono::milliseconds memory_stream_publish_interval{1000}; ///< outbox poll
  // [webhooks] and [[webhooks.endpoints]] — per-tenant webhooks of the
  // change stream (docs/operations.md "Webhooks"); none by default.
  /// Endpoint secrets: "env:NAME" keeps them out of the file; never logged.
  actors::webhook_dispatcher_config webhooks;
  // [pricing] — model -> USD per 1000 tokens, for events without cost_usd
  std::map<std::string, double> pricing;
  // [cluster] — partition-owned shards, routed reads (docs/operations.md,
  // "Scaling out")
  /// Stable id of this node: Kafka `group.instance.id` (static membership)
  /// and its row in the routing table. Empty: "<hostname>-<http_port>".
  std::string node_id;
  /// host:port other nodes forward reads to. Empty: http host (the
  /// hostname when it listens on a wildcard) and the bound port.
  std::string advertise_address;
  /// Node-to-node credential of forwarded reads (secret: "env:NAME");
  /// compared in constant time, never logged. Empty: this node neither
  /// forwards nor accepts forwarded reads (reads it cannot answer from its
  /// own shards are answered from Postgres, marked stale).
  std::string cluster_secret;
  /// "cooperative-sticky" (incremental rebalancing, the default) or
  /// "eager" (librdkafka's range,roundrobin: every rebalance revokes
  /// everything; the fallback for librdkafka cooperative bugs).
  std::string assignment = "cooperative-sticky";
  /// Kafka static membership with group.instance.id = node_id.
  bool static_membership = true;
  /// SIGTERM leaves the group at once (a static member otherwise keeps
  /// its partitions until session.timeout.ms passes, which suits rolling
  /// restarts but not scaling down).
  bool leave_on_shutdown = true;
  std::chrono::milliseconds heartbeat_interval{1000};
  /// A node whose heartbeat is older than this is ignored by routers.
  std::chrono::milliseconds node_timeout{5000};
  /// Timeout of one forwarded read (connect + answer).
  std::chrono::milliseconds forward_timeout{2000};
  // [testing] — test-only fault injection (actors/fault_injection.hpp)
  std::string fault_stage; ///< empty: disarmed
  int fault_at_batch = 1;
  int fault_times = 1;
};

/// Loads a TOML config file over the defaults. errc::invalid_config names
/// the offending key; the message never contains secret values.
caf::expected<pipeline_config> load_config(const std::string& path);

/// Checks ranges and required keys (brokers, postgres_url, data_dir).
caf::error validate(const pipeline_config& cfg);

/// cfg.node_id, or "<hostname>-<http_port>" when it is empty.
std::string effective_node_id(const pipeline_config& cfg);

/// Resolves "env:NAME" references; other values are returned unchanged.
caf::expected<std::string> resolve_env(const std::string& value,
                                       const std::string& key);

/// A librdkafka property given on a command line as KEY=VALUE (`agentmem
/// dev --kafka-property`, the benchmark's --consumer-property): the key and
/// the value, an "env:NAME" value resolved (resolve_env). invalid_config
/// when there is no '=' or no key, or when the variable is unset (that
/// message names `option` and the key).
caf::expected<std::pair<std::string, std::string>>
parse_property_arg(const std::string& kv, const std::string& option);

} // namespace agentmem::pipeline
