// Security end to end (docs/security.md): a full `agentmem dev` (embedded
// broker, private PostgreSQL, HTTP API with a separate ops listener) is fed
// SQL-injection, path-traversal and unicode strings through every event field
// that reaches Postgres, RocksDB or the file system and through every HTTP
// input; tokens of other tenants get 403 on every /v1 route; and afterwards
// no secret (dev token, other API tokens, the Postgres password, the Kafka
// SASL password) appears in any log, in stdout/stderr or in /metrics.

#include <cstdlib>
#include <set>
#include <tuple>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/auth.hpp"
#include "harness.hpp"
#include "kafka/producer.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

/// Every /v1 endpoint, once. Placeholders: {user_q} / {session_q}
/// (percent-encoded for paths and queries), {user_j} (a JSON string
/// literal), {today}. The tenant checks below iterate over this list:
/// append each new /v1 route here.
struct v1_route {
  std::string method;
  std::string target;
  std::string body;
  /// What the tenant's own user gets: 200, or 404 for a resource that
  /// user does not have (never 403).
  int own_status = 200;
};

const std::vector<v1_route> v1_routes = {
  {"POST", "/v1/memories/search",
   R"({"user_id":{user_j},"query":"plan","top_k":5})"},
  {"GET", "/v1/sessions/{session_q}/messages?user_id={user_q}", ""},
  {"GET", "/v1/users/{user_q}/usage?from={today}&to={today}", ""},
  {"GET", "/v1/memories/0123456789abcdef0123456789abcdef/history"
          "?user_id={user_q}", "", 404},
  {"GET", "/v1/sessions/{session_q}/working-memory?user_id={user_q}", ""},
  {"GET", "/v1/users/{user_q}/facts", ""},
  {"GET", "/v1/users/{user_q}/entities", ""},
  {"GET", "/v1/users/{user_q}/entities/no-such-entity/neighbors", "", 404},
  {"GET", "/v1/users/{user_q}/export", ""},
  // Last: it deletes the tenant's own user.
  {"DELETE", "/v1/users/{user_q}", ""},
};

std::string replace_all(std::string s, const std::string& from,
                        const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

std::string today() {
  auto t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

http_response call(http_client& http, const v1_route& r,
                   const std::string& user, const std::string& session) {
  auto fill = [&](std::string s) {
    s = replace_all(s, "{user_q}", url_encode(user));
    s = replace_all(s, "{session_q}", url_encode(session));
    s = replace_all(s, "{user_j}", json(user).dump());
    return replace_all(s, "{today}", today());
  };
  return http.send(r.method, fill(r.target), fill(r.body));
}

std::string read_all(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = 0; (p = hay.find(needle, p)) != std::string::npos;
       p += needle.size())
    ++n;
  return n;
}

std::string rfc3339(int64_t ms) {
  auto t = static_cast<std::time_t>(ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  return std::string{buf} + "Z";
}

} // namespace

BOOST_AUTO_TEST_SUITE(security)

BOOST_AUTO_TEST_CASE(
  a_dev_node_stores_hostile_input_verbatim_isolates_tenants_and_leaks_no_secret) {
  temp_dir tmp{"agentmem-it-security"};
  const std::string data = tmp / "data";
  const std::string log_path = tmp / "agentmem.log";
  const uint16_t port = free_port();
  const uint16_t ops_port = free_port();
  const auto traversal_target =
    "/tmp/agentmem-traversal-" + std::to_string(::getpid());

  // Secrets of this run.
  const std::string sasl_password = "sasl-" + *api::new_token();
  const std::string tenant_token = *api::new_token(); // prefix=acme-
  const std::string alice_token = *api::new_token();  // users=alice
  ::setenv("AGENTMEM_IT_SASL_PASSWORD", sasl_password.c_str(), 1);
  ::setenv("AGENTMEM_TOKENS",
           (api::token_line(tenant_token, "prefix=acme-", "acme") + ";"
            + api::token_line(alice_token, "users=alice", "alice"))
             .c_str(),
           1);
  child_process dev{{agentmem_binary(), "dev", "--data-dir", data,
                     "--http-port", std::to_string(port), "--ops-port",
                     std::to_string(ops_port), "--partitions", "4",
                     "--max-batch-wait-ms", "20", "--kafka-property",
                     "sasl.username=agentmem", "--kafka-property",
                     "sasl.password=env:AGENTMEM_IT_SASL_PASSWORD"},
                    log_path};
  ::unsetenv("AGENTMEM_IT_SASL_PASSWORD");
  ::unsetenv("AGENTMEM_TOKENS");
  auto log_tail = [&] { return "\n--- log ---\n" + file_tail(log_path, 40); };

  http_client ops{ops_port, 5s, ""};
  auto err = wait_until(
    "agentmem dev to answer GET /readyz on the ops port", 120s,
    [&] { return ops.get("/readyz").status == 200; }, [] { return ""; },
    [&] {
      return dev.running() ? std::string{}
                           : "agentmem dev exited (" + dev.describe_status()
                               + ")";
    });
  BOOST_TEST_REQUIRE(err.empty(), err << log_tail());

  // What agentmem dev handed out.
  auto dev_token = read_all(data + "/dev-token");
  while (!dev_token.empty() && dev_token.back() == '\n')
    dev_token.pop_back();
  BOOST_TEST_REQUIRE(dev_token.size() == 46u);
  auto tokens_file = read_all(data + "/tokens");
  BOOST_TEST(tokens_file.find(dev_token) == std::string::npos);
  BOOST_TEST(tokens_file.find(api::to_hex(api::sha256(dev_token)))
             != std::string::npos);
  for (auto* f : {"/dev-token", "/tokens"}) {
    auto perms = fs::status(data + f).permissions();
    BOOST_TEST(((perms & (fs::perms::group_all | fs::perms::others_all))
                == fs::perms::none),
               f << " is readable by others");
  }
  auto bootstrap = read_all(data + "/kafka.bootstrap");
  while (!bootstrap.empty() && bootstrap.back() == '\n')
    bootstrap.pop_back();
  auto pg_password = read_all(data + "/postgres/agentmem.password");
  while (!pg_password.empty() && pg_password.back() == '\n')
    pg_password.pop_back();
  BOOST_TEST_REQUIRE(pg_password.size() >= 16u);
  // The Postgres port, from the banner's redacted URL: its unix socket
  // (...***@/agentmem?host=DIR&port=N) or, when the data directory is too
  // long for one, 127.0.0.1:N. The probe below connects over TCP.
  auto banner = read_all(log_path);
  auto at = banner.find("***@");
  BOOST_TEST_REQUIRE(at != std::string::npos, banner);
  auto port_at = banner.compare(at + 4, 10, "127.0.0.1:") == 0
                   ? at + 14
                   : banner.find("&port=", at) + 6;
  BOOST_TEST_REQUIRE(port_at > at + 6, banner);
  auto pg_port = std::stoi(banner.substr(port_at));
  pg_probe pg{"postgresql://agentmem:" + pg_password + "@127.0.0.1:"
              + std::to_string(pg_port) + "/agentmem"};

  // Hostile strings, used as user_id, session_id, event_id, content, file
  // names and metadata.
  const std::vector<std::string> nasty = {
    "'; DROP TABLE memories; --",
    "' OR '1'='1",
    "../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..\\..\\windows\\win.ini",
    "\"); DELETE FROM user_activities; --",
    "$1; SELECT pg_sleep(30); --",
    "acme-\u202egnp.exe",          // right-to-left override, tenant prefix
    "acme-../../x",                // tenant prefix + traversal
    "\u30c4 \U0001F600 caf\u00e9", // non-ASCII
    "/absolute/path/to/file",
    "user\\u0000id",               // a literal backslash-u, not a NUL
  };
  auto pr = kafka::producer::create(bootstrap);
  BOOST_TEST_REQUIRE(static_cast<bool>(pr), error_of(pr));
  const std::string topic = "agent.activity.v1";
  std::vector<std::string> event_ids;
  auto ts = rfc3339(wall_ms() - 60000);
  for (size_t i = 0; i < nasty.size(); ++i) {
    auto& user = nasty[i];
    auto& session = nasty[(i + 1) % nasty.size()];
    json msg = {{"event_id", "m" + std::to_string(i) + "-" + nasty[i]},
                {"ts", ts},
                {"user_id", user},
                {"session_id", session},
                {"agent_type", "chat"},
                {"event_type", "message"},
                {"role", "user"},
                {"content", "plan " + nasty[i] + " marker" + std::to_string(i)},
                {"metadata", {{"sql", nasty[i]}, {"path", nasty[i]}}}};
    json file = {{"event_id", "f" + std::to_string(i) + "-" + nasty[i]},
                 {"ts", ts},
                 {"user_id", user},
                 {"session_id", session},
                 {"agent_type", "chat"},
                 {"event_type", "file_upload"},
                 {"file",
                  {{"filename", i % 2 ? "../../../../../../.." + traversal_target
                                      : nasty[i]},
                   {"mime_type", "text/plain"},
                   {"text", "file text " + nasty[i]}}},
                 {"metadata", {{"q", nasty[i]}}}};
    for (auto* e : {&msg, &file}) {
      event_ids.push_back((*e)["event_id"].get<std::string>());
      BOOST_TEST_REQUIRE(!pr.value()->produce(topic, user, e->dump()));
    }
  }
  // A NUL in content: rejected (dead letter), never stored.
  json nul = {{"event_id", "nul-1"},   {"ts", ts},
              {"user_id", "acme-nul"}, {"session_id", "s"},
              {"agent_type", "chat"},  {"event_type", "message"},
              {"role", "user"},        {"content", std::string{"a\0b", 3}}};
  BOOST_TEST_REQUIRE(!pr.value()->produce(topic, "acme-nul", nul.dump()));
  BOOST_TEST_REQUIRE(!pr.value()->flush(30s));

  err = wait_until(
    "all hostile events in user_activities", 90s,
    [&] {
      return pg.count_present("user_activities", "event_id", event_ids)
             == static_cast<int64_t>(event_ids.size());
    },
    [&] {
      return std::to_string(
               pg.count_present("user_activities", "event_id", event_ids))
             + " of " + std::to_string(event_ids.size());
    },
    [&] { return dev.running() ? std::string{} : "agentmem dev exited"; });
  BOOST_TEST_REQUIRE(err.empty(), err << log_tail());

  // Tables survive; values are stored byte for byte.
  BOOST_TEST(pg.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = "
                       "'public' AND tablename IN ('memories', "
                       "'user_activities', 'agent_sessions', 'file_uploads', "
                       "'usage_analytics', 'kafka_offsets')")
             == 6);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities") >= 2 * 12);
  for (size_t i = 0; i < nasty.size(); ++i) {
    BOOST_TEST_CONTEXT("string " << i << ": " << nasty[i]) {
      auto& session = nasty[(i + 1) % nasty.size()];
      BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities WHERE "
                           "event_id = "
                           + sql_quote("m" + std::to_string(i) + "-" + nasty[i])
                           + " AND user_id = " + sql_quote(nasty[i])
                           + " AND session_id = " + sql_quote(session)
                           + " AND content = "
                           + sql_quote("plan " + nasty[i] + " marker"
                                       + std::to_string(i))
                           + " AND metadata->>'sql' = " + sql_quote(nasty[i]))
                 == 1);
      BOOST_TEST(pg.scalar("SELECT count(*) FROM file_uploads WHERE user_id = "
                           + sql_quote(nasty[i]) + " AND filename = "
                           + sql_quote(i % 2 ? "../../../../../../.."
                                                 + traversal_target
                                             : nasty[i]))
                 == 1);
    }
  }
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities WHERE event_id = "
                       "'nul-1'")
             == 0);

  // HTTP with the dev (admin) token: every hostile id works as plain data.
  http_client admin{port, 10s, dev_token};
  for (size_t i = 0; i < nasty.size(); ++i) {
    BOOST_TEST_CONTEXT("string " << i << ": " << nasty[i]) {
      auto& user = nasty[i];
      auto& session = nasty[(i + 1) % nasty.size()];
      auto r = call(admin, v1_routes[1], user, session);
      BOOST_TEST_REQUIRE(r.status == 200, r.body);
      auto j = json::parse(r.body);
      BOOST_TEST(j.at("user_id") == user);
      BOOST_TEST(j.at("session_id") == session);
      BOOST_TEST(r.body.find("marker" + std::to_string(i)) != std::string::npos,
                 r.body);
      r = call(admin, v1_routes[2], user, session);
      BOOST_TEST_REQUIRE(r.status == 200, r.body);
      BOOST_TEST(json::parse(r.body).at("user_id") == user);
      json q = {{"user_id", user},
                {"query", nasty[i]},
                {"top_k", 10},
                {"filter", {{"session_id", session}}}};
      r = admin.post_json("/v1/memories/search", q.dump());
      BOOST_TEST_REQUIRE(r.status == 200, r.body);
      auto hits = json::parse(r.body); // alive for the loop
      for (auto& hit : hits.at("results"))
        BOOST_TEST(hit.at("user_id") == user);
    }
  }
  // Undecodable ids are 400, raw dot segments never reach a file.
  for (auto* target :
       {"/v1/users/a%00b/usage?from=2024-01-01&to=2024-01-01",
        "/v1/users/%ff%fe/usage?from=2024-01-01&to=2024-01-01",
        "/v1/sessions/s/messages?user_id=a%00b",
        "/v1/sessions/s%00/messages?user_id=a"}) {
    auto r = admin.get(target);
    BOOST_TEST(r.status == 400, target << ": " << r.body);
  }
  for (auto* target : {"/v1/users/../../etc/passwd/usage",
                       "/v1/../../../etc/passwd", "/../../etc/passwd",
                       "/v1/users/%2e%2e/%2e%2e/etc/passwd/usage"}) {
    auto r = admin.get(target);
    BOOST_TEST((r.status == 404 || r.status == 400), target << ": " << r.body);
    BOOST_TEST(r.body.find("root:") == std::string::npos);
  }
  auto r = admin.post_json("/v1/memories/search",
                           R"({"user_id":"a\u0000b","query":"x"})");
  BOOST_TEST(r.status == 400, r.body);

  // Tenants: every /v1 route refuses other tenants' users with 403.
  http_client tenant{port, 10s, tenant_token};
  http_client alice{port, 10s, alice_token};
  http_client bogus{port, 10s, "am_not-a-configured-token"};
  http_client anonymous{port, 10s, ""};
  for (auto& route : v1_routes) {
    BOOST_TEST_CONTEXT(route.method << " " << route.target) {
      for (auto& user : nasty) {
        BOOST_TEST_CONTEXT("user " << user) {
          auto& session = nasty[0];
          if (user.rfind("acme-", 0) != 0) {
            auto x = call(tenant, route, user, session);
            BOOST_TEST(x.status == 403, x.body);
            BOOST_TEST(x.body.find("\"forbidden\"") != std::string::npos);
          }
          auto x = call(alice, route, user, session);
          BOOST_TEST(x.status == 403, x.body);
          BOOST_TEST(call(bogus, route, user, session).status == 401);
          BOOST_TEST(call(anonymous, route, user, session).status == 401);
        }
      }
      // The tenant's own users are served.
      auto x = call(tenant, route, "acme-\u202egnp.exe", nasty[8]);
      BOOST_TEST(x.status == route.own_status, x.body);
    }
  }

  // Nothing was created outside the data dir, nothing odd inside it.
  BOOST_TEST(!fs::exists(traversal_target));
  std::set<std::string> top;
  for (auto& e : fs::directory_iterator(tmp.path()))
    top.insert(e.path().filename().string());
  BOOST_TEST((top == std::set<std::string>{"data", "agentmem.log"}));
  for (auto& e : fs::recursive_directory_iterator(
         data, fs::directory_options::skip_permission_denied)) {
    auto name = e.path().filename().string();
    BOOST_TEST((name.find("passwd") == std::string::npos
                && name.find('\'') == std::string::npos
                && name.find("win.ini") == std::string::npos),
               e.path());
  }

  // Secrets: run a failing request with each secret as the token, collect
  // /metrics, stop, and grep everything the process wrote.
  for (auto& s : {sasl_password, pg_password})
    BOOST_TEST(http_client(port, 5s, s).get(
                 "/v1/users/acme-1/usage?from=2024-01-01&to=2024-01-01")
                 .status
               == 401);
  auto metrics = ops.get("/metrics").body;
  BOOST_TEST(metrics.find("agentmem_http_rejected_total{reason=\"forbidden\","
                          "token=\"acme\"}")
             != std::string::npos);
  BOOST_TEST(admin.get("/metrics").status == 404); // only on the ops port
  dev.signal(SIGTERM);
  BOOST_TEST(dev.wait_exit(60s).has_value());
  auto out = read_all(log_path);
  auto pg_log = read_all(data + "/postgres/postgres.log");
  BOOST_TEST_REQUIRE(out.find("agentmem dev is up") != std::string::npos);
  // The dev token is shown exactly once: the banner line for the operator.
  BOOST_TEST(count_of(out, dev_token) == 1u);
  BOOST_TEST(out.find("dev token:       " + dev_token) != std::string::npos);
  for (auto& [what, secret] :
       std::vector<std::pair<std::string, std::string>>{
         {"tenant token", tenant_token},
         {"alice token", alice_token},
         {"postgres password", pg_password},
         {"kafka sasl password", sasl_password}}) {
    BOOST_TEST_CONTEXT(what) {
      BOOST_TEST(out.find(secret) == std::string::npos);
      BOOST_TEST(pg_log.find(secret) == std::string::npos);
      BOOST_TEST(metrics.find(secret) == std::string::npos);
    }
  }
  BOOST_TEST(pg_log.find(dev_token) == std::string::npos);
  BOOST_TEST(metrics.find(dev_token) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(run_refuses_to_start_without_tokens_and_token_new_mints_them) {
  temp_dir tmp{"agentmem-it-tokens"};
  auto bin = agentmem_binary();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream f{tmp / name};
    f << text;
    return tmp / name;
  };
  const std::string base = "[kafka]\nbrokers = \"127.0.0.1:1\"\n"
                           "[postgres]\nurl = \"postgresql://agentmem:"
                           "pg-secret-42@127.0.0.1:1/agentmem\"\n";
  // No token at all: a clear error, before connecting anywhere.
  auto [st, out] = run_with_input({bin, "run", "--config",
                                   write("none.toml", base)},
                                  "", tmp / "none");
  BOOST_TEST(WIFEXITED(st));
  BOOST_TEST(WEXITSTATUS(st) == 1);
  BOOST_TEST(out.find("no API tokens configured") != std::string::npos, out);
  BOOST_TEST(out.find("pg-secret-42") == std::string::npos, out);
  // A plain token instead of a hash line: refused, not echoed.
  auto tokens = write("tokens", "my-plain-secret-token admin\n");
  std::tie(st, out) = run_with_input(
    {bin, "run", "--config",
     write("plain.toml", base + "[auth]\ntokens_file = " + toml_str(tokens)
                           + "\n")},
    "", tmp / "plain");
  BOOST_TEST(WEXITSTATUS(st) == 1);
  BOOST_TEST(out.find("line 1") != std::string::npos, out);
  BOOST_TEST(out.find("my-plain-secret-token") == std::string::npos, out);
  // token new: a fresh token and the line that accepts it.
  std::tie(st, out) = run_with_input(
    {bin, "token", "new", "--scope", "prefix=acme-", "--name", "acme"}, "",
    tmp / "new");
  BOOST_TEST_REQUIRE(WEXITSTATUS(st) == 0, out);
  auto tok_at = out.find("token: ");
  auto line_at = out.find("line:  ");
  BOOST_TEST_REQUIRE((tok_at != std::string::npos && line_at != std::string::npos),
                     out);
  auto token = out.substr(tok_at + 7, out.find('\n', tok_at) - tok_at - 7);
  auto line = out.substr(line_at + 7, out.find('\n', line_at) - line_at - 7);
  BOOST_TEST(line == api::token_line(token, "prefix=acme-", "acme"));
  auto parsed = api::parse_token_lines(line, "out");
  BOOST_TEST_REQUIRE(static_cast<bool>(parsed));
  BOOST_TEST(api::authenticator{*parsed}.authenticate(token) != nullptr);
  // token hash: the same line for the same token (from stdin).
  std::tie(st, out) = run_with_input(
    {bin, "token", "hash", "--scope", "prefix=acme-", "--name", "acme"},
    token + "\n", tmp / "hash");
  BOOST_TEST(WEXITSTATUS(st) == 0);
  BOOST_TEST(out == line + "\n");
  // A bad scope is refused.
  std::tie(st, out) = run_with_input(
    {bin, "token", "new", "--scope", "everyone"}, "", tmp / "bad");
  BOOST_TEST(WEXITSTATUS(st) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
