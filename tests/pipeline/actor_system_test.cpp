// pipeline::node_actor_system_config: idle scheduler workers sleep instead
// of polling (docs/performance.md, "Idle scheduler workers").
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <chrono>
#include <thread>

#include <caf/all.hpp>

#include "pipeline/actor_system.hpp"

using namespace agentmem;
using namespace std::chrono_literals;

namespace {

long voluntary_switches() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw;
}

// Voluntary context switches of the whole process while an actor system
// with `cfg` exchanges `rounds` messages with an actor, pausing 5 ms
// between rounds (a pipeline handing batches between stages goes idle
// like this), then idles 100 ms. Each wake-up of a sleeping thread is one
// voluntary switch.
long switches_of(caf::actor_system_config& cfg, int rounds) {
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](int x) { return x + 1; }};
  });
  caf::scoped_actor self{sys};
  auto before = voluntary_switches();
  for (int i = 0; i < rounds; ++i) {
    self->request(echo, caf::infinite, i)
      .receive([](int) {}, [](caf::error&) {});
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(100ms);
  auto after = voluntary_switches();
  self->send_exit(echo, caf::exit_reason::user_shutdown);
  return after - before;
}

} // namespace

BOOST_AUTO_TEST_SUITE(actor_system)

BOOST_AUTO_TEST_CASE(idle_workers_wait_instead_of_polling_every_50_microseconds) {
  // 20 idle periods of 5 ms: CAF's default polls every 50 µs in each
  // (≈ 100 sleeps per worker per period); the node's configuration waits
  // on the worker's condition variable (≤ 3 timeouts per period).
  auto node = pipeline::node_actor_system_config();
  caf::actor_system_config plain;
  auto with_node = switches_of(node, 20);
  auto with_default = switches_of(plain, 20);
  BOOST_TEST_MESSAGE("voluntary context switches: node configuration "
                     << with_node << ", CAF default " << with_default);
  BOOST_TEST(with_node * 3 < with_default);
}

BOOST_AUTO_TEST_CASE(a_message_to_an_idle_system_is_served) {
  // After idling past the relaxed wait, the system still answers: an
  // enqueue wakes a waiting worker.
  auto cfg = pipeline::node_actor_system_config();
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](int x) { return x + 1; }};
  });
  caf::scoped_actor self{sys};
  std::this_thread::sleep_for(50ms);
  int got = 0;
  self->request(echo, std::chrono::seconds(5), 41)
    .receive([&](int x) { got = x; }, [](caf::error&) {});
  BOOST_TEST(got == 42);
  self->send_exit(echo, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
