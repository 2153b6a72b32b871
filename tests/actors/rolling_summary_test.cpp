// Rolling session summaries in the extraction stage, on CAF's deterministic
// test coordinator with a real RocksDB hot state.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <memory>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/extraction.hpp"
#include "domain/rolling_summary.hpp"
#include "messages/type_ids.hpp"
#include "tests/actors/caf_fixture.hpp"

using namespace agentmem;

namespace {

const char* lines[] = {
  "I adopted a puppy named Biscuit last week.",
  "Biscuit is a beagle and loves long walks.",
  "We walk Biscuit in the park every morning.",
  "My sister wants a beagle puppy too.",
  "The vet said Biscuit is very healthy.",
  "Biscuit chewed my running shoes again.",
  "I bought Biscuit a new chew toy.",
};

activity message(int i, const std::string& session = "s1") {
  activity a;
  a.event_id = session + "-m" + std::to_string(i);
  a.ts_ms = 1'000'000 + i * 1000;
  a.user_id = "u1";
  a.session_id = session;
  a.event_type = a.activity_class = "message";
  a.role = "user";
  a.agent_name = "Ann";
  a.content = lines[i % 7];
  return a;
}

struct fixture : test::deterministic_system {
  std::shared_ptr<storage::hot_state> hot
    = std::move(*storage::hot_state::open((dir.path / "rocks").string()));
  std::shared_ptr<std::vector<batch>> got
    = std::make_shared<std::vector<batch>>();
  caf::actor sink_hdl = sys.spawn(test::collecting_sink, got);
  caf::actor stage;

  void start(size_t every) {
    if (stage)
      caf::anon_send_exit(stage, caf::exit_reason::user_shutdown);
    actors::extraction_config ec;
    ec.next = sink_hdl;
    ec.hot = hot;
    ec.rolling.every_messages = every;
    stage = sys.spawn(actors::extraction, ec);
    sched.run();
  }

  ~fixture() {
    caf::anon_send_exit(stage, caf::exit_reason::user_shutdown);
    sched.run();
  }

  std::vector<memory> summaries(std::vector<activity> acts) {
    batch b;
    b.activities = std::move(acts);
    caf::anon_send(stage, std::move(b));
    sched.run();
    BOOST_REQUIRE(!got->empty());
    auto out = std::move(got->back());
    got->clear();
    std::vector<memory> s;
    for (auto& m : out.memories)
      if (m.memory_type == memory_types::session_summary)
        s.push_back(m);
    return s;
  }

  // What vector linking does after the writer committed the summary.
  void link(const memory& m) {
    BOOST_REQUIRE(!hot->put_docs({m}));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(rolling_summaries, fixture)

BOOST_AUTO_TEST_CASE(a_long_session_gets_its_summary_before_session_end) {
  start(3);
  BOOST_CHECK(summaries({message(0), message(1)}).empty());
  auto first = summaries({message(2)});
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  auto id = domain::session_summary_identity("u1", "s1");
  BOOST_CHECK_EQUAL(first[0].memory_id, id.memory_id);
  BOOST_CHECK_EQUAL(first[0].point_id, id.point_id);
  BOOST_CHECK(first[0].text.find("Session summary (3 messages): ") == 0);
  BOOST_CHECK_EQUAL(first[0].ts_ms, message(2).ts_ms);
  BOOST_CHECK_EQUAL(first[0].event_id, message(2).event_id);
  link(first[0]);
  // Two more messages: not due yet; the third one refreshes it in place.
  BOOST_CHECK(summaries({message(3), message(4)}).empty());
  auto second = summaries({message(5)});
  BOOST_REQUIRE_EQUAL(second.size(), 1u);
  BOOST_CHECK_EQUAL(second[0].memory_id, id.memory_id);
  BOOST_CHECK(second[0].text.find("Session summary (6 messages): ") == 0);
  BOOST_CHECK_GT(second[0].ts_ms, first[0].ts_ms);
  // Other sessions are independent.
  BOOST_CHECK(summaries({message(0, "s2")}).empty());
}

BOOST_AUTO_TEST_CASE(the_in_flight_summary_is_not_emitted_twice) {
  start(3);
  BOOST_REQUIRE_EQUAL(summaries({message(0), message(1), message(2)}).size(),
                      1u);
  // Not linked yet (the batch is still on its way to the writer): the next
  // batch must not re-emit it.
  BOOST_CHECK(summaries({message(3)}).empty());
}

BOOST_AUTO_TEST_CASE(a_replay_after_a_restart_emits_the_same_summary) {
  start(3);
  std::vector<activity> batch1{message(0), message(1), message(2)};
  auto first = summaries(batch1);
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  // The chain fails before the commit: the supervisor respawns the stage
  // and ingress replays the batch.
  start(3);
  auto again = summaries(batch1);
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_CHECK_EQUAL(again[0].memory_id, first[0].memory_id);
  BOOST_CHECK_EQUAL(again[0].text, first[0].text);
  BOOST_CHECK_EQUAL(again[0].ts_ms, first[0].ts_ms);
  // Once committed and linked, a replay is not due any more.
  link(again[0]);
  start(3);
  BOOST_CHECK(summaries(batch1).empty());
}

BOOST_AUTO_TEST_CASE(session_end_summarises_under_the_same_id) {
  start(3);
  auto rolling = summaries({message(0), message(1), message(2)});
  BOOST_REQUIRE_EQUAL(rolling.size(), 1u);
  activity end = message(3);
  end.event_id = "s1-end";
  end.event_type = end.activity_class = "session_end";
  end.content.clear();
  auto final_ = summaries({message(3), end});
  BOOST_REQUIRE_EQUAL(final_.size(), 1u); // the end summary only
  BOOST_CHECK_EQUAL(final_[0].memory_id, rolling[0].memory_id);
  BOOST_CHECK(final_[0].text.find("Session summary (4 messages): ") == 0);
}

BOOST_AUTO_TEST_CASE(disabled_rolling_summaries_wait_for_session_end) {
  start(0);
  std::vector<activity> acts;
  for (int i = 0; i < 7; ++i)
    acts.push_back(message(i));
  BOOST_CHECK(summaries(acts).empty());
}

BOOST_AUTO_TEST_SUITE_END()
