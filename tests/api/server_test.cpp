#include "api/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "messages/errc.hpp"

using nlohmann::json;
using namespace agentmem;

namespace {

// 2023-05-08T13:56:00Z
constexpr int64_t may8 = 1'683'554'160'000;

/// What the fake backend does on its next calls.
enum class mode { ok, invalid, not_found, down, throws, throws_int };

/// api::backend with canned data; records what it was asked.
class fake_backend : public api::backend {
public:
  std::atomic<mode> behaviour{mode::ok};
  std::atomic<bool> readiness_throws{false};

  caf::expected<std::vector<api::search_hit>>
  search(const api::search_request& req) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      last_search_ = req;
    }
    if (auto err = fail())
      return err;
    std::vector<api::search_hit> hits;
    for (int i = 0; i < 3; ++i) {
      api::search_hit h;
      h.memory_id = "m" + std::to_string(i);
      h.score = 0.9 - i * 0.1;
      h.memory_type = "episodic";
      h.text = "text " + std::to_string(i);
      h.user_id = req.user_id;
      h.session_id = "s1";
      h.event_id = "e" + std::to_string(i);
      h.ts_ms = may8 + i;
      h.metadata_json = i == 0   ? R"({"source":"chat","n":[1,2]})"
                        : i == 1 ? ""
                                 : "{not json";
      if (req.neighbors > 0 && i == 0) {
        h.context_before.push_back({"m-1", "e-1", may8 - 60'000, "before"});
        h.context_after.push_back({"m+1", "e+1", may8 + 60'000, "after"});
      }
      hits.push_back(std::move(h));
    }
    return hits;
  }

  caf::expected<std::vector<api::buffered_message>>
  session_messages(const std::string& user_id, const std::string& session_id,
                   int limit) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      last_user_ = user_id;
      last_session_ = session_id;
      last_limit_ = limit;
    }
    if (auto err = fail())
      return err;
    std::vector<api::buffered_message> out;
    for (int i = 0; i < 2; ++i)
      out.push_back({"e" + std::to_string(i), may8 + 1000 * i,
                     i == 0 ? "user" : "assistant", i == 0 ? "" : "planner",
                     "message " + std::to_string(i)});
    return out;
  }

  caf::expected<std::vector<api::usage_row>>
  usage(const std::string& user_id, const std::string& from_day,
        const std::string& to_day) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      last_user_ = user_id;
      last_from_ = from_day;
      last_to_ = to_day;
    }
    if (auto err = fail())
      return err;
    return std::vector<api::usage_row>{
      {"2023-05-08", "chat", 12, 1, 3400, 900, 2},
      {"2023-05-09", "coder", 3, 0, 120, 50, 0}};
  }

  // Facts and graph memory: tests/api/knowledge_routes_test.cpp.
  caf::expected<std::vector<api::fact_row>>
  facts(const api::fact_query&) override {
    return make_error(errc::not_found, "not served by this fake");
  }
  caf::expected<std::vector<api::entity_row>>
  entities(const std::string&, const std::string&, int) override {
    return make_error(errc::not_found, "not served by this fake");
  }
  caf::expected<api::entity_neighbors>
  neighbors(const std::string&, const std::string&, int) override {
    return make_error(errc::not_found, "not served by this fake");
  }

  std::string not_ready_reason() override {
    if (readiness_throws)
      throw std::runtime_error("health probe exploded");
    std::lock_guard<std::mutex> guard{mtx_};
    return not_ready_;
  }

  void set_not_ready(std::string reason) {
    std::lock_guard<std::mutex> guard{mtx_};
    not_ready_ = std::move(reason);
  }
  api::search_request last_search() {
    std::lock_guard<std::mutex> guard{mtx_};
    return last_search_;
  }
  std::string last_user() {
    std::lock_guard<std::mutex> guard{mtx_};
    return last_user_;
  }
  std::string last_session() {
    std::lock_guard<std::mutex> guard{mtx_};
    return last_session_;
  }
  int last_limit() {
    std::lock_guard<std::mutex> guard{mtx_};
    return last_limit_;
  }
  std::pair<std::string, std::string> last_range() {
    std::lock_guard<std::mutex> guard{mtx_};
    return {last_from_, last_to_};
  }

private:
  caf::error fail() {
    switch (behaviour.load()) {
      case mode::invalid:
        return make_error(errc::invalid_request, "session is archived");
      case mode::not_found:
        return make_error(errc::not_found, "no such session");
      case mode::down:
        return make_error(errc::postgres_error, "connection refused");
      case mode::throws:
        throw std::runtime_error("backend exploded");
      case mode::throws_int:
        throw 42;
      default:
        return {};
    }
  }

  std::mutex mtx_;
  api::search_request last_search_;
  std::string last_user_, last_session_, last_from_, last_to_;
  int last_limit_ = 0;
  std::string not_ready_;
};

constexpr size_t test_body_limit = 64 * 1024;

/// The admin token every client of these tests sends.
const std::string admin_token = "am_test-admin-token";
const std::string auth_line = "Authorization: Bearer " + admin_token + "\r\n";

api::server_config test_config() {
  api::server_config cfg;
  cfg.port = 0;
  cfg.max_body_bytes = test_body_limit;
  cfg.threads = 4;
  auto tokens =
    api::parse_token_lines(api::token_line(admin_token, "admin", "tests"),
                           "test");
  if (!tokens)
    throw std::runtime_error(describe(tokens.error()));
  cfg.auth.tokens = *tokens;
  return cfg;
}

uint16_t start_or_fail(api::http_server& srv) {
  auto port = srv.start();
  if (!port)
    throw std::runtime_error("server did not start: "
                             + describe(port.error()));
  return *port;
}

/// A started server on an ephemeral port plus a client for it.
struct server_fixture {
  fake_backend be;
  metrics::registry reg;
  api::http_server srv{test_config(), be, reg};
  uint16_t port = start_or_fail(srv);
  httplib::Client cli{"127.0.0.1", port};

  server_fixture() {
    cli.set_bearer_token_auth(admin_token);
    cli.set_connection_timeout(5);
    cli.set_read_timeout(10);
  }

  /// Waits (briefly) until the rendered registry contains `needle`: the
  /// request counter is bumped after the response is on the wire.
  bool metric_appears(const std::string& needle) {
    for (int i = 0; i < 200; ++i) {
      if (reg.render().find(needle) != std::string::npos)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

json body_of(const httplib::Result& r) {
  return json::parse(r->body);
}

// Asserts a JSON error response: status, content type and error code.
void expect_error(const httplib::Result& r, int status, const char* code,
                  const std::string& detail_part = {}) {
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == status);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  auto j = body_of(r);
  BOOST_TEST(j.at("error").get<std::string>() == code);
  BOOST_TEST(j.at("detail").is_string());
  if (!detail_part.empty())
    BOOST_TEST(j.at("detail").get<std::string>().find(detail_part)
                 != std::string::npos,
               "detail '" << j.at("detail") << "' lacks '" << detail_part
                          << "'");
}

/// Sends raw bytes on a fresh connection and returns the first response
/// (head and Content-Length body), or what arrived before the server closed
/// or 5 s passed. The write side stays open: httplib drops half-closed
/// connections without answering.
std::string raw_exchange(uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
                == 0);
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    auto head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t length = 0;
      auto cl = out.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end)
        length = std::stoul(out.substr(cl + 16));
      if (out.size() >= head_end + 4 + length)
        break;
    }
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

const std::string good_search =
  R"({"user_id":"u1","query":"where did I park","top_k":2,
      "filter":{"memory_types":["episodic"],"session_id":"s1",
                "since":"2023-05-01T00:00:00Z","until":1683554160000}})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(http_server, server_fixture)

BOOST_AUTO_TEST_CASE(healthz_answers_ok) {
  auto r = cli.Get("/healthz");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  BOOST_TEST(body_of(r) == json({{"status", "ok"}}));
}

BOOST_AUTO_TEST_CASE(readyz_reports_the_backend_readiness) {
  auto r = cli.Get("/readyz");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(body_of(r) == json({{"status", "ready"}}));
  be.set_not_ready("kafka consumer not assigned");
  r = cli.Get("/readyz");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 503);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  BOOST_TEST(body_of(r)
             == json({{"status", "not_ready"},
                      {"reason", "kafka consumer not assigned"}}));
  be.readiness_throws = true;
  r = cli.Get("/readyz");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 503);
  BOOST_TEST(body_of(r).at("status") == "not_ready");
}

BOOST_AUTO_TEST_CASE(search_returns_hits_in_the_documented_shape) {
  auto r = cli.Post("/v1/memories/search", good_search, "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  auto j = body_of(r);
  BOOST_TEST(j.at("took_ms").is_number_integer());
  BOOST_TEST(j.at("took_ms").get<int64_t>() >= 0);
  auto& results = j.at("results");
  // The backend sent 3; top_k is 2.
  BOOST_TEST_REQUIRE(results.size() == 2u);
  auto& hit = results[0];
  BOOST_TEST(hit.size() == 13u);
  BOOST_TEST(hit.at("importance").is_number());
  BOOST_TEST(hit.at("project_id").is_null()); // absent scope: null
  BOOST_TEST(hit.at("agent_type").is_null());
  BOOST_TEST(hit.at("memory_id") == "m0");
  BOOST_TEST(hit.at("score").get<double>() == 0.9);
  BOOST_TEST(hit.at("memory_type") == "episodic");
  BOOST_TEST(hit.at("text") == "text 0");
  BOOST_TEST(hit.at("user_id") == "u1");
  BOOST_TEST(hit.at("session_id") == "s1");
  BOOST_TEST(hit.at("event_id") == "e0");
  BOOST_TEST(hit.at("ts") == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(hit.at("metadata") == json::parse(R"({"source":"chat","n":[1,2]})"));
  BOOST_TEST(results[1].at("ts") == "2023-05-08T13:56:00.001Z");
  BOOST_TEST(results[1].at("metadata") == json::object()); // empty metadata
  auto seen = be.last_search();
  BOOST_TEST(seen.user_id == "u1");
  BOOST_TEST(seen.query == "where did I park");
  BOOST_TEST(seen.top_k == 2);
  BOOST_TEST(seen.filter.memory_types == std::vector<std::string>{"episodic"});
  BOOST_TEST(seen.filter.session_id == "s1");
  BOOST_TEST(*seen.filter.since_ms == 1682899200000);
  BOOST_TEST(*seen.filter.until_ms == may8);
}

BOOST_AUTO_TEST_CASE(search_with_neighbors_returns_each_hits_context) {
  auto r = cli.Post("/v1/memories/search",
                    R"({"user_id":"u1","query":"q","top_k":2,"neighbors":1,)"
                    R"("filter":{"tags":["a","b"],"tags_match":"all"}})",
                    "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  auto j = body_of(r);
  auto& results = j.at("results");
  BOOST_TEST_REQUIRE(results.size() == 2u);
  BOOST_TEST(results[0].size() == 14u);
  BOOST_TEST(results[0].at("context") == json::parse(R"({
    "before": [{"memory_id":"m-1","event_id":"e-1",
                "ts":"2023-05-08T13:55:00.000Z","text":"before"}],
    "after": [{"memory_id":"m+1","event_id":"e+1",
               "ts":"2023-05-08T13:57:00.000Z","text":"after"}]})"));
  BOOST_TEST(results[1].at("context")
             == json::parse(R"({"before":[],"after":[]})"));
  auto seen = be.last_search();
  BOOST_TEST(seen.neighbors == 1);
  BOOST_TEST((seen.filter.tags == std::vector<std::string>{"a", "b"}));
  BOOST_TEST(seen.filter.tags_all);
}

BOOST_AUTO_TEST_CASE(malformed_metadata_becomes_an_empty_object) {
  auto r = cli.Post("/v1/memories/search",
                    R"({"user_id":"u1","query":"q"})", "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  auto j = body_of(r);
  BOOST_TEST_REQUIRE(j.at("results").size() == 3u);
  BOOST_TEST(j.at("results")[2].at("metadata") == json::object());
}

BOOST_AUTO_TEST_CASE(invalid_search_bodies_get_400_with_a_detail) {
  expect_error(cli.Post("/v1/memories/search", "{", "application/json"), 400,
               "bad_request", "malformed JSON");
  expect_error(cli.Post("/v1/memories/search",
                        R"({"user_id":"u","query":"q","top_k":0})",
                        "application/json"),
               400, "bad_request", "top_k");
  expect_error(cli.Post("/v1/memories/search",
                        R"({"user_id":"u","query":"q","limit":3})",
                        "application/json"),
               400, "bad_request", "unknown field 'limit'");
  expect_error(cli.Post("/v1/memories/search", "", "application/json"), 400,
               "bad_request", "empty");
  httplib::MultipartFormDataItems items{{"user_id", "u", "", ""}};
  expect_error(cli.Post("/v1/memories/search", items), 400, "bad_request",
               "multipart");
}

BOOST_AUTO_TEST_CASE(bodies_over_the_limit_get_413) {
  std::string big(test_body_limit + 1, ' ');
  expect_error(cli.Post("/v1/memories/search", big, "application/json"), 413,
               "payload_too_large", std::to_string(test_body_limit));
  // Chunked bodies carry no Content-Length; the limit still holds.
  std::string chunk(16 * 1024, ' ');
  size_t sent = 0;
  auto r = cli.Post(
    "/v1/memories/search",
    [&](size_t, httplib::DataSink& sink) {
      if (sent >= 8 * chunk.size()) {
        sink.done();
        return true;
      }
      sent += chunk.size();
      return sink.write(chunk.data(), chunk.size());
    },
    "application/json");
  if (r) // the server may close before the client finished sending
    expect_error(r, 413, "payload_too_large");
  // Exactly at the limit is fine (and then a JSON problem).
  std::string at_limit(test_body_limit, ' ');
  expect_error(cli.Post("/v1/memories/search", at_limit, "application/json"),
               400, "bad_request", "malformed JSON");
  BOOST_TEST(cli.Get("/healthz")->status == 200);
}

BOOST_AUTO_TEST_CASE(backend_errors_map_to_400_404_and_503) {
  be.behaviour = mode::invalid;
  expect_error(cli.Post("/v1/memories/search", good_search, "application/json"),
               400, "bad_request", "session is archived");
  be.behaviour = mode::not_found;
  expect_error(cli.Get("/v1/sessions/s1/messages?user_id=u1"), 404,
               "not_found", "no such session");
  be.behaviour = mode::down;
  expect_error(cli.Get("/v1/users/u1/usage?from=2023-05-01&to=2023-05-31"),
               503, "unavailable", "connection refused");
}

BOOST_AUTO_TEST_CASE(backend_exceptions_become_503_and_the_server_lives_on) {
  be.behaviour = mode::throws;
  expect_error(cli.Post("/v1/memories/search", good_search, "application/json"),
               503, "unavailable");
  expect_error(cli.Get("/v1/sessions/s1/messages?user_id=u1"), 503,
               "unavailable");
  be.behaviour = mode::throws_int;
  expect_error(cli.Get("/v1/users/u1/usage?from=2023-05-01&to=2023-05-31"),
               503, "unavailable");
  be.behaviour = mode::ok;
  auto r = cli.Post("/v1/memories/search", good_search, "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
}

BOOST_AUTO_TEST_CASE(session_messages_come_oldest_first) {
  auto r = cli.Get("/v1/sessions/s1/messages?user_id=u1&limit=20");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  auto j = body_of(r);
  BOOST_TEST(j.at("session_id") == "s1");
  BOOST_TEST(j.at("user_id") == "u1");
  BOOST_TEST_REQUIRE(j.at("messages").size() == 2u);
  BOOST_TEST(j.at("messages")[0]
             == json({{"event_id", "e0"},
                      {"ts", "2023-05-08T13:56:00.000Z"},
                      {"role", "user"},
                      {"agent_name", ""},
                      {"content", "message 0"}}));
  BOOST_TEST(j.at("messages")[1].at("ts") == "2023-05-08T13:56:01.000Z");
  BOOST_TEST(be.last_limit() == 20);
  // limit defaults to 50.
  BOOST_TEST(cli.Get("/v1/sessions/s1/messages?user_id=u1")->status == 200);
  BOOST_TEST(be.last_limit() == 50);
}

BOOST_AUTO_TEST_CASE(path_and_query_parameters_are_percent_decoded) {
  auto r = cli.Get("/v1/sessions/chat%2F42%20b/messages?user_id=a%40b%20c");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(be.last_session() == "chat/42 b");
  BOOST_TEST(be.last_user() == "a@b c");
  BOOST_TEST(body_of(r).at("session_id") == "chat/42 b");
  // httplib::Client re-encodes '+', so form encoding goes over a raw socket.
  auto raw = raw_exchange(port, "GET /v1/sessions/s1/messages?user_id=x+y "
                                "HTTP/1.1\r\nHost: x\r\n"
                                  + auth_line + "\r\n");
  BOOST_TEST(raw.rfind("HTTP/1.1 200", 0) == 0, raw);
  BOOST_TEST(be.last_user() == "x y");
  r = cli.Get("/v1/users/%C3%A9lise/usage?from=2023-05-01&to=2023-05-02");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(be.last_user() == "\xC3\xA9lise");
}

BOOST_AUTO_TEST_CASE(session_messages_validate_their_parameters) {
  expect_error(cli.Get("/v1/sessions/s1/messages"), 400, "bad_request",
               "user_id is required");
  expect_error(cli.Get("/v1/sessions/s1/messages?user_id="), 400,
               "bad_request", "user_id must be 1-128");
  for (const char* limit : {"0", "51", "abc", "-1", "5.0", "", "99999999999"})
    expect_error(cli.Get(std::string{"/v1/sessions/s1/messages?user_id=u&limit="}
                         + limit),
                 400, "bad_request", "limit must be an integer between 1 "
                                     "and 50");
  expect_error(cli.Get("/v1/sessions/s1/messages?user_id=u&limt=5"), 400,
               "bad_request", "unknown query parameter 'limt'");
  expect_error(cli.Get("/v1/sessions/s1/messages?user_id=u&user_id=v"), 400,
               "bad_request", "more than once");
  expect_error(cli.Get("/v1/sessions/" + std::string(129, 's')
                       + "/messages?user_id=u"),
               400, "bad_request", "session_id must be 1-128");
  expect_error(cli.Get("/v1/sessions//messages?user_id=u"), 400,
               "bad_request", "session_id");
  expect_error(cli.Get("/v1/sessions/a%zz/messages?user_id=u"), 400,
               "bad_request", "percent-encoding");
  expect_error(cli.Get("/v1/sessions/a%00b/messages?user_id=u"), 400,
               "bad_request", "control characters");
  expect_error(cli.Get("/v1/sessions/a%FFb/messages?user_id=u"), 400,
               "bad_request", "UTF-8");
  // 128 characters of 2 bytes each are fine.
  std::string id;
  for (int i = 0; i < 128; ++i)
    id += "%C3%A9";
  BOOST_TEST(cli.Get("/v1/sessions/" + id + "/messages?user_id=u")->status
             == 200);
}

BOOST_AUTO_TEST_CASE(usage_returns_daily_rows) {
  auto r = cli.Get("/v1/users/u1/usage?from=2023-05-01&to=2023-05-31");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  auto j = body_of(r);
  BOOST_TEST(j.at("user_id") == "u1");
  BOOST_TEST(j.at("from") == "2023-05-01");
  BOOST_TEST(j.at("to") == "2023-05-31");
  BOOST_TEST_REQUIRE(j.at("days").size() == 2u);
  BOOST_TEST(j.at("days")[0]
             == json({{"day", "2023-05-08"},
                      {"agent_type", "chat"},
                      {"activity_count", 12},
                      {"error_count", 1},
                      {"total_processing_time_ms", 3400},
                      {"tokens_used", 900},
                      {"files_uploaded", 2}}));
  BOOST_TEST(be.last_range().first == "2023-05-01");
  BOOST_TEST(be.last_range().second == "2023-05-31");
}

BOOST_AUTO_TEST_CASE(usage_validates_the_date_range) {
  expect_error(cli.Get("/v1/users/u1/usage?from=2023-05-01"), 400,
               "bad_request", "required");
  expect_error(cli.Get("/v1/users/u1/usage?to=2023-05-01"), 400,
               "bad_request", "required");
  expect_error(cli.Get("/v1/users/u1/usage?from=2023-02-30&to=2023-03-01"),
               400, "bad_request", "from must be a date");
  expect_error(cli.Get("/v1/users/u1/usage?from=2023-02-01&to=tomorrow"), 400,
               "bad_request", "to must be a date");
  expect_error(cli.Get("/v1/users/u1/usage?from=2023-05-02&to=2023-05-01"),
               400, "bad_request", "from must not be after to");
  // 2024 is a leap year: Jan 1 .. Dec 31 is 366 days, one more is too many.
  BOOST_TEST(cli.Get("/v1/users/u1/usage?from=2024-01-01&to=2024-12-31")
               ->status
             == 200);
  expect_error(cli.Get("/v1/users/u1/usage?from=2024-01-01&to=2025-01-01"),
               400, "bad_request", "366 days");
  BOOST_TEST(cli.Get("/v1/users/u1/usage?from=2023-05-01&to=2023-05-01")
               ->status
             == 200);
}

BOOST_AUTO_TEST_CASE(unknown_routes_get_a_json_404) {
  expect_error(cli.Get("/"), 404, "not_found");
  expect_error(cli.Get("/v2/memories/search"), 404, "not_found");
  expect_error(cli.Get("/healthz/"), 404, "not_found");
  expect_error(cli.Get("/v1/sessions/s1"), 404, "not_found");
  expect_error(cli.Post("/v1/memories", "{}", "application/json"), 404,
               "not_found");
  expect_error(cli.Delete("/nothing/here"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(wrong_methods_on_known_paths_get_405_with_allow) {
  auto r = cli.Get("/v1/memories/search");
  expect_error(r, 405, "method_not_allowed", "allowed: POST");
  BOOST_TEST(r->get_header_value("Allow") == "POST");
  r = cli.Post("/healthz", "{}", "application/json");
  expect_error(r, 405, "method_not_allowed");
  BOOST_TEST(r->get_header_value("Allow") == "GET, HEAD");
  expect_error(cli.Put("/v1/memories/search", good_search, "application/json"),
               405, "method_not_allowed");
  expect_error(cli.Delete("/v1/sessions/s1/messages?user_id=u"), 405,
               "method_not_allowed");
  expect_error(cli.Patch("/metrics", "x", "text/plain"), 405,
               "method_not_allowed");
  expect_error(cli.Options("/readyz"), 405, "method_not_allowed");
  auto raw = raw_exchange(port, "TRACE /healthz HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n");
  BOOST_TEST(raw.rfind("HTTP/1.1 405", 0) == 0, raw);
  // HEAD is GET without a body.
  r = cli.Head("/healthz");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
}

BOOST_AUTO_TEST_CASE(metrics_serves_the_registry_as_prometheus_text) {
  BOOST_TEST(cli.Get("/healthz")->status == 200);
  BOOST_TEST(metric_appears(
    R"(agentmem_http_requests_total{route="/healthz",code="200"} 1)"));
  cli.Post("/v1/memories/search", "{", "application/json");
  cli.Post("/v1/memories/search", good_search, "application/json");
  cli.Get("/no/such/route");
  BOOST_TEST(metric_appears(
    R"(agentmem_http_requests_total{route="/v1/memories/search",code="400"} 1)"));
  BOOST_TEST(metric_appears(
    R"(agentmem_http_requests_total{route="/v1/memories/search",code="200"} 1)"));
  BOOST_TEST(metric_appears(
    R"(agentmem_http_requests_total{route="unmatched",code="404"} 1)"));
  auto r = cli.Get("/metrics");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type")
             == "text/plain; version=0.0.4; charset=utf-8");
  auto& text = r->body;
  // Only the successful-parse search reached the backend.
  BOOST_TEST(text.find("agentmem_search_latency_seconds_count 1\n")
             != std::string::npos);
  BOOST_TEST(text.find("# TYPE agentmem_search_latency_seconds histogram")
             != std::string::npos);
  BOOST_TEST(text.find("agentmem_http_request_duration_seconds_bucket{route="
                       "\"/healthz\",le=\"+Inf\"} 1")
             != std::string::npos);
  BOOST_TEST(text.find("agentmem_http_request_duration_seconds_count{route="
                       "\"/v1/memories/search\"} 2")
             != std::string::npos);
  BOOST_TEST(text.find("# TYPE agentmem_http_requests_total counter")
             != std::string::npos);
  // What the server exports passes promtool's lint too.
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    char path[] = "/tmp/agentmem_api_metrics_XXXXXX";
    int fd = ::mkstemp(path);
    BOOST_TEST_REQUIRE(fd >= 0);
    BOOST_TEST_REQUIRE(::write(fd, text.data(), text.size())
                       == static_cast<ssize_t>(text.size()));
    ::close(fd);
    auto cmd = std::string{"/usr/bin/promtool check metrics < "} + path
               + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    BOOST_TEST_REQUIRE(p != nullptr);
    char buf[1024];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
      out.append(buf, n);
    int status = ::pclose(p);
    ::unlink(path);
    BOOST_TEST(status == 0, "promtool said: " << out);
    BOOST_TEST(out.empty(), "promtool said: " << out);
  } else {
    BOOST_TEST_MESSAGE("promtool check skipped: /usr/bin/promtool missing");
  }
}

BOOST_AUTO_TEST_CASE(malformed_http_gets_a_json_400) {
  auto raw = raw_exchange(port, "THIS IS NOT HTTP\r\n\r\n");
  BOOST_TEST(raw.rfind("HTTP/1.1 400", 0) == 0, raw);
  BOOST_TEST(raw.find(R"("error":"bad_request")") != std::string::npos, raw);
  raw = raw_exchange(port, "GET /" + std::string(10000, 'a')
                             + " HTTP/1.1\r\nHost: x\r\n\r\n");
  BOOST_TEST(raw.rfind("HTTP/1.1 414", 0) == 0, raw);
  // Content-Length over the limit: httplib skips the body, we answer 413.
  raw = raw_exchange(port, "POST /v1/memories/search HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: "
                             + std::to_string(test_body_limit + 1)
                             + "\r\n\r\n"
                             + std::string(test_body_limit + 1, '{'));
  BOOST_TEST(raw.rfind("HTTP/1.1 413", 0) == 0, raw);
  BOOST_TEST(raw.find("payload_too_large") != std::string::npos, raw);
  // A POST without Content-Length has no body (and must not wait for one).
  auto t0 = std::chrono::steady_clock::now();
  raw = raw_exchange(port, "POST /v1/memories/search HTTP/1.1\r\nHost: x\r\n"
                             + auth_line + "\r\n");
  BOOST_TEST(raw.rfind("HTTP/1.1 400", 0) == 0, raw);
  BOOST_TEST(raw.find("request body is empty") != std::string::npos, raw);
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)));
  BOOST_TEST(cli.Get("/healthz")->status == 200);
}

BOOST_AUTO_TEST_CASE(a_thousand_bad_requests_leave_the_server_answering) {
  httplib::Client keep{"127.0.0.1", port};
  keep.set_bearer_token_auth(admin_token);
  keep.set_keep_alive(true);
  keep.set_tcp_nodelay(true);
  keep.set_read_timeout(10);
  std::string big(test_body_limit + 10, 'x');
  int answered = 0;
  for (int i = 0; i < 1000; ++i) {
    BOOST_TEST_CONTEXT("request " << i) {
      httplib::Client& c = i % 2 ? keep : cli;
      httplib::Result r{nullptr, httplib::Error::Unknown};
      int expected = 400;
      switch (i % 10) {
        case 0:
          r = c.Post("/v1/memories/search", "{\"user_id\":", "application/json");
          break;
        case 1:
          r = c.Post("/v1/memories/search", R"({"user_id":"u","query":"q","x":1})",
                     "application/json");
          break;
        case 2:
          r = c.Get("/v1/nope/" + std::to_string(i));
          expected = 404;
          break;
        case 3:
          r = c.Put("/healthz", "junk", "text/plain");
          expected = 405;
          break;
        case 4:
          r = c.Get("/v1/sessions/s/messages?limit=0");
          break;
        case 5:
          r = c.Get("/v1/users/u/usage?from=2023-13-01&to=2023-13-02");
          break;
        case 6:
          r = c.Post("/v1/memories/search", big, "application/json");
          expected = 413;
          break;
        case 7: {
          auto raw = raw_exchange(port, i % 20 == 7 ? "\x16\x03\x01garbage\r\n\r\n"
                                                    : "GET\r\n\r\n");
          BOOST_TEST(raw.rfind("HTTP/1.1 400", 0) == 0, raw);
          ++answered;
          continue;
        }
        case 8:
          r = c.Post("/v1/memories/search",
                     std::string("{\"user_id\":\"u\",\"query\":\"q\",\"top_k\":1e30}"),
                     "application/json");
          break;
        default:
          r = c.Post("/v1/memories/search",
                     std::string(20000, '[') + std::string(20000, ']'),
                     "application/json");
          break;
      }
      BOOST_TEST_REQUIRE(static_cast<bool>(r));
      BOOST_TEST(r->status == expected);
      BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
      ++answered;
    }
  }
  BOOST_TEST(answered == 1000);
  auto r = cli.Get("/healthz");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  r = cli.Post("/v1/memories/search", good_search, "application/json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
}

BOOST_AUTO_TEST_CASE(concurrent_clients_are_all_answered) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      httplib::Client c{"127.0.0.1", port};
      c.set_bearer_token_auth(admin_token);
      c.set_read_timeout(10);
      for (int i = 0; i < 50; ++i) {
        auto r = c.Post("/v1/memories/search", good_search, "application/json");
        if (r && r->status == 200)
          ++ok;
      }
    });
  for (auto& t : threads)
    t.join();
  BOOST_TEST(ok.load() == 400);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_server_lifecycle)

BOOST_AUTO_TEST_CASE(a_server_can_be_stopped_and_started_again) {
  fake_backend be;
  metrics::registry reg;
  api::http_server srv{test_config(), be, reg};
  srv.stop(); // not running: no-op
  auto port = srv.start();
  BOOST_TEST_REQUIRE(static_cast<bool>(port));
  BOOST_TEST(*port != 0);
  auto again = srv.start();
  BOOST_TEST(!again); // already running
  {
    httplib::Client c{"127.0.0.1", *port};
    BOOST_TEST(c.Get("/healthz")->status == 200);
  }
  srv.stop();
  srv.stop();
  {
    httplib::Client c{"127.0.0.1", *port};
    c.set_connection_timeout(1);
    BOOST_TEST(!c.Get("/healthz")); // nobody listens any more
  }
  auto port2 = srv.start();
  BOOST_TEST_REQUIRE(static_cast<bool>(port2));
  httplib::Client c{"127.0.0.1", *port2};
  BOOST_TEST(c.Get("/healthz")->status == 200);
}

BOOST_AUTO_TEST_CASE(start_then_immediate_stop_does_not_hang) {
  fake_backend be;
  metrics::registry reg;
  for (int i = 0; i < 20; ++i) {
    api::http_server srv{test_config(), be, reg};
    BOOST_TEST_REQUIRE(static_cast<bool>(srv.start()));
    srv.stop();
  }
}

BOOST_AUTO_TEST_CASE(a_taken_port_or_bad_config_is_an_error_not_a_crash) {
  fake_backend be;
  metrics::registry reg;
  api::http_server first{test_config(), be, reg};
  auto port = first.start();
  BOOST_TEST_REQUIRE(static_cast<bool>(port));
  auto cfg = test_config();
  cfg.port = *port;
  api::http_server second{cfg, be, reg};
  auto r = second.start();
  BOOST_TEST_REQUIRE(!r);
  BOOST_TEST(r.error().code() == static_cast<uint8_t>(errc::io_error));
  cfg = test_config();
  cfg.threads = 0;
  api::http_server third{cfg, be, reg};
  auto r3 = third.start();
  BOOST_TEST_REQUIRE(!r3);
  BOOST_TEST(r3.error().code() == static_cast<uint8_t>(errc::invalid_config));
  cfg = test_config();
  cfg.host = "256.1.1.1";
  api::http_server fourth{cfg, be, reg};
  BOOST_TEST(!fourth.start());
}

BOOST_AUTO_TEST_SUITE_END()
