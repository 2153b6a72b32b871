#include <boost/test/unit_test.hpp>

#include "domain/rollup.hpp"

using namespace agentmem;
using namespace agentmem::domain;

namespace {

activity ev(const std::string& user, int64_t ts, const std::string& cls,
            const std::string& agent = "chat") {
  activity a;
  a.event_id = user + std::to_string(ts) + cls;
  a.user_id = user;
  a.session_id = user + "-s";
  a.agent_type = agent;
  a.activity_class = cls;
  a.ts_ms = ts;
  return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(rollup)

BOOST_AUTO_TEST_CASE(usage_deltas_sum_per_user_day_and_agent_type) {
  const int64_t day1 = 1'700'000'000'000; // 2023-11-14T22:13:20Z
  const int64_t day2 = day1 + 86'400'000;
  auto a = ev("u1", day1, "message");
  a.tokens_used = 10;
  a.processing_time_ms = 5;
  auto b = ev("u1", day1 + 1000, "tool_call");
  b.success = false;
  b.processing_time_ms = 100;
  auto c = ev("u1", day1 + 2000, "file_upload");
  auto d = ev("u1", day2, "message");
  auto e = ev("u2", day1, "message");
  auto f = ev("u1", day1, "message", "coder");
  auto out = usage_deltas({a, b, c, d, e, f});
  BOOST_REQUIRE_EQUAL(out.size(), 4u);
  BOOST_CHECK_EQUAL(out[0].user_id, "u1");
  BOOST_CHECK_EQUAL(out[0].day, "2023-11-14");
  BOOST_CHECK_EQUAL(out[0].agent_type, "chat");
  BOOST_CHECK_EQUAL(out[0].activity_count, 3);
  BOOST_CHECK_EQUAL(out[0].error_count, 1);
  BOOST_CHECK_EQUAL(out[0].total_processing_time_ms, 105);
  BOOST_CHECK_EQUAL(out[0].tokens_used, 10);
  BOOST_CHECK_EQUAL(out[0].files_uploaded, 1);
  BOOST_CHECK_EQUAL(out[1].day, "2023-11-15");
  BOOST_CHECK_EQUAL(out[1].activity_count, 1);
  BOOST_CHECK_EQUAL(out[2].user_id, "u2");
  BOOST_CHECK_EQUAL(out[3].agent_type, "coder");
}

BOOST_AUTO_TEST_CASE(session_deltas_track_bounds_end_and_count) {
  auto s = ev("u1", 5000, "session_start");
  auto m = ev("u1", 7000, "message");
  auto e = ev("u1", 9000, "session_end");
  auto early = ev("u1", 1000, "message");
  auto out = session_deltas({s, m, e, early});
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].started_at_ms, 1000);
  BOOST_CHECK_EQUAL(out[0].last_activity_ms, 9000);
  BOOST_CHECK_EQUAL(out[0].ended_at_ms, 9000);
  BOOST_CHECK_EQUAL(out[0].interactions, 4);
  auto open = session_deltas({m});
  BOOST_CHECK_EQUAL(open[0].ended_at_ms, -1);
}

BOOST_AUTO_TEST_CASE(analytics_deltas_fold_hour_windows_per_agent_tool_and_model) {
  const int64_t h = 1'700'002'800'000; // 2023-11-14T23:00:00Z
  auto a = ev("u1", h + 10, "tool_call");
  a.agent_name = "helper";
  a.tool_name = "search";
  a.tool_category = "web";
  a.model = "m1";
  a.tokens_used = 1000;
  a.processing_time_ms = 100;
  a.cost_nanousd = 5;
  auto b = ev("u1", h + 3'600'000 + 1, "session_start"); // next hour, next day
  b.agent_name = "helper";
  auto c = ev("u1", h + 20, "message");
  c.agent_name = "helper";
  c.model = "m2";
  c.success = false;
  auto out = analytics_deltas({a, b, c});
  // Hour windows only (days are folded from closed hours by the store):
  // a: agent, tool, model = 3; b: agent of the next hour; c: the agent row
  // exists, model m2.
  BOOST_REQUIRE_EQUAL(out.size(), 5u);
  auto find = [&](const std::string& kind, int64_t start,
                  const std::string& model = "") {
    for (auto& d : out)
      if (d.kind == kind && d.bucket_start_ms == start && d.model == model)
        return d;
    BOOST_FAIL("no delta " << kind << " " << start);
    return analytics_delta{};
  };
  auto agent = find("agent", h);
  BOOST_CHECK_EQUAL(agent.events, 2);
  BOOST_CHECK_EQUAL(agent.errors, 1);
  BOOST_CHECK_EQUAL(agent.tokens, 1000);
  BOOST_CHECK_EQUAL(agent.cost_nanousd, 5);
  BOOST_CHECK_EQUAL(agent.priced_events, 1);
  BOOST_CHECK_EQUAL(agent.unpriced_events, 1); // c has a model, no price
  BOOST_CHECK_EQUAL(agent.processing_time_ms, 100);
  BOOST_CHECK_EQUAL(agent.last_ts_ms, h + 20);
  auto tool = find("tool", h);
  BOOST_CHECK_EQUAL(tool.tool_name, "search");
  BOOST_CHECK_EQUAL(tool.tool_category, "web");
  BOOST_CHECK_EQUAL(tool.events, 1);
  auto next = find("agent", h + 3'600'000);
  BOOST_CHECK_EQUAL(next.sessions_started, 1);
  BOOST_CHECK_EQUAL(next.unpriced_events, 0); // no model, no tokens
  auto m2 = find("model", h, "m2");
  BOOST_CHECK_EQUAL(m2.errors, 1);
  BOOST_CHECK_EQUAL(m2.latency_sketch_json, "{\"-1\":1}");
}

BOOST_AUTO_TEST_CASE(price_activities_prices_known_models_and_leaves_the_rest_unpriced) {
  auto a = ev("u1", 1, "message");
  a.model = "gpt-4o";
  a.tokens_used = 1500;
  auto b = ev("u1", 2, "message");
  b.model = "mystery";
  b.tokens_used = 10;
  auto c = ev("u1", 3, "message");
  c.model = "gpt-4o";
  c.cost_nanousd = 42; // the event's own cost_usd wins
  std::vector<activity> xs{a, b, c};
  price_activities(xs, {{"gpt-4o", 0.005}});
  BOOST_CHECK_EQUAL(xs[0].cost_nanousd, 7'500'000); // 1.5K * $0.005
  BOOST_CHECK_EQUAL(xs[1].cost_nanousd, -1);
  BOOST_CHECK_EQUAL(xs[2].cost_nanousd, 42);
}

BOOST_AUTO_TEST_SUITE_END()
