#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::domain {

/// Re-ranking provider: scores (query, document) pairs with a model that
/// reads both together (a cross-encoder), for the top candidates of a
/// search. Thread-safe.
class reranker {
public:
  virtual ~reranker() = default;
  /// Relevance score of each document for `query` (higher is better; the
  /// scale is the model's), in the order of `documents`. Errors are the
  /// provider's.
  virtual caf::expected<std::vector<double>>
  score(std::string_view query, const std::vector<std::string_view>& documents)
    = 0;
  /// Model name, as configured.
  virtual std::string model() const = 0;
};

/// Settings of the HTTP re-ranking provider ([rerank] in the config).
struct http_reranker_config {
  /// API root; requests go to POST {base_url}/rerank (e.g.
  /// "http://127.0.0.1:8080" for text-embeddings-inference,
  /// "https://api.jina.ai/v1", "https://api.cohere.com/v2").
  std::string base_url;
  std::string model;   ///< sent as "model" (may be empty for TEI)
  std::string api_key; ///< Authorization: Bearer, when not empty; never logged
  /// Request body dialect: "cohere" (default; also Jina, Infinity, vLLM:
  /// {"model","query","documents","top_n","return_documents": false}) or
  /// "tei" (text-embeddings-inference: {"query","texts","raw_scores":
  /// false}). Both reply shapes are accepted either way: {"results":
  /// [{"index","relevance_score"}]} or [{"index","score"}].
  std::string api = "cohere";
  size_t max_documents = 100; ///< documents per request (1..1000)
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{10000};
  /// Retries after the first try on connection errors, timeouts, 408, 429
  /// and 5xx (never on other 4xx); backoff doubles from backoff_base.
  int max_retries = 2;
  std::chrono::milliseconds backoff_base{100};
};

/// Client of the `/rerank` API that text-embeddings-inference, Jina,
/// Cohere (and Infinity, vLLM) share. One request per max_documents
/// documents; every document gets a score (a reply missing one is an
/// error). Errors of score(): errc::timeout, errc::invalid_request (4xx),
/// errc::io_error (connection, 5xx after retries, malformed reply).
class http_reranker : public reranker {
public:
  /// errc::invalid_config for a bad URL, an unknown api or limits of 0.
  static caf::expected<std::shared_ptr<http_reranker>>
  make(http_reranker_config cfg);
  ~http_reranker() override;
  caf::expected<std::vector<double>>
  score(std::string_view query,
        const std::vector<std::string_view>& documents) override;
  std::string model() const override;

  struct impl;

private:
  explicit http_reranker(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::domain
