#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include <caf/expected.hpp>

#include "domain/http_embedder.hpp"

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
  // [http]
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080; ///< 0 = ephemeral
  // [pipeline]
  size_t max_batch_records = 2000;
  std::chrono::milliseconds max_batch_wait{50};
  size_t max_in_flight = 4;
  std::chrono::milliseconds snapshot_interval{30000};
  std::chrono::milliseconds shutdown_timeout{30000};
  // [embedding]
  std::string embedding_provider = "hashing"; ///< "hashing" | "openai"
  size_t embedding_dims = 384;
  /// provider "openai": base_url, model, api_key (secret, use "env:NAME"),
  /// max_batch, max_in_flight, timeouts, retries, cache bounds
  /// (domain/http_embedder.hpp); dims comes from embedding_dims.
  domain::http_embedder_config embedding_http;
  // [supervisor]
  size_t max_restarts = 5;
  std::chrono::seconds restart_window{60};
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

/// Resolves "env:NAME" references; other values are returned unchanged.
caf::expected<std::string> resolve_env(const std::string& value,
                                       const std::string& key);

} // namespace agentmem::pipeline
