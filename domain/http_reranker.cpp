#include "domain/reranker.hpp"

#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "domain/http_pool.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"

namespace agentmem::domain {

namespace {

using json = nlohmann::json;

} // namespace

struct http_reranker::impl {
  http_reranker_config cfg;
  std::string origin;
  std::string path;
  http_pool clients;
  metrics::counter& m_requests;
  metrics::counter& m_errors;
  metrics::histogram& m_latency;

  impl(http_reranker_config c, std::string o, std::string p)
    : cfg(std::move(c)),
      origin(std::move(o)),
      path(std::move(p)),
      clients(origin, cfg.connect_timeout, cfg.request_timeout, cfg.api_key),
      m_requests(metrics::global().get_counter(
        "agentmem_rerank_requests_total",
        "HTTP requests sent to the re-ranking provider (each try)")),
      m_errors(metrics::global().get_counter(
        "agentmem_rerank_errors_total",
        "Re-ranking requests that failed (connection error or bad status)")),
      m_latency(metrics::global().get_histogram(
        "agentmem_rerank_request_duration_seconds",
        "Latency of one re-ranking HTTP request (each try)",
        metrics::latency_buckets())) {
  }

  caf::error bad_reply(const std::string& why) const {
    return make_error(errc::io_error, "malformed reply from re-ranking provider "
                                        + origin + path + ": " + why);
  }

  // Scores of one request's documents into out[offset ...].
  caf::error parse(const std::string& body, size_t n, size_t offset,
                   std::vector<double>& out) const {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded())
      return bad_reply("not JSON");
    const json* results = &j;
    if (j.is_object()) {
      auto it = j.find("results");
      if (it == j.end() || !it->is_array())
        return bad_reply("no results array");
      results = &*it;
    } else if (!j.is_array()) {
      return bad_reply("neither an object nor an array");
    }
    std::vector<bool> seen(n, false);
    for (auto& r : *results) {
      if (!r.is_object() || !r.contains("index")
          || !r["index"].is_number_unsigned())
        return bad_reply("a result without index");
      auto idx = r["index"].get<size_t>();
      if (idx >= n)
        return bad_reply("index " + std::to_string(idx) + " out of range");
      const json* s = nullptr;
      if (r.contains("relevance_score"))
        s = &r["relevance_score"];
      else if (r.contains("score"))
        s = &r["score"];
      if (!s || !s->is_number())
        return bad_reply("result " + std::to_string(idx) + " has no score");
      if (seen[idx])
        return bad_reply("index " + std::to_string(idx) + " repeated");
      seen[idx] = true;
      out[offset + idx] = s->get<double>();
    }
    for (size_t i = 0; i < n; ++i)
      if (!seen[i])
        return bad_reply("no score for document " + std::to_string(i));
    return caf::none;
  }

  caf::error post(std::string_view query,
                  const std::vector<std::string_view>& docs, size_t offset,
                  std::vector<double>& out) {
    json body;
    if (cfg.api == "tei") {
      body["query"] = std::string{query};
      auto& t = body["texts"] = json::array();
      for (auto d : docs)
        t.push_back(std::string{d});
      body["raw_scores"] = false;
    } else {
      if (!cfg.model.empty())
        body["model"] = cfg.model;
      body["query"] = std::string{query};
      auto& t = body["documents"] = json::array();
      for (auto d : docs)
        t.push_back(std::string{d});
      body["top_n"] = docs.size();
      body["return_documents"] = false;
    }
    auto payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
    caf::error last;
    for (int attempt = 0; attempt <= cfg.max_retries; ++attempt) {
      if (attempt > 0)
        std::this_thread::sleep_for(cfg.backoff_base * (1 << (attempt - 1)));
      auto client = clients.take();
      auto t0 = std::chrono::steady_clock::now();
      auto res = client->Post(path.c_str(), payload, "application/json");
      std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      m_requests.inc();
      m_latency.observe(dt.count());
      bool retryable = true;
      if (!res) {
        auto e = res.error();
        last = make_error(e == httplib::Error::Read || e == httplib::Error::Write
                              || e == httplib::Error::ConnectionTimeout
                            ? errc::timeout
                            : errc::io_error,
                          "re-ranking request to " + origin + path
                            + " failed: " + httplib::to_string(e));
      } else if (res->status == 200) {
        clients.give_back(std::move(client));
        return parse(res->body, docs.size(), offset, out);
      } else {
        clients.give_back(std::move(client));
        retryable = res->status == 408 || res->status == 429
                    || res->status >= 500;
        last = make_error(retryable ? errc::io_error : errc::invalid_request,
                          "re-ranking provider " + origin + path
                            + " answered HTTP " + std::to_string(res->status)
                            + ": " + scrub_secret(res->body, cfg.api_key));
      }
      m_errors.inc();
      if (!retryable)
        break;
    }
    return last;
  }
};

caf::expected<std::shared_ptr<http_reranker>>
http_reranker::make(http_reranker_config cfg) {
  auto bad = [](std::string why) {
    return make_error(errc::invalid_config, "rerank: " + std::move(why));
  };
  auto ep = parse_endpoint(cfg.base_url, "rerank");
  if (!ep)
    return ep.error();
  if (cfg.api != "cohere" && cfg.api != "tei")
    return bad("api must be \"cohere\" or \"tei\", got \"" + cfg.api + "\"");
  if (cfg.max_documents == 0 || cfg.max_documents > 1000)
    return bad("max_documents must be in 1..1000");
  if (cfg.max_retries < 0)
    return bad("max_retries must not be negative");
  std::unique_ptr<impl> p{
    new impl(std::move(cfg), ep->origin, ep->prefix + "/rerank")};
  return std::shared_ptr<http_reranker>{new http_reranker(std::move(p))};
}

http_reranker::http_reranker(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

http_reranker::~http_reranker() = default;

std::string http_reranker::model() const {
  return impl_->cfg.model;
}

caf::expected<std::vector<double>>
http_reranker::score(std::string_view query,
                     const std::vector<std::string_view>& documents) {
  std::vector<double> out(documents.size(), 0.0);
  auto step = impl_->cfg.max_documents;
  for (size_t lo = 0; lo < documents.size(); lo += step) {
    auto hi = std::min(documents.size(), lo + step);
    std::vector<std::string_view> part(documents.begin() + lo,
                                       documents.begin() + hi);
    if (auto err = impl_->post(query, part, lo, out))
      return err;
  }
  return out;
}

} // namespace agentmem::domain
