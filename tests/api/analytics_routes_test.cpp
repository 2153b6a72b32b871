// The analytics, skills and status-page routes over HTTP, answered by
// pipeline::analytics_service from a real PostgreSQL (pg_fixture.hpp) into
// which a postgres_store committed events: tenant scoping, bounds,
// pagination, 400s, admin-only writes, the page's files.

#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "domain/rollup.hpp"
#include "api/cursor.hpp"
#include "pipeline/analytics_service.hpp"
#include "storage/postgres_store.hpp"
#include "tests/api/route_fixture.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using json = nlohmann::json;

namespace {

// 2024-05-01T10:00:00Z
constexpr int64_t h10 = 1'714'557'600'000;
constexpr int64_t hour_ms = 3'600'000;
const std::string user_token = "am_route-test-users-token";

// Events of users acme-1, acme-2 and other-1 over three hours.
void commit_events(const std::string& url) {
  auto store = storage::postgres_store::connect(url);
  BOOST_REQUIRE(store);
  BOOST_REQUIRE((*store)->migrate());
  batch b;
  int n = 0;
  for (const char* user : {"acme-1", "acme-2", "other-1"})
    for (int h = 0; h < 3; ++h)
      for (int i = 0; i < 4; ++i) {
        activity a;
        a.event_id = "e" + std::to_string(n++);
        a.ts_ms = h10 + h * hour_ms + i * 1000;
        a.user_id = user;
        a.session_id = std::string{user} + "-s";
        a.agent_type = i % 2 ? "coder" : "chat";
        a.agent_name = "bot";
        a.event_type = a.activity_class = i == 3 ? "tool_call" : "message";
        if (i == 3) {
          a.tool_name = "search";
          a.tool_category = "web";
        }
        a.model = "m1";
        a.tokens_used = 10;
        a.processing_time_ms = 100 + i;
        a.success = i != 2;
        b.activities.push_back(a);
      }
  domain::fold_rollups(b);
  auto r = (*store)->commit_batch(b, "g", "hash");
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
}

// 60 events of users acme-3 and other-2 in the 10:00 hour that tie on
// every ranked measure: 6 agents (t0|t1 x a0|a1|a2) and 6 tools of 10
// events each, models m0 and m1 with equal cost and tokens (m2 the same
// cost, more tokens), m3 and m4 unpriced with equal tokens.
void commit_tied_events(const std::string& url) {
  auto store = storage::postgres_store::connect(url);
  BOOST_REQUIRE(store);
  batch b;
  for (int i = 0; i < 60; ++i) {
    activity a;
    a.event_id = "tie" + std::to_string(i);
    a.ts_ms = h10 + i * 1000;
    a.user_id = i % 4 ? "acme-3" : "other-2";
    a.session_id = a.user_id + "-s";
    a.agent_type = "t" + std::to_string(i % 2);
    a.agent_name = "a" + std::to_string(i % 3);
    a.event_type = a.activity_class = "tool_call";
    a.tool_name = "tool" + std::to_string(i % 6);
    a.tool_category = "c";
    a.model = "m" + std::to_string(i % 5);
    a.tokens_used = i % 5 == 2 ? 20 : 10;
    a.cost_nanousd = i % 5 < 3 ? 1'000'000 : -1;
    a.processing_time_ms = 50;
    a.success = true;
    b.activities.push_back(a);
  }
  domain::fold_rollups(b);
  auto r = (*store)->commit_batch(b, "g", "hash");
  BOOST_REQUIRE_MESSAGE(r, test::why(r));
}

struct analytics_fixture : test::pg_database {
  analytics_fixture() {
    commit_events(url);
    auto cfg = test::route_test_config();
    auto users = api::parse_token_lines(
      api::token_line(user_token, "prefix=acme-", "acme"), "test");
    BOOST_REQUIRE(users);
    cfg.auth.tokens.push_back(users->front());
    cfg.analytics = std::make_shared<pipeline::analytics_service>(url);
    srv = std::make_unique<api::http_server>(cfg, be, reg);
    auto p = srv->start();
    BOOST_REQUIRE(p);
    cli = std::make_unique<httplib::Client>("127.0.0.1", *p);
    cli->set_bearer_token_auth(test::route_test_token);
  }

  json get(const std::string& path, int expect = 200,
           const std::string& token = test::route_test_token) {
    cli->set_bearer_token_auth(token);
    auto r = cli->Get(path.c_str());
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == expect, path << ": " << r->status << " " << r->body);
    return json::parse(r->body, nullptr, false);
  }

  // Every row of the listing at `path` (with its query, if any), read
  // `limit` rows per page by following next_cursor; checks that each page
  // but the last is full and that the last one says so.
  json walk(const std::string& path, const std::string& rows, int limit,
            const std::string& token = test::route_test_token) {
    json all = json::array();
    std::string cursor;
    for (int pages = 0; pages < 100; ++pages) {
      auto sep = path.find('?') == std::string::npos ? "?" : "&";
      auto j = get(path + sep + "limit=" + std::to_string(limit)
                     + (cursor.empty() ? "" : "&cursor=" + cursor),
                   200, token);
      for (auto& r : j[rows])
        all.push_back(r);
      if (j["next_cursor"].is_null()) {
        BOOST_TEST(j[rows].size() <= static_cast<size_t>(limit));
        return all;
      }
      BOOST_TEST(j[rows].size() == static_cast<size_t>(limit), path);
      cursor = j["next_cursor"].get<std::string>();
    }
    BOOST_FAIL(path << ": more than 100 pages");
    return all;
  }

  test::empty_backend be;
  metrics::registry reg;
  std::unique_ptr<api::http_server> srv;
  std::unique_ptr<httplib::Client> cli;
};

const std::string range = "from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z";

} // namespace

BOOST_AUTO_TEST_SUITE(analytics_routes)

BOOST_FIXTURE_TEST_CASE(usage_groups_by_every_dimension_and_scopes_to_the_token,
                        analytics_fixture) {
  auto j = get("/v1/analytics/usage?" + range + "&granularity=hour&group_by=user");
  BOOST_TEST(j["rows"].size() == 9u); // 3 users x 3 hours
  BOOST_TEST(j["rows"][0]["user_id"] == "acme-1");
  BOOST_TEST(j["rows"][0]["events"] == 4);
  BOOST_TEST(j["rows"][0]["errors"] == 1);
  BOOST_TEST(j["rows"][0]["bucket_start"] == "2024-05-01T10:00:00.000Z");
  BOOST_TEST(j["next_cursor"].is_null());
  // A prefix=acme- token sees only acme-* users.
  auto scoped = get("/v1/analytics/usage?" + range + "&group_by=user", 200,
                    user_token);
  std::set<std::string> users;
  for (auto& r : scoped["rows"])
    users.insert(r["user_id"].get<std::string>());
  BOOST_TEST((users == std::set<std::string>{"acme-1", "acme-2"}));
  get("/v1/analytics/usage?" + range + "&user_id=other-1", 403, user_token);
  auto day = get("/v1/analytics/usage?" + range + "&granularity=day&group_by=model");
  BOOST_REQUIRE(day["rows"].size() == 1u);
  BOOST_TEST(day["rows"][0]["model"] == "m1");
  BOOST_TEST(day["rows"][0]["events"] == 36);
  BOOST_TEST(day["rows"][0]["tokens"] == 360);
  BOOST_TEST(day["rows"][0]["unpriced_events"] == 36);
  auto tools = get("/v1/analytics/usage?" + range + "&granularity=day&group_by=tool");
  BOOST_TEST(tools["rows"][0]["tool_name"] == "search");
  BOOST_TEST(tools["rows"][0]["tool_category"] == "web");
  BOOST_TEST(tools["rows"][0]["events"] == 9);
  auto types = get("/v1/analytics/usage?" + range + "&group_by=agent_type");
  BOOST_TEST(types["rows"].size() == 6u);
  BOOST_TEST(types["rows"][0]["latency_ms"]["p50"].is_number());
}

BOOST_FIXTURE_TEST_CASE(cursors_walk_every_row_once, analytics_fixture) {
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto j = get("/v1/analytics/usage?" + range + "&group_by=user&limit=2"
                 + (cursor.empty() ? "" : "&cursor=" + cursor));
    for (auto& r : j["rows"])
      seen.push_back(r["bucket_start"].get<std::string>()
                     + r["user_id"].get<std::string>());
    cursor = j["next_cursor"].is_null() ? "" : j["next_cursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 20);
  BOOST_TEST(pages == 5);
  BOOST_TEST(seen.size() == 9u);
  BOOST_TEST(std::set<std::string>(seen.begin(), seen.end()).size() == 9u);
}

BOOST_FIXTURE_TEST_CASE(bad_parameters_are_400_and_ranges_are_bounded,
                        analytics_fixture) {
  for (const char* q :
       {"granularity=minute", "group_by=session", "from=yesterday",
        "from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z",
        "from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z&granularity=hour",
        "limit=0", "limit=100000", "cursor=zz", "color=blue"})
    get("/v1/analytics/usage?" + std::string{q}, 400);
  get("/v1/analytics/usage?from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z"
      "&granularity=day");
  get("/v1/analytics/agents?" + range + "&granularity=hour", 400);
  get("/v1/analytics/agents?from=2020-01-01T00:00:00Z&to=2024-01-01T00:00:00Z", 400);
  get("/v1/analytics/nothing", 404);
}

BOOST_FIXTURE_TEST_CASE(agents_tools_and_costs_summarise_the_range,
                        analytics_fixture) {
  auto agents = get("/v1/analytics/agents?" + range)["agents"];
  BOOST_REQUIRE(agents.size() == 2u);
  BOOST_TEST(agents[0]["events"] == 18);
  BOOST_TEST(agents[0]["latency_ms"]["p95"].is_number());
  auto scoped = get("/v1/analytics/agents?" + range, 200, user_token)["agents"];
  BOOST_TEST(scoped[0]["events"] == 12);
  auto tools = get("/v1/analytics/tools?" + range)["tools"];
  BOOST_REQUIRE(tools.size() == 1u);
  BOOST_TEST(tools[0]["tool_name"] == "search");
  BOOST_TEST(tools[0]["agents"] == 1);
  BOOST_TEST(tools[0]["events"] == 9);
  BOOST_TEST(tools[0]["success_rate"] == 1.0);
  auto costs = get("/v1/analytics/costs?" + range)["models"];
  BOOST_REQUIRE(costs.size() == 1u);
  BOOST_TEST(costs[0]["model"] == "m1");
  BOOST_TEST(costs[0]["cost_usd"] == 0.0);
  BOOST_TEST(costs[0]["unpriced_events"] == 36);
}

BOOST_FIXTURE_TEST_CASE(skills_are_admin_managed_and_their_usage_is_the_tool_calls_of_that_name,
                        analytics_fixture) {
  auto put = [&](const std::string& path, const std::string& body,
                 const std::string& token) {
    cli->set_bearer_token_auth(token);
    auto r = cli->Put(path.c_str(), body, "application/json");
    BOOST_REQUIRE(r);
    return *r;
  };
  auto denied = put("/v1/skills/search", R"({"category":"web"})", user_token);
  BOOST_TEST(denied.status == 403);
  auto created = put("/v1/skills/search",
                     R"({"description":"web search","category":"web",)"
                     R"("spec":{"type":"object"},"dependencies":["fetch"]})",
                     test::route_test_token);
  BOOST_TEST(created.status == 200, created.body);
  BOOST_TEST(put("/v1/skills/search", R"({"spec":[1]})",
                 test::route_test_token).status == 400);
  BOOST_TEST(put("/v1/agents/bot/skills/missing", "{}",
                 test::route_test_token).status == 404);
  auto bound = put("/v1/agents/bot/skills/search", R"({"priority":5})",
                   test::route_test_token);
  BOOST_TEST(bound.status == 200, bound.body);
  auto skill = get("/v1/skills/search", 200, user_token);
  BOOST_TEST(skill["dependencies"][0] == "fetch");
  BOOST_TEST(skill["spec"]["type"] == "object");
  BOOST_TEST(get("/v1/skills")["skills"].size() == 1u);
  auto b = get("/v1/agents/bot/skills");
  BOOST_TEST(b["skills"][0]["priority"] == 5);
  auto usage = get("/v1/analytics/skills?" + range)["skills"];
  BOOST_REQUIRE(usage.size() == 1u);
  BOOST_TEST(usage[0]["skill"] == "search");
  BOOST_TEST(usage[0]["bound_agents"][0] == "bot");
  BOOST_TEST(usage[0]["events"] == 9);
  BOOST_TEST(usage[0]["last_event_at"] == "2024-05-01T12:00:03.000Z");
  cli->set_bearer_token_auth(test::route_test_token);
  BOOST_TEST(cli->Delete("/v1/agents/bot/skills/search")->status == 204);
  BOOST_TEST(cli->Delete("/v1/skills/search")->status == 204);
  BOOST_TEST(cli->Delete("/v1/skills/search")->status == 404);
}

BOOST_FIXTURE_TEST_CASE(every_report_and_listing_pages_through_ties_without_repeating_or_skipping,
                        analytics_fixture) {
  commit_tied_events(url);
  auto put = [&](const std::string& path, const std::string& body) {
    cli->set_bearer_token_auth(test::route_test_token);
    auto r = cli->Put(path.c_str(), body, "application/json");
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 200, path << ": " << r->body);
  };
  // Skills named like the tools (equal calls) plus unused ones (0 calls);
  // bindings of "bot" with tied priorities.
  for (const char* name : {"tool0", "tool1", "tool2", "tool3", "tool4",
                           "tool5", "search", "unused-a", "unused-b"}) {
    put(std::string{"/v1/skills/"} + name, "{}");
    put(std::string{"/v1/agents/bot/skills/"} + name,
        std::string{R"({"priority":)"} + (name[0] == 't' ? "1" : "0") + "}");
  }
  const std::string admin = test::route_test_token;
  // (path, rows, token, the key that identifies a row)
  struct listing {
    std::string path, rows, token;
    std::vector<std::string> key;
  };
  const std::vector<listing> listings = {
    {"/v1/analytics/agents?" + range, "agents", admin, {"agent_type", "agent_name"}},
    {"/v1/analytics/agents?" + range, "agents", user_token, {"agent_type", "agent_name"}},
    {"/v1/analytics/tools?" + range, "tools", admin, {"tool_name", "tool_category"}},
    {"/v1/analytics/tools?" + range, "tools", user_token, {"tool_name", "tool_category"}},
    {"/v1/analytics/costs?" + range, "models", admin, {"model"}},
    {"/v1/analytics/costs?" + range, "models", user_token, {"model"}},
    {"/v1/analytics/skills?" + range, "skills", admin, {"skill"}},
    {"/v1/analytics/skills?" + range, "skills", user_token, {"skill"}},
    {"/v1/skills", "skills", user_token, {"name"}},
    {"/v1/agents/bot/skills", "skills", user_token, {"skill"}},
  };
  for (auto& l : listings) {
    auto whole = get(l.path, 200, l.token)[l.rows];
    BOOST_TEST_CONTEXT(l.path << (l.token == admin ? " (admin)" : " (acme-)")) {
      BOOST_TEST(whole.size() >= 5u);
      for (int limit : {1, 2, 4}) {
        auto paged = walk(l.path, l.rows, limit, l.token);
        BOOST_TEST(paged == whole, "limit " << limit);
        std::set<std::string> keys;
        for (auto& r : paged) {
          std::string k;
          for (auto& f : l.key)
            k += r[f].get<std::string>() + '|';
          keys.insert(k);
        }
        BOOST_TEST(keys.size() == paged.size(), "a row repeated");
      }
    }
  }
  // The ties are there, and broken by the key.
  auto tools = get("/v1/analytics/tools?" + range)["tools"];
  BOOST_TEST(tools[0]["events"] == tools[1]["events"]);
  BOOST_TEST(tools[0]["tool_name"] < tools[1]["tool_name"]);
  auto costs = get("/v1/analytics/costs?" + range)["models"];
  std::vector<std::string> models;
  for (auto& m : costs)
    models.push_back(m["model"]);
  // m1 also has the fixture's tokens; m0 ties m2 on cost, fewer tokens;
  // m3 and m4 tie on everything.
  BOOST_TEST((models == std::vector<std::string>{"m1", "m2", "m0", "m3", "m4"}));
  // Scoped: the fixture's search calls of acme-1 and acme-2 only.
  auto scoped = walk("/v1/analytics/tools?" + range, "tools", 2, user_token);
  for (auto& t : scoped)
    if (t["tool_name"] == "search")
      BOOST_TEST(t["events"] == 6);
  auto skills = walk("/v1/analytics/skills?" + range, "skills", 3, user_token);
  BOOST_TEST(skills.size() == 9u);
  BOOST_TEST(skills.back()["events"] == 0);
  auto binds = get("/v1/agents/bot/skills?limit=6")["skills"];
  BOOST_TEST(binds[5]["priority"] == 1);
  BOOST_TEST(binds[5]["skill"] == "tool5");
  BOOST_TEST(get("/v1/agents/bot/skills/unused-a")["priority"] == 0);
  get("/v1/agents/bot/skills/nothing", 404);
}

BOOST_FIXTURE_TEST_CASE(list_parameters_and_foreign_cursors_are_400,
                        analytics_fixture) {
  auto tools = get("/v1/analytics/tools?" + range + "&limit=1");
  auto usage = get("/v1/analytics/usage?" + range + "&limit=1");
  BOOST_REQUIRE(usage["next_cursor"].is_string());
  const std::string usage_cursor = usage["next_cursor"];
  const std::vector<std::string> lists = {
    "/v1/analytics/agents?" + range + "&", "/v1/analytics/tools?" + range + "&",
    "/v1/analytics/costs?" + range + "&", "/v1/analytics/skills?" + range + "&",
    "/v1/skills?", "/v1/agents/bot/skills?"};
  for (auto& l : lists) {
    for (const std::string& q : std::vector<std::string>{
           "limit=0", "limit=1001", "limit=x", "cursor=zz", "cursor=",
          "cursor=" + usage_cursor, "color=blue"})
      get(l + q, 400);
    get(l + "limit=1000");
  }
  // A cursor of one report on another; a forged cost position.
  get("/v1/analytics/agents?" + range + "&cursor=" + usage_cursor, 400);
  get("/v1/analytics/costs?" + range + "&cursor="
        + api::encode_cursor('c', list_position{10, "1e5\x1fm1"}),
      400);
  get("/v1/analytics/agents?" + range + "&cursor="
        + api::encode_cursor('a', list_position{10, "no-separator"}),
      400);
  // The range rules of usage hold for every report.
  for (const char* r : {"/v1/analytics/agents", "/v1/analytics/tools",
                        "/v1/analytics/costs", "/v1/analytics/skills"}) {
    for (const char* q :
         {"from=yesterday", "to=2024-05-01T25:00:00Z",
          "from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z",
          "from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z",
          "from=2020-01-01T00:00:00Z&to=2024-01-01T00:00:00Z",
          "granularity=hour", "group_by=user"})
      get(std::string{r} + "?" + q, 400);
    get(std::string{r} + "?" + range + "&user_id=other-1", 403, user_token);
  }
  BOOST_TEST(tools["next_cursor"].is_null()); // one tool in the fixture
}

BOOST_FIXTURE_TEST_CASE(the_status_page_is_served_with_its_files_and_its_data_needs_an_admin,
                        analytics_fixture) {
  auto page = cli->Get("/ui");
  BOOST_REQUIRE(page);
  BOOST_TEST(page->status == 200);
  BOOST_TEST(page->get_header_value("Content-Type").find("text/html") == 0u);
  BOOST_TEST(page->body.find("agentmem status") != std::string::npos);
  BOOST_TEST(cli->Get("/ui/app.js")->status == 200);
  BOOST_TEST(cli->Get("/ui/nothing.js")->status == 404);
  get("/ui/api/today", 403, user_token);
  auto today = get("/ui/api/today");
  BOOST_TEST(today["agents"].is_array());
  BOOST_TEST(today["hourly"].is_array());
}

BOOST_AUTO_TEST_SUITE_END()
