// Working memory in the pipeline: the extraction stage fills it, the
// sweeper expires it. CAF's deterministic test coordinator (virtual time)
// and an injected wall clock: no sleeps.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <memory>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/extraction.hpp"
#include "actors/working_memory_sweeper.hpp"
#include "messages/type_ids.hpp"
#include "tests/actors/caf_fixture.hpp"

using namespace agentmem;
using namespace std::chrono_literals;

namespace {

caf::behavior sink(caf::event_based_actor*) {
  return {[](batch&) {}};
}

activity act(const std::string& cls, const std::string& id, int64_t ts) {
  activity a;
  a.event_id = id;
  a.ts_ms = ts;
  a.user_id = "u1";
  a.session_id = "s1";
  a.agent_type = "assistant";
  a.event_type = a.activity_class = cls;
  a.role = "user";
  a.content = "text " + id;
  a.tool_name = "calc";
  return a;
}

struct fixture : test::deterministic_system {
  std::shared_ptr<std::atomic<int64_t>> now
    = std::make_shared<std::atomic<int64_t>>(5'000'000);
  std::shared_ptr<storage::working_memory> wm;
  caf::actor stage;
  caf::actor sweeper;

  fixture() {
    storage::working_memory_config wc;
    wc.ttl_ms = 10'000;
    auto clock = now;
    wm = std::move(*storage::working_memory::open(
      (dir.path / "wm").string(), wc, [clock] { return clock->load(); }));
    actors::extraction_config ec;
    ec.next = sys.spawn(sink);
    ec.hot = std::move(*storage::hot_state::open((dir.path / "hot").string()));
    ec.working = wm;
    stage = sys.spawn(actors::extraction, ec);
    sweeper = sys.spawn(actors::working_memory_sweeper,
                        actors::working_memory_sweeper_config{wm, 1s});
    sched.run();
  }

  ~fixture() {
    caf::anon_send_exit(stage, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sweeper, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(working_memory_actors, fixture)

BOOST_AUTO_TEST_CASE(extraction_fills_working_memory_and_the_sweeper_expires_it) {
  batch b;
  b.activities = {act("message", "e1", 1), act("tool_call", "e2", 2),
                  act("file_upload", "e3", 3)};
  caf::anon_send(stage, std::move(b));
  sched.run();
  auto v = wm->get("u1", "s1");
  BOOST_REQUIRE(v && *v);
  BOOST_REQUIRE_EQUAL((*v)->items.size(), 2u);
  BOOST_CHECK_EQUAL((*v)->items[0].kind, "message");
  BOOST_CHECK_EQUAL((*v)->items[1].kind, "tool_result");
  BOOST_CHECK_EQUAL((*v)->items[1].name, "calc");
  // A sweep before the TTL keeps it ...
  sched.advance_time(1s);
  sched.run();
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 3u);
  // ... the first sweep after it deletes it.
  *now += 10'000;
  sched.advance_time(1s);
  sched.run();
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 0u);
  v = wm->get("u1", "s1");
  BOOST_REQUIRE(v);
  BOOST_CHECK(!*v);
}

BOOST_AUTO_TEST_SUITE_END()
