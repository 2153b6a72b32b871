// domain::http_embedder against the real all-MiniLM-L6-v2 served in the
// OpenAI format by tests/embedding/server.py (one server per test case;
// its /stats are the server-side request counts).

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "domain/http_embedder.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/embedding_cache.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/embedding/embedding_server.hpp"

using namespace agentmem;
using agentmem::domain::http_embedder;
using agentmem::domain::http_embedder_config;
using agentmem::test::embedding_server;
using vecs = std::vector<std::vector<float>>;

namespace {

http_embedder_config config_for(const embedding_server& s) {
  http_embedder_config c;
  c.base_url = s.base_url();
  c.model = "all-MiniLM-L6-v2";
  c.dims = 384;
  c.backoff_base = std::chrono::milliseconds{20};
  c.backoff_max = std::chrono::milliseconds{200};
  return c;
}

std::shared_ptr<http_embedder> make(const http_embedder_config& c) {
  auto e = http_embedder::make(c);
  if (!e)
    throw std::runtime_error(describe(e.error()));
  return *e;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += static_cast<double>(a[i]) * b[i];
  return s;
}

std::string code_of(const caf::error& e) {
  return e ? to_string(static_cast<errc>(e.code())) : "none";
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_embedder_suite)

BOOST_AUTO_TEST_CASE(vectors_have_the_configured_dims_unit_norm_and_input_order) {
  embedding_server srv;
  auto emb = make(config_for(srv));
  BOOST_TEST(emb->dims() == 384u);
  BOOST_TEST(emb->model() == "all-MiniLM-L6-v2");
  std::vector<std::string_view> texts{"I adopted a cat named Milo.",
                                      "The quarterly report is due Friday.",
                                      "We hiked up the mountain at dawn."};
  vecs out;
  BOOST_REQUIRE_MESSAGE(!emb->embed(texts, out), "embed failed");
  BOOST_REQUIRE(out.size() == 3u);
  for (auto& v : out) {
    BOOST_TEST(v.size() == 384u);
    BOOST_TEST(std::abs(dot(v, v) - 1.0) < 1e-4);
  }
  // Each vector belongs to its own text: embedding one alone (fresh
  // provider, no cache) gives the same vector as its slot in the batch.
  auto solo = make(config_for(srv));
  for (size_t i = 0; i < texts.size(); ++i) {
    vecs one;
    BOOST_REQUIRE(!solo->embed({texts[i]}, one));
    BOOST_TEST(dot(one[0], out[i]) > 0.9999);
  }
}

BOOST_AUTO_TEST_CASE(paraphrases_are_closer_than_unrelated_text) {
  embedding_server srv;
  auto emb = make(config_for(srv));
  vecs v;
  BOOST_REQUIRE(!emb->embed({"The weather is lovely today.",
                             "It's so sunny outside!",
                             "He drove to the stadium.",
                             "How do I reset my password?",
                             "I forgot my login credentials and need a new "
                             "one."},
                            v));
  BOOST_TEST(dot(v[0], v[1]) > dot(v[0], v[2]) + 0.3);
  BOOST_TEST(dot(v[3], v[4]) > dot(v[3], v[0]) + 0.2);
  // The value published for this model and pair (sentence-transformers
  // README): 0.6660.
  BOOST_TEST(std::abs(dot(v[0], v[1]) - 0.6660) < 0.005);
}

BOOST_AUTO_TEST_CASE(misses_are_split_into_requests_of_at_most_max_batch) {
  embedding_server srv{{"--max-inputs", "4"}};
  auto cfg = config_for(srv);
  cfg.max_batch = 4;
  auto emb = make(cfg);
  std::vector<std::string> texts;
  for (int i = 0; i < 10; ++i)
    texts.push_back("distinct sentence number " + std::to_string(i));
  std::vector<std::string_view> views(texts.begin(), texts.end());
  vecs out;
  auto err = emb->embed(views, out);
  BOOST_REQUIRE_MESSAGE(!err, describe(err));
  BOOST_TEST(out.size() == 10u);
  auto st = srv.stats();
  BOOST_TEST(st["requests"].get<int>() == 3);
  auto sizes = st["batch_sizes"].get<std::vector<int>>();
  std::sort(sizes.begin(), sizes.end());
  BOOST_TEST(sizes == (std::vector<int>{2, 4, 4}), boost::test_tools::per_element());
  // The server really refuses larger requests: without splitting it fails.
  cfg.max_batch = 8;
  auto big = make(cfg);
  err = big->embed(views, out);
  BOOST_TEST(code_of(err) == "invalid_request");
}

BOOST_AUTO_TEST_CASE(identical_text_is_embedded_once) {
  embedding_server srv;
  auto emb = make(config_for(srv));
  auto& hits_metric = metrics::global().get_counter(
    "agentmem_embedding_cache_hits_total", "");
  auto hits_before = hits_metric.value();
  vecs first, second;
  BOOST_REQUIRE(!emb->embed({"alpha text", "beta text", "alpha text"}, first));
  auto st = srv.stats();
  BOOST_TEST(st["requests"].get<int>() == 1);
  BOOST_TEST(st["inputs"].get<int>() == 2); // the duplicate is sent once
  BOOST_TEST(dot(first[0], first[2]) > 0.9999);
  BOOST_REQUIRE(!emb->embed({"beta text", "alpha text"}, second));
  BOOST_TEST(srv.stats()["requests"].get<int>() == 1); // no new request
  BOOST_TEST(dot(second[0], first[1]) > 0.9999);
  BOOST_TEST(dot(second[1], first[0]) > 0.9999);
  auto s = emb->stats();
  BOOST_TEST(s.cache_hits == 2u);
  BOOST_TEST(s.cache_misses == 2u);
  BOOST_TEST(hits_metric.value() - hits_before == 2.0);
  BOOST_TEST(metrics::global().render().find(
               "agentmem_embedding_cache_hits_total")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_rocksdb_cache_level_survives_a_restart) {
  embedding_server srv;
  char tmpl[] = "/tmp/agentmem-embcache-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  vecs first, again;
  {
    auto store = storage::embedding_cache::open(dir + "/cache");
    BOOST_REQUIRE(store);
    auto cfg = config_for(srv);
    cfg.persistent = *store;
    auto emb = make(cfg);
    BOOST_REQUIRE(!emb->embed({"kept across restarts", "another one"}, first));
    BOOST_TEST(srv.stats()["requests"].get<int>() == 1);
  }
  {
    // A new process: empty LRU, the same RocksDB directory.
    auto store = storage::embedding_cache::open(dir + "/cache");
    BOOST_REQUIRE(store);
    auto cfg = config_for(srv);
    cfg.persistent = *store;
    auto emb = make(cfg);
    BOOST_REQUIRE(!emb->embed({"another one", "kept across restarts",
                               "a new text"},
                              again));
    auto st = srv.stats();
    BOOST_TEST(st["requests"].get<int>() == 2);
    BOOST_TEST(st["inputs"].get<int>() == 3); // only "a new text" was sent
    BOOST_TEST(emb->stats().cache_hits == 2u);
    BOOST_TEST(dot(again[0], first[1]) > 0.9999);
    BOOST_TEST(dot(again[1], first[0]) > 0.9999);
    BOOST_TEST(again[2].size() == 384u);
    // The same model under another name is another key: no false hits.
    cfg.model = "sentence-transformers/all-MiniLM-L6-v2";
    auto other = make(cfg);
    vecs v;
    BOOST_REQUIRE(!other->embed({"another one"}, v));
    BOOST_TEST(srv.stats()["requests"].get<int>() == 3);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

BOOST_AUTO_TEST_CASE(forgetting_the_cache_drops_both_levels_and_the_bytes_on_disk) {
  // User deletion drops the provider's caches (docs/data-governance.md):
  // no vector derived from a deleted user's text may stay on disk.
  embedding_server srv;
  agentmem::test::temp_dir dir;
  auto store = storage::embedding_cache::open((dir.path / "cache").string());
  BOOST_REQUIRE(store);
  auto cfg = config_for(srv);
  cfg.persistent = *store;
  auto emb = make(cfg);
  vecs first;
  BOOST_REQUIRE(!emb->embed({"a deleted user's words"}, first));
  std::string bytes(reinterpret_cast<const char*>(first[0].data()),
                    first[0].size() * sizeof(float));
  BOOST_REQUIRE(agentmem::test::dir_contains(dir.path / "cache", bytes));
  BOOST_REQUIRE(!emb->forget_cached());
  BOOST_TEST(!agentmem::test::dir_contains(dir.path / "cache", bytes));
  BOOST_TEST(emb->stats().cache_size == 0u);
  vecs again;
  BOOST_REQUIRE(!emb->embed({"a deleted user's words"}, again));
  BOOST_TEST(srv.stats()["requests"].get<int>() == 2); // neither level hit
  BOOST_TEST(dot(again[0], first[0]) > 0.9999);
}

BOOST_AUTO_TEST_CASE(the_cache_is_bounded_and_evicts_least_recently_used) {
  embedding_server srv;
  auto cfg = config_for(srv);
  cfg.cache_entries = 2;
  auto emb = make(cfg);
  vecs v;
  BOOST_REQUIRE(!emb->embed({"one"}, v));
  BOOST_REQUIRE(!emb->embed({"two"}, v));
  BOOST_REQUIRE(!emb->embed({"one"}, v)); // hit: "one" becomes most recent
  BOOST_REQUIRE(!emb->embed({"three"}, v)); // evicts "two"
  BOOST_TEST(emb->stats().cache_size == 2u);
  BOOST_TEST(srv.stats()["requests"].get<int>() == 3);
  BOOST_REQUIRE(!emb->embed({"one"}, v));
  BOOST_TEST(srv.stats()["requests"].get<int>() == 3);
  BOOST_REQUIRE(!emb->embed({"two"}, v));
  BOOST_TEST(srv.stats()["requests"].get<int>() == 4);
}

BOOST_AUTO_TEST_CASE(status_503_and_429_are_retried_with_backoff_until_success) {
  embedding_server srv;
  auto emb = make(config_for(srv));
  srv.control({{"fail_next", 2}, {"fail_status", 503}});
  vecs v;
  auto err = emb->embed({"retry me"}, v);
  BOOST_REQUIRE_MESSAGE(!err, describe(err));
  BOOST_TEST(v[0].size() == 384u);
  BOOST_TEST(srv.stats()["requests"].get<int>() == 3);
  BOOST_TEST(emb->stats().retries == 2u);
  BOOST_TEST(emb->stats().errors == 2u);
  srv.control({{"fail_next", 1}, {"fail_status", 429}});
  BOOST_REQUIRE(!emb->embed({"rate limited once"}, v));
  BOOST_TEST(srv.stats()["requests"].get<int>() == 5);
}

BOOST_AUTO_TEST_CASE(retries_stop_after_max_retries_with_an_error) {
  embedding_server srv;
  auto cfg = config_for(srv);
  cfg.max_retries = 2;
  auto emb = make(cfg);
  srv.control({{"fail_next", 10}, {"fail_status", 500}});
  vecs v;
  auto err = emb->embed({"never works"}, v);
  BOOST_TEST(code_of(err) == "io_error");
  BOOST_TEST(describe(err).find("HTTP 500") != std::string::npos);
  BOOST_TEST(srv.stats()["requests"].get<int>() == 3);
}

BOOST_AUTO_TEST_CASE(client_errors_are_not_retried) {
  embedding_server srv;
  auto cfg = config_for(srv);
  cfg.model = "no-such-model";
  auto emb = make(cfg);
  vecs v;
  auto err = emb->embed({"hello"}, v);
  BOOST_TEST(code_of(err) == "invalid_request");
  BOOST_TEST(describe(err).find("404") != std::string::npos);
  BOOST_TEST(srv.stats()["requests"].get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(a_server_that_is_down_then_comes_up_is_retried) {
  auto port = test::free_port();
  http_embedder_config cfg;
  cfg.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  cfg.model = "all-MiniLM-L6-v2";
  cfg.dims = 384;
  cfg.max_retries = 40; // up to ~75 s: the model loads slowly on a busy machine
  cfg.backoff_base = std::chrono::milliseconds{200};
  cfg.backoff_max = std::chrono::milliseconds{2000};
  auto emb = make(cfg);
  auto result = std::async(std::launch::async, [&] {
    vecs v;
    auto err = emb->embed({"eventually embedded"}, v);
    return std::make_pair(std::move(err), v.size());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  BOOST_TEST(emb->stats().errors >= 1u); // refused while down
  embedding_server srv{{}, port};
  auto [err, n] = result.get();
  BOOST_TEST(!err, describe(err));
  BOOST_TEST(n == 1u);
  BOOST_TEST(emb->stats().retries >= 1u);
}

BOOST_AUTO_TEST_CASE(a_connection_refused_after_all_retries_is_an_error) {
  auto port = test::free_port();
  http_embedder_config cfg;
  cfg.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  cfg.model = "m";
  cfg.dims = 8;
  cfg.max_retries = 2;
  cfg.backoff_base = std::chrono::milliseconds{10};
  auto emb = make(cfg);
  vecs v;
  auto err = emb->embed({"x"}, v);
  BOOST_TEST(code_of(err) == "io_error");
  BOOST_TEST(describe(err).find("after 3 tries") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_slow_reply_times_out) {
  embedding_server srv;
  auto cfg = config_for(srv);
  cfg.request_timeout = std::chrono::milliseconds{300};
  cfg.max_retries = 1;
  auto emb = make(cfg);
  srv.control({{"delay_ms", 3000}});
  vecs v;
  auto t0 = std::chrono::steady_clock::now();
  auto err = emb->embed({"slow"}, v);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  BOOST_TEST(code_of(err) == "timeout");
  BOOST_TEST(took < 2500);
  BOOST_TEST(srv.stats()["requests"].get<int>() == 2); // retried once
}

BOOST_AUTO_TEST_CASE(requests_in_flight_never_exceed_the_limit) {
  embedding_server srv;
  auto cfg = config_for(srv);
  cfg.max_batch = 1;
  cfg.max_in_flight = 2;
  auto emb = make(cfg);
  srv.control({{"delay_ms", 150}});
  // Three callers at once, four distinct texts each: 12 requests.
  std::vector<std::future<caf::error>> callers;
  for (int c = 0; c < 3; ++c)
    callers.push_back(std::async(std::launch::async, [&, c] {
      std::vector<std::string> t;
      for (int i = 0; i < 4; ++i)
        t.push_back("caller " + std::to_string(c) + " text "
                    + std::to_string(i));
      std::vector<std::string_view> views(t.begin(), t.end());
      vecs v;
      return emb->embed(views, v);
    }));
  for (auto& f : callers)
    BOOST_TEST(!f.get());
  auto st = srv.stats();
  BOOST_TEST(st["requests"].get<int>() == 12);
  BOOST_TEST(st["max_concurrent"].get<int>() == 2); // parallel, but bounded
}

BOOST_AUTO_TEST_CASE(the_api_key_is_sent_as_bearer_and_never_shown_in_errors) {
  embedding_server srv{{"--api-key", "sk-test-4242"}};
  auto cfg = config_for(srv);
  cfg.api_key = "sk-test-4242";
  auto emb = make(cfg);
  vecs v;
  BOOST_REQUIRE(!emb->embed({"with key"}, v));
  auto st = srv.stats();
  BOOST_TEST(st["auth_headers"][0].get<std::string>() == "Bearer sk-test-4242");
  // A wrong key: 401, not retried, and the server's echo of the key is
  // scrubbed from the error text.
  cfg.api_key = "sk-wrong-7777";
  auto wrong = make(cfg);
  auto err = wrong->embed({"bad key"}, v);
  BOOST_TEST(code_of(err) == "invalid_request");
  auto text = describe(err);
  BOOST_TEST(text.find("401") != std::string::npos);
  BOOST_TEST(text.find("sk-wrong-7777") == std::string::npos);
  BOOST_TEST(text.find("[redacted]") != std::string::npos);
  BOOST_TEST(srv.stats()["requests"].get<int>() == 2);
}

BOOST_AUTO_TEST_CASE(a_reply_of_other_dims_is_an_error) {
  embedding_server srv;
  auto cfg = config_for(srv);
  cfg.dims = 256;
  auto emb = make(cfg);
  vecs v;
  auto err = emb->embed({"x"}, v);
  BOOST_TEST(code_of(err) == "io_error");
  BOOST_TEST(describe(err).find("returned 384 dims") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_settings_are_rejected) {
  http_embedder_config c;
  c.model = "m";
  c.dims = 8;
  c.base_url = "ftp://x";
  BOOST_TEST(!http_embedder::make(c));
  c.base_url = "http://";
  BOOST_TEST(!http_embedder::make(c));
  c.base_url = "http://127.0.0.1:1/v1";
  c.model = "";
  BOOST_TEST(!http_embedder::make(c));
  c.model = "m";
  c.max_batch = 0;
  BOOST_TEST(!http_embedder::make(c));
  c.max_batch = 8;
  BOOST_TEST(!!http_embedder::make(c));
  c.base_url = "https://127.0.0.1:1/v1"; // https: OpenSSL support built in
  BOOST_TEST(!!http_embedder::make(c));
}

BOOST_AUTO_TEST_SUITE_END()
