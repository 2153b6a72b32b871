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

BOOST_AUTO_TEST_SUITE_END()
