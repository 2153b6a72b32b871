#pragma once

#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "domain/embedding.hpp"
#include "domain/reranker.hpp"
#include "pipeline/retriever.hpp"

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
  /// Search latency over the group's questions (ms, median and 99th
  /// percentile), as the client saw it.
  double p50_ms = 0, p99_ms = 0;
  std::string provider; ///< in-process runs: the embedding provider's label
  std::string setting;  ///< in-process runs: the ranking settings' label
};

/// Publishes every turn of the file through Kafka into a running pipeline
/// (unless publish is false), waits until the last turn of every
/// conversation is searchable, then asks every question through
/// `POST /v1/memories/search` (user_id = sample_id, top_k = 50) once per
/// mode and maps hits to dialog ids through `metadata.dia_id`. Errors:
/// errc::io_error (file), kafka_error, timeout, invalid_request (HTTP).
caf::expected<std::vector<recall_row>>
run_locomo_bench(const locomo_bench_options& opts);

/// One embedding provider of an in-process run.
struct locomo_provider {
  std::string label; ///< e.g. "hashing", "bge-small-en-v1.5"
  std::shared_ptr<domain::embedder> embedder;
  /// Optional: adds the "rerank" setting (defaults + re-ranking of the
  /// top rerank_depth fused candidates).
  std::shared_ptr<domain::reranker> reranker;
};

/// Parses a --provider spec: "hashing[,dims=D]" or "openai,label=L,url=U,
/// model=M,dims=D[,query_prefix=P][,passage_prefix=P][,query_input_type=T]
/// [,passage_input_type=T]" (values up to the next comma). The label
/// defaults to the model name. HTTP providers send one request at a time
/// with a 5-minute timeout (a local model server on a loaded machine). errc::invalid_config for unknown keys or a
/// provider that cannot be made.
caf::expected<locomo_provider> parse_provider_spec(const std::string& spec);

/// Options of `agentmem bench-locomo --in-process`.
struct locomo_sweep_options {
  std::string data;     ///< LoCoMo JSON file
  std::string work_dir; ///< indexes are built in here (one dir per provider)
  std::vector<locomo_provider> providers;
  std::vector<std::string> modes{"vector", "keyword", "hybrid"};
  /// Only these conversations (sample_ids); empty: all.
  std::vector<std::string> samples;
  bool sweep = true;        ///< also every setting of sweep_settings()
  size_t rerank_depth = 50; ///< candidates the "rerank" setting re-ranks
  /// BM25 parameters of the keyword indexes (the product's are the
  /// defaults; other values measure a k1/b grid, docs/retrieval.md).
  storage::bm25_params bm25;
  /// More BM25 parameters to measure with each provider's embeddings of
  /// the same run: for each, a keyword index of its own and the modes
  /// keyword and hybrid with the defaults, setting "bm25 k1=K b=B".
  std::vector<storage::bm25_params> bm25_grid;
};

/// The settings of the sweep for a provider whose default vector weight is
/// `vector_weight`: "defaults" (fusion_params{} with that weight),
/// "earlier" (the ranking before issue #12: fusion only), then one knob at
/// a time moved off its default (rrf_k, vector_weight, neighbor_weight,
/// prf docs/terms/weight, temporal_weight, speaker_weight, min_depth),
/// each labelled "<knob>=<value>".
std::vector<std::pair<std::string, fusion_params>>
sweep_settings(double vector_weight);

/// In-process LoCoMo run, no Kafka or Postgres: every turn's event goes
/// through the contract decoder and memory extraction (with its retrieval
/// context, as the extraction stage derives it), is embedded by each
/// provider (stored texts through embed()) and indexed in a vector_index
/// and keyword_index of its own under work_dir; then every question is
/// asked through pipeline::retriever (user_id = sample_id, top_k 50):
/// first `hybrid` with the defaults (the query embedding cache is cold, so
/// its latency is a first search's), then every mode, then (sweep) the
/// hybrid settings of sweep_settings() and, with a reranker, "rerank",
/// and (bm25_grid) keyword and hybrid with each of those BM25 parameters.
/// Latency is measured around retriever::search (query embedding
/// included, document fetching excluded). Errors: io_error (file, dirs),
/// the providers' and indexes' errors.
caf::expected<std::vector<recall_row>>
run_locomo_sweep(const locomo_sweep_options& opts);

/// The rows as a Markdown table (provider and setting columns when set).
std::string to_markdown(const std::vector<recall_row>& rows);

} // namespace agentmem::pipeline
