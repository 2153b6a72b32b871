#pragma once

#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::pipeline {

/// Options of `agentmem bench-locomo`.
struct locomo_bench_options {
  std::string brokers;   ///< Kafka bootstrap of the running pipeline
  std::string topic = "agent.activity.v1";
  std::string http = "http://127.0.0.1:8080"; ///< its HTTP API
  std::string token; ///< bearer token for the API (--token / AGENTMEM_TOKEN)
  std::string data;      ///< LoCoMo JSON file
  std::vector<std::string> modes{"vector", "keyword", "hybrid"};
  bool publish = true;   ///< replay the turns first (idempotent ids)
  int wait_seconds = 300;
};

/// Recall of one (mode, group of questions): LoCoMo's recall accuracy,
/// R@k = mean over questions of |evidence ∩ top-k dia_ids| / |evidence|
/// (questions without evidence count 1), for k = 5, 10, 25, 50.
struct recall_row {
  std::string mode;
  std::string group; ///< "all" or the category name
  size_t questions = 0;
  double r5 = 0, r10 = 0, r25 = 0, r50 = 0;
};

/// Publishes every turn of the file through Kafka into a running pipeline
/// (unless publish is false), waits until the last turn of every
/// conversation is searchable, then asks every question through
/// `POST /v1/memories/search` (user_id = sample_id, top_k = 50) once per
/// mode and maps hits to dialog ids through `metadata.dia_id`. Errors:
/// errc::io_error (file), kafka_error, timeout, invalid_request (HTTP).
caf::expected<std::vector<recall_row>>
run_locomo_bench(const locomo_bench_options& opts);

/// The rows as a Markdown table.
std::string to_markdown(const std::vector<recall_row>& rows);

} // namespace agentmem::pipeline
