#pragma once

// Set-up shared by actor tests that run on CAF's deterministic test
// coordinator (caf::scheduler::test_coordinator: nothing runs until the
// test calls sched.run() / run_once(); timers advance with
// sched.advance_time()).

#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "messages/batch.hpp"
#include "messages/type_ids.hpp"
#include "tests/storage/fixtures.hpp"

namespace agentmem::test {

/// An actor_system_config selecting the "testing" scheduler.
struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
  }
};

/// An actor_system_config with agentmem's message types on CAF's default
/// (threaded) scheduler: for tests of detached actors that block in real
/// clients, such as ingress polling librdkafka.
struct threaded_config : caf::actor_system_config {
  threaded_config() {
    add_message_types<caf::id_block::agentmem>();
  }
};

/// A next-stage stand-in that appends every batch it receives to `got`.
inline caf::behavior collecting_sink(caf::event_based_actor*,
                                     std::shared_ptr<std::vector<batch>> got) {
  return {[got](batch& b) { got->push_back(std::move(b)); }};
}

/// Base of a test fixture: an actor system on the test coordinator
/// (`sched`) and a throw-away directory (`dir`) for stores. Members of a
/// derived fixture are destroyed before `dir` and `sys`.
struct deterministic_system {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  temp_dir dir;
};

} // namespace agentmem::test
