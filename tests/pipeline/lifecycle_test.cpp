// pipeline::lifecycle: the node's start/stop stack.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "pipeline/lifecycle.hpp"

using namespace agentmem;
using agentmem::pipeline::lifecycle;

namespace {

// Records the order in which stops ran.
struct journal {
  std::vector<std::string> stopped;

  lifecycle::stop_fn step(const std::string& name, caf::error err = {}) {
    return [this, name, err] {
      stopped.push_back(name);
      return err;
    };
  }
};

using names = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(lifecycle_suite)

BOOST_AUTO_TEST_CASE(stops_run_in_reverse_order_of_start) {
  journal j;
  lifecycle lc;
  for (auto* n : {"storage", "workers", "http", "ingress"})
    lc.push(n, j.step(n));
  BOOST_CHECK(lc.components() == (names{"storage", "workers", "http",
                                        "ingress"}));
  BOOST_CHECK(!lc.stop());
  BOOST_CHECK(j.stopped == (names{"ingress", "http", "workers", "storage"}));
  BOOST_CHECK(lc.components().empty());
}

BOOST_AUTO_TEST_CASE(a_failing_stop_does_not_prevent_the_rest_and_the_first_error_is_returned) {
  journal j;
  lifecycle lc;
  lc.push("storage", j.step("storage"));
  lc.push("writer", j.step("writer", make_error(errc::io_error, "second")));
  lc.push("thrower", [&j]() -> caf::error {
    j.stopped.push_back("thrower");
    throw std::runtime_error("stop threw");
  });
  lc.push("ingress", j.step("ingress", make_error(errc::timeout, "first")));
  auto err = lc.stop();
  BOOST_CHECK(j.stopped == (names{"ingress", "thrower", "writer", "storage"}));
  BOOST_REQUIRE(err);
  BOOST_CHECK_EQUAL(describe(err), describe(make_error(errc::timeout,
                                                       "first")));
}

BOOST_AUTO_TEST_CASE(a_thrown_stop_becomes_an_error_naming_its_component) {
  lifecycle lc;
  lc.push("index_sync", []() -> caf::error {
    throw std::runtime_error("disk gone");
  });
  auto err = lc.stop();
  BOOST_REQUIRE(err);
  BOOST_CHECK_NE(describe(err).find("index_sync"), std::string::npos);
  BOOST_CHECK_NE(describe(err).find("disk gone"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_stop_runs_once) {
  journal j;
  {
    lifecycle lc;
    lc.push("a", j.step("a", make_error(errc::timeout, "drain")));
    lc.push("b", j.step("b"));
    BOOST_CHECK(lc.stop());
    // A second stop (and the destructor) run nothing and report nothing.
    BOOST_CHECK(!lc.stop());
  }
  BOOST_CHECK(j.stopped == (names{"b", "a"}));
}

BOOST_AUTO_TEST_CASE(the_destructor_stops_what_was_not_stopped) {
  journal j;
  {
    lifecycle lc;
    lc.push("a", j.step("a"));
    lc.push("b", j.step("b"));
  }
  BOOST_CHECK(j.stopped == (names{"b", "a"}));
}

BOOST_AUTO_TEST_CASE(a_failed_start_stops_what_started_in_reverse) {
  journal j;
  lifecycle lc;
  auto err = lc.start([&]() -> caf::error {
    lc.push("storage", j.step("storage"));
    lc.push("http", j.step("http", make_error(errc::io_error, "ignored")));
    return make_error(errc::kafka_error, "broker unreachable");
  });
  BOOST_REQUIRE(err);
  BOOST_CHECK_EQUAL(describe(err),
                    describe(make_error(errc::kafka_error,
                                        "broker unreachable")));
  BOOST_CHECK(j.stopped == (names{"http", "storage"}));
  BOOST_CHECK(lc.components().empty());
  BOOST_CHECK(!lc.stop());
  BOOST_CHECK_EQUAL(j.stopped.size(), 2u);
}

BOOST_AUTO_TEST_CASE(a_throwing_start_stops_what_started_and_rethrows) {
  journal j;
  lifecycle lc;
  BOOST_CHECK_THROW(lc.start([&]() -> caf::error {
                      lc.push("storage", j.step("storage"));
                      throw std::runtime_error("bad config");
                    }),
                    std::runtime_error);
  BOOST_CHECK(j.stopped == (names{"storage"}));
}

BOOST_AUTO_TEST_CASE(a_successful_start_keeps_everything_running) {
  journal j;
  lifecycle lc;
  BOOST_CHECK(!lc.start([&]() -> caf::error {
    lc.push("storage", j.step("storage"));
    return caf::none;
  }));
  BOOST_CHECK(j.stopped.empty());
  BOOST_CHECK(lc.components() == (names{"storage"}));
}

BOOST_AUTO_TEST_CASE(a_component_started_after_stop_began_is_stopped_at_once) {
  journal j;
  lifecycle lc;
  lc.push("a", j.step("a"));
  lc.stop();
  lc.push("late", j.step("late"));
  BOOST_CHECK(j.stopped == (names{"a", "late"}));
  BOOST_CHECK(lc.components().empty());
}

BOOST_AUTO_TEST_CASE(each_step_s_duration_is_exported) {
  lifecycle lc;
  lc.push("lifecycle_test_slow", [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    return caf::error{};
  });
  lc.stop();
  auto& g = metrics::global().get_gauge(
    "agentmem_lifecycle_stop_seconds", "", {{"component",
                                            "lifecycle_test_slow"}});
  BOOST_CHECK_GE(g.value(), 0.03);
  BOOST_CHECK_LT(g.value(), 10.0);
}

BOOST_AUTO_TEST_SUITE_END()
