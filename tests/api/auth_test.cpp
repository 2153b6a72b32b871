// Authentication, tenant isolation, rate limiting and response limits of the
// HTTP API (api/auth.hpp, api/rate_limiter.hpp, api/server.cpp's access
// policy), against a real http_server on an ephemeral port.
#include "api/auth.hpp"
#include "api/rate_limiter.hpp"
#include "api/server.hpp"

#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "messages/errc.hpp"

using nlohmann::json;
using namespace agentmem;

namespace {

/// api::backend that counts calls and returns one canned item per call;
/// `text_bytes` sets the size of each item's text.
class counting_backend : public api::backend {
public:
  std::atomic<int> calls{0};
  size_t items = 3;
  size_t text_bytes = 10;

  caf::expected<std::vector<api::search_hit>>
  search(const api::search_request& req) override {
    ++calls;
    std::vector<api::search_hit> out;
    for (size_t i = 0; i < items; ++i) {
      api::search_hit h;
      h.memory_id = "m" + std::to_string(i);
      h.memory_type = "episodic";
      h.text = std::string(text_bytes, 'x');
      h.user_id = req.user_id;
      out.push_back(h);
    }
    return out;
  }
  caf::expected<std::vector<api::buffered_message>>
  session_messages(const std::string&, const std::string&, int) override {
    ++calls;
    std::vector<api::buffered_message> out;
    for (size_t i = 0; i < items; ++i)
      out.push_back({"e" + std::to_string(i), 1000 * int64_t(i), "user", "",
                     std::string(text_bytes, 'y')});
    return out;
  }
  caf::expected<std::vector<api::usage_row>>
  usage(const std::string&, const std::string&, const std::string&) override {
    ++calls;
    return std::vector<api::usage_row>{};
  }
  caf::expected<std::vector<api::memory_version>>
  memory_history(const std::string&, const std::string&) override {
    ++calls;
    return std::vector<api::memory_version>{};
  }
  caf::expected<api::working_memory_view>
  working_memory(const std::string&, const std::string&) override {
    ++calls;
    return api::working_memory_view{};
  }
  caf::expected<std::vector<api::fact_row>>
  facts(const api::fact_query&) override {
    ++calls;
    return std::vector<api::fact_row>{};
  }
  caf::expected<std::vector<api::entity_row>>
  entities(const std::string&, const std::string&, int) override {
    ++calls;
    return std::vector<api::entity_row>{};
  }
  caf::expected<api::entity_neighbors>
  neighbors(const std::string&, const std::string&, int) override {
    ++calls;
    return api::entity_neighbors{};
  }
  caf::expected<api::deletion_report>
  delete_user(const std::string& user_id) override {
    ++calls;
    api::deletion_report r;
    r.user_id = user_id;
    return r;
  }
  caf::expected<api::export_stream>
  open_export(const std::string&) override {
    ++calls;
    return api::export_stream{[](const api::line_writer& w) -> caf::error {
      w("{\"end\":true,\"lines\":0}\n");
      return caf::none;
    }};
  }
  std::string not_ready_reason() override {
    return {};
  }
};

const std::string admin_tok = "am_admin-token-0123456789";
const std::string alice_tok = "am_alice-token-0123456789";
const std::string acme_tok = "am_acme-tenant-token-0123";

std::vector<api::token_entry> test_tokens() {
  auto text = api::token_line(admin_tok, "admin", "ops") + "\n"
              + api::token_line(alice_tok, "users=alice,alice2", "alice")
              + "\n# a comment\n\n"
              + api::token_line(acme_tok, "prefix=acme-", "acme");
  auto t = api::parse_token_lines(text, "test");
  if (!t)
    throw std::runtime_error(describe(t.error()));
  return *t;
}

api::server_config config() {
  api::server_config cfg;
  cfg.port = 0;
  cfg.threads = 2;
  cfg.auth.tokens = test_tokens();
  return cfg;
}

/// One request per /v1 route, with "{user}" where the user_id goes. Every
/// route that carries a user_id belongs here: the tenant tests iterate over
/// this list (append new routes).
struct route_case {
  std::string method;
  std::string target;
  std::string body;
};

const std::vector<route_case> user_routes = {
  {"POST", "/v1/memories/search", R"({"user_id":"{user}","query":"q"})"},
  {"GET", "/v1/sessions/s1/messages?user_id={user}", ""},
  {"GET", "/v1/users/{user}/usage?from=2023-05-01&to=2023-05-02", ""},
  {"GET", "/v1/memories/m1/history?user_id={user}", ""},
  {"GET", "/v1/sessions/s1/working-memory?user_id={user}", ""},
  {"GET", "/v1/users/{user}/facts", ""},
  {"GET", "/v1/users/{user}/entities", ""},
  {"GET", "/v1/users/{user}/entities/e1/neighbors", ""},
  {"DELETE", "/v1/users/{user}", ""},
  {"GET", "/v1/users/{user}/export", ""},
};

std::string subst(std::string s, const std::string& user) {
  for (size_t p; (p = s.find("{user}")) != std::string::npos;)
    s.replace(p, 6, user);
  return s;
}

httplib::Result send(httplib::Client& c, const route_case& rc,
                     const std::string& user, const std::string& token) {
  httplib::Headers h;
  if (!token.empty())
    h.emplace("Authorization", "Bearer " + token);
  auto target = subst(rc.target, user);
  if (rc.method == "POST")
    return c.Post(target, h, subst(rc.body, user), "application/json");
  if (rc.method == "DELETE")
    return c.Delete(target, h);
  return c.Get(target, h);
}

struct fixture {
  counting_backend be;
  metrics::registry reg;
  std::unique_ptr<api::http_server> srv;
  uint16_t port = 0;

  void start(api::server_config cfg = config()) {
    srv = std::make_unique<api::http_server>(std::move(cfg), be, reg);
    auto p = srv->start();
    if (!p)
      throw std::runtime_error(describe(p.error()));
    port = *p;
  }
  httplib::Client client() {
    httplib::Client c{"127.0.0.1", port};
    c.set_read_timeout(10);
    return c;
  }
  std::string error_of(const httplib::Result& r) {
    return json::parse(r->body).at("error").get<std::string>();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(auth)

BOOST_AUTO_TEST_CASE(token_lines_give_scopes_and_names) {
  auto t = test_tokens();
  BOOST_TEST_REQUIRE(t.size() == 3u);
  BOOST_TEST(t[0].name == "ops");
  BOOST_TEST(t[0].is_admin());
  BOOST_TEST(t[0].allows("anyone"));
  BOOST_TEST(t[1].allows("alice"));
  BOOST_TEST(t[1].allows("alice2"));
  BOOST_TEST(!t[1].allows("alic"));
  BOOST_TEST(!t[1].allows("bob"));
  BOOST_TEST(!t[1].is_admin());
  BOOST_TEST(t[2].allows("acme-1"));
  BOOST_TEST(!t[2].allows("acme"));
  BOOST_TEST(!t[2].allows("ACME-1"));
  BOOST_TEST(api::to_hex(t[1].hash) == api::to_hex(api::sha256(alice_tok)));
  // Without name= the label is a hash prefix, never the token.
  auto u = api::parse_token_lines(api::token_line("secret-x", "admin", ""), "t");
  BOOST_TEST_REQUIRE(static_cast<bool>(u));
  BOOST_TEST((*u)[0].name == "sha256:" + api::to_hex(api::sha256("secret-x")).substr(0, 8));
  // ';' separates lines (one-line environment variables).
  auto v = api::parse_token_lines(api::token_line("a", "admin", "a") + ";"
                                    + api::token_line("b", "users=x", "b"),
                                  "env");
  BOOST_TEST_REQUIRE(static_cast<bool>(v));
  BOOST_TEST(v->size() == 2u);
}

BOOST_AUTO_TEST_CASE(bad_token_lines_are_config_errors_without_secrets) {
  auto hex = api::to_hex(api::sha256("x"));
  for (std::string line :
       {std::string{"plain-token admin"}, "sha256:" + hex.substr(1) + " admin",
        "sha256:" + std::string(64, 'g') + " admin", "sha256:" + hex,
        "sha256:" + hex + " root", "sha256:" + hex + " users=",
        "sha256:" + hex + " prefix=", "sha256:" + hex + " admin users=a",
        "sha256:" + hex + " admin name=bad/name",
        "sha256:" + hex + " admin\nsha256:" + hex + " users=a",
        api::token_line("a", "admin", "n") + "\n"
          + api::token_line("b", "admin", "n")}) {
    BOOST_TEST_CONTEXT(line) {
      auto r = api::parse_token_lines(line, "tokens file f");
      BOOST_TEST_REQUIRE(!r);
      BOOST_TEST(r.error().code() == static_cast<uint8_t>(errc::invalid_config));
      auto msg = describe(r.error());
      BOOST_TEST(msg.find("tokens file f line") != std::string::npos, msg);
      BOOST_TEST(msg.find(hex) == std::string::npos, msg);
      BOOST_TEST(msg.find("plain-token") == std::string::npos, msg);
    }
  }
}

BOOST_AUTO_TEST_CASE(authenticator_accepts_exactly_the_configured_tokens) {
  api::authenticator a{test_tokens()};
  BOOST_TEST(a.authenticate(admin_tok)->name == "ops");
  BOOST_TEST(a.authenticate(alice_tok)->name == "alice");
  BOOST_TEST(a.authenticate(acme_tok)->name == "acme");
  BOOST_TEST(a.authenticate("") == nullptr);
  BOOST_TEST(a.authenticate(admin_tok + "x") == nullptr);
  BOOST_TEST(a.authenticate(admin_tok.substr(1)) == nullptr);
  // The hash itself is not a token.
  BOOST_TEST(a.authenticate(api::to_hex(api::sha256(admin_tok))) == nullptr);
}

BOOST_AUTO_TEST_CASE(bearer_header_parsing) {
  BOOST_TEST(api::bearer_token("Bearer abc") == "abc");
  BOOST_TEST(api::bearer_token("bearer  abc ") == "abc");
  BOOST_TEST(api::bearer_token("BEARER abc") == "abc");
  BOOST_TEST(api::bearer_token("Basic abc").empty());
  BOOST_TEST(api::bearer_token("Bearer").empty());
  BOOST_TEST(api::bearer_token("Bearer ").empty());
  BOOST_TEST(api::bearer_token("Bearer a b").empty());
  BOOST_TEST(api::bearer_token("Bearerabc").empty());
}

BOOST_AUTO_TEST_CASE(new_tokens_are_random_url_safe_and_256_bit) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = api::new_token();
    BOOST_TEST_REQUIRE(static_cast<bool>(t));
    BOOST_TEST(t->size() == 3u + 43u); // "am_" + base64url(32 bytes)
    BOOST_TEST(t->rfind("am_", 0) == 0u);
    BOOST_TEST(t->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                    "QRSTUVWXYZ0123456789-_",
                                    3)
               == std::string::npos);
    seen.insert(*t);
  }
  BOOST_TEST(seen.size() == 100u);
}

BOOST_AUTO_TEST_CASE(token_bucket_allows_the_burst_then_refills_at_the_rate) {
  api::rate_limiter lim{2.0, 3.0};
  auto t0 = api::rate_limiter::clock::now();
  BOOST_TEST(lim.acquire("a", t0) == 0);
  BOOST_TEST(lim.acquire("a", t0) == 0);
  BOOST_TEST(lim.acquire("a", t0) == 0);
  BOOST_TEST(lim.acquire("a", t0) == 1); // empty: 0.5 s to the next one
  BOOST_TEST(lim.acquire("b", t0) == 0); // buckets are per key
  BOOST_TEST(lim.acquire("a", t0 + std::chrono::milliseconds(500)) == 0);
  BOOST_TEST(lim.acquire("a", t0 + std::chrono::milliseconds(500)) == 1);
  // Never more than the burst, however long the pause.
  auto later = t0 + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(lim.acquire("a", later) == 0);
  BOOST_TEST(lim.acquire("a", later) == 1);
  api::rate_limiter slow{0.1, 1.0};
  BOOST_TEST(slow.acquire("a", t0) == 0);
  BOOST_TEST(slow.acquire("a", t0) == 10);
  api::rate_limiter off{0, 0};
  for (int i = 0; i < 1000; ++i)
    BOOST_TEST_REQUIRE(off.acquire("a", t0) == 0);
}

BOOST_FIXTURE_TEST_CASE(every_v1_route_needs_a_valid_bearer_token, fixture) {
  start();
  auto c = client();
  for (auto& rc : user_routes) {
    BOOST_TEST_CONTEXT(rc.method << " " << rc.target) {
      auto r = send(c, rc, "alice", "");
      BOOST_TEST_REQUIRE(static_cast<bool>(r));
      BOOST_TEST(r->status == 401);
      BOOST_TEST(error_of(r) == "unauthorized");
      BOOST_TEST(r->get_header_value("WWW-Authenticate").rfind("Bearer", 0)
                 == 0u);
      r = send(c, rc, "alice", "not-a-token");
      BOOST_TEST_REQUIRE(static_cast<bool>(r));
      BOOST_TEST(r->status == 401);
      BOOST_TEST(r->get_header_value("WWW-Authenticate").find("invalid_token")
                 != std::string::npos);
      // A configured token's hash is not a token.
      r = send(c, rc, "alice", api::to_hex(api::sha256(admin_tok)));
      BOOST_TEST_REQUIRE(static_cast<bool>(r));
      BOOST_TEST(r->status == 401);
    }
  }
  // Two Authorization headers are refused, even if one is valid.
  httplib::Headers two{{"Authorization", "Bearer " + admin_tok},
                       {"Authorization", "Bearer x"}};
  auto r = c.Get("/v1/users/alice/usage?from=2023-05-01&to=2023-05-01", two);
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 401);
  BOOST_TEST(be.calls.load() == 0);
  // Ops endpoints stay open.
  BOOST_TEST(c.Get("/healthz")->status == 200);
  BOOST_TEST(c.Get("/readyz")->status == 200);
  BOOST_TEST(c.Get("/metrics")->status == 200);
}

BOOST_FIXTURE_TEST_CASE(a_wrong_tenant_gets_403_on_every_route, fixture) {
  start();
  auto c = client();
  for (auto& rc : user_routes) {
    BOOST_TEST_CONTEXT(rc.method << " " << rc.target) {
      for (auto [token, user] :
           {std::pair{alice_tok, std::string{"bob"}},
            std::pair{alice_tok, std::string{"acme-1"}},
            std::pair{alice_tok, std::string{"alice%20"}},
            std::pair{acme_tok, std::string{"alice"}},
            std::pair{acme_tok, std::string{"acm"}},
            std::pair{acme_tok, std::string{"xacme-1"}}}) {
        BOOST_TEST_CONTEXT("user " << user) {
          int before = be.calls.load();
          auto r = send(c, rc, user, token);
          BOOST_TEST_REQUIRE(static_cast<bool>(r));
          BOOST_TEST(r->status == 403, r->body);
          BOOST_TEST(error_of(r) == "forbidden");
          BOOST_TEST(be.calls.load() == before); // never reached the backend
        }
      }
      for (auto [token, user] : {std::pair{alice_tok, std::string{"alice"}},
                                 std::pair{alice_tok, std::string{"alice2"}},
                                 std::pair{acme_tok, std::string{"acme-42"}},
                                 std::pair{admin_tok, std::string{"bob"}}}) {
        BOOST_TEST_CONTEXT("user " << user) {
          auto r = send(c, rc, user, token);
          BOOST_TEST_REQUIRE(static_cast<bool>(r));
          BOOST_TEST(r->status == 200, r->body);
        }
      }
    }
  }
  auto m = reg.render();
  BOOST_TEST(m.find(R"(agentmem_http_rejected_total{reason="forbidden",token="alice"})")
             != std::string::npos);
  BOOST_TEST(m.find(R"(agentmem_http_authenticated_requests_total{token="acme"})")
             != std::string::npos);
  for (auto& t : {admin_tok, alice_tok, acme_tok})
    BOOST_TEST(m.find(t) == std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(ambiguous_user_ids_are_rejected_not_guessed, fixture) {
  start();
  auto c = client();
  httplib::Headers h{{"Authorization", "Bearer " + alice_tok}};
  // Duplicate keys: the check and the handler must not see different users.
  auto r = c.Post("/v1/memories/search", h,
                  R"({"user_id":"alice","user_id":"bob","query":"q"})",
                  "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 400, r->body);
  r = c.Get("/v1/sessions/s1/messages?user_id=alice&user_id=bob", h);
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 400, r->body);
  r = c.Get("/v1/sessions/s1/messages?user_id=bob&user_id=alice", h);
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 400, r->body);
  // Missing or non-string user_id: 400 before the backend.
  r = c.Post("/v1/memories/search", h, R"({"query":"q"})", "application/json");
  BOOST_TEST(r->status == 400);
  r = c.Post("/v1/memories/search", h, R"({"user_id":["alice"],"query":"q"})",
             "application/json");
  BOOST_TEST(r->status == 400);
  r = c.Post("/v1/memories/search", h, R"({"filter":{"user_id":"alice"},"query":"q"})",
             "application/json");
  BOOST_TEST(r->status == 400);
  r = c.Get("/v1/sessions/s1/messages", h);
  BOOST_TEST(r->status == 400);
  // Encoded and raw forms of the same id are the same user.
  r = c.Get("/v1/users/%61lice/usage?from=2023-05-01&to=2023-05-01", h);
  BOOST_TEST(r->status == 200, r->body);
  r = c.Get("/v1/users/alice%00/usage?from=2023-05-01&to=2023-05-01", h);
  BOOST_TEST(r->status == 400, r->body);
  BOOST_TEST(be.calls.load() == 1);
}

BOOST_FIXTURE_TEST_CASE(over_the_rate_limit_gets_429_with_retry_after,
                        fixture) {
  auto cfg = config();
  cfg.rate_limit_per_s = 0.2; // one request per 5 s after the burst
  cfg.rate_limit_burst = 3;
  start(cfg);
  auto c = client();
  httplib::Headers alice{{"Authorization", "Bearer " + alice_tok}};
  httplib::Headers acme{{"Authorization", "Bearer " + acme_tok}};
  const std::string t = "/v1/users/alice/usage?from=2023-05-01&to=2023-05-01";
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(c.Get(t, alice)->status == 200);
  auto r = c.Get(t, alice);
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 429);
  BOOST_TEST(error_of(r) == "rate_limited");
  auto retry = std::stoi(r->get_header_value("Retry-After"));
  BOOST_TEST(retry >= 1);
  BOOST_TEST(retry <= 5);
  // Another token has its own bucket; ops endpoints are not limited.
  BOOST_TEST(c.Get("/v1/users/acme-1/usage?from=2023-05-01&to=2023-05-01", acme)
               ->status
             == 200);
  for (int i = 0; i < 10; ++i)
    BOOST_TEST(c.Get("/healthz")->status == 200);
  auto m = reg.render();
  BOOST_TEST(m.find(R"(agentmem_http_rejected_total{reason="rate_limited",token="alice"} 1)")
             != std::string::npos, m);
  BOOST_TEST(m.find(alice_tok) == std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_separate_ops_listener_splits_the_endpoints, fixture) {
  auto cfg = config();
  cfg.ops_listener = true;
  cfg.ops_port = 0;
  start(cfg);
  auto ops_port = srv->ops_port();
  BOOST_TEST_REQUIRE(ops_port != 0);
  BOOST_TEST(ops_port != port);
  auto main = client();
  httplib::Client ops{"127.0.0.1", ops_port};
  httplib::Headers h{{"Authorization", "Bearer " + admin_tok}};
  for (auto* p : {"/healthz", "/readyz", "/metrics"}) {
    BOOST_TEST_CONTEXT(p) {
      BOOST_TEST(ops.Get(p)->status == 200);
      BOOST_TEST(main.Get(p)->status == 404);
      BOOST_TEST(main.Get(p, h)->status == 404);
    }
  }
  const std::string t = "/v1/users/bob/usage?from=2023-05-01&to=2023-05-01";
  BOOST_TEST(main.Get(t, h)->status == 200);
  BOOST_TEST(ops.Get(t, h)->status == 404);
  srv->stop();
  BOOST_TEST(srv->ops_port() == 0);
}

BOOST_FIXTURE_TEST_CASE(disabled_auth_serves_everyone_and_says_so, fixture) {
  auto cfg = config();
  cfg.auth.disabled = true;
  cfg.auth.tokens.clear();
  start(cfg);
  auto c = client();
  for (auto& rc : user_routes) {
    auto r = send(c, rc, "anyone", "");
    BOOST_TEST_REQUIRE(static_cast<bool>(r));
    BOOST_TEST(r->status == 200, rc.target << ": " << r->body);
  }
  BOOST_TEST(reg.render().find(R"(token="anonymous")") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(no_tokens_means_every_v1_request_is_refused, fixture) {
  auto cfg = config();
  cfg.auth.tokens.clear();
  start(cfg);
  auto c = client();
  for (auto& rc : user_routes)
    BOOST_TEST(send(c, rc, "alice", admin_tok)->status == 401);
  BOOST_TEST(be.calls.load() == 0);
}

BOOST_FIXTURE_TEST_CASE(large_results_are_cut_at_max_response_bytes, fixture) {
  auto cfg = config();
  cfg.max_response_bytes = 64 * 1024;
  be.items = 50;
  be.text_bytes = 4000; // 50 x 4 kB > 64 kB
  start(cfg);
  auto c = client();
  httplib::Headers h{{"Authorization", "Bearer " + admin_tok}};
  auto r = c.Post("/v1/memories/search", h,
                  R"({"user_id":"u","query":"q","top_k":50})",
                  "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->body.size() <= cfg.max_response_bytes + 256);
  auto j = json::parse(r->body);
  BOOST_TEST(j.at("truncated") == true);
  BOOST_TEST(j.at("results").size() > 5u);
  BOOST_TEST(j.at("results").size() < 50u);
  BOOST_TEST(j.at("results")[0].at("memory_id") == "m0"); // best hits kept
  r = c.Get("/v1/sessions/s/messages?user_id=u&limit=50", h);
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->body.size() <= cfg.max_response_bytes + 256);
  j = json::parse(r->body);
  BOOST_TEST(j.at("truncated") == true);
  BOOST_TEST(j.at("messages").size() < 50u);
  BOOST_TEST(j.at("messages").back().at("event_id") == "e49"); // newest kept
  // Small results carry no "truncated".
  be.items = 2;
  r = c.Post("/v1/memories/search", h, R"({"user_id":"u","query":"q"})",
             "application/json");
  BOOST_TEST(!json::parse(r->body).contains("truncated"));
}

BOOST_AUTO_TEST_SUITE_END()
