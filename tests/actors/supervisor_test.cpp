// The supervisor on CAF's deterministic test coordinator: virtual time,
// every message delivered by sched.run() on this thread.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <stdexcept>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/stage_metrics.hpp"
#include "actors/supervisor.hpp"
#include "messages/atoms.hpp"

using namespace agentmem;
using namespace std::chrono_literals;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
  }
};

// What the ingress stand-in saw (an actor of ours, not a Kafka fake: the
// supervisor's only contract with ingress is these two messages).
struct ingress_log {
  int sinks = 0;
  int replays = 0;
  bool exited = false;
};

caf::behavior ingress_probe(caf::event_based_actor* self,
                            std::shared_ptr<ingress_log> log) {
  self->attach_functor([log](const caf::error&) { log->exited = true; });
  return {
    [log](sink_atom, caf::actor) { ++log->sinks; },
    [log](replay_atom, caf::actor) { ++log->replays; },
  };
}

// A stage that dies on a negative number, like a stage hitting a fault.
caf::behavior stage() {
  return {
    [](int x) {
      if (x < 0)
        throw std::runtime_error("injected stage fault");
    },
  };
}

// A stage that, told to exit, finishes what it is doing first: it quits
// only at its next message (like the writer finishing a commit).
caf::behavior slow_stage(caf::event_based_actor* self) {
  auto exiting = std::make_shared<bool>(false);
  self->set_exit_handler([=](caf::exit_msg&) { *exiting = true; });
  return {
    [=](int) {
      if (*exiting)
        self->quit();
    },
  };
}

struct down_log {
  bool down = false;
  caf::error reason;
};

caf::behavior watcher(caf::event_based_actor* self, caf::actor target,
                      std::shared_ptr<down_log> log) {
  self->monitor(target);
  self->set_down_handler([=](caf::down_msg& dm) {
    log->down = true;
    log->reason = dm.reason;
  });
  return {[](int) {}};
}

struct fixture {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<ingress_log> ingress = std::make_shared<ingress_log>();
  std::shared_ptr<std::vector<caf::actor>> chain
    = std::make_shared<std::vector<caf::actor>>();
  int spawned_chains = 0;
  bool slow_tail = false; ///< the chain's last stage is a slow_stage
  caf::actor ingress_hdl;
  caf::actor sup;
  caf::scoped_actor self{sys, true};

  caf::actor start(size_t max_restarts) {
    ingress_hdl = sys.spawn(ingress_probe, ingress);
    actors::supervisor_config scfg;
    scfg.ingress = ingress_hdl;
    scfg.max_restarts = max_restarts;
    scfg.window = std::chrono::seconds(60);
    scfg.initial_backoff = 100ms;
    scfg.max_backoff = 1s;
    auto chain_ptr = chain;
    auto* count = &spawned_chains;
    bool slow = slow_tail;
    scfg.spawn_chain = [chain_ptr, count, slow](caf::local_actor* self) {
      ++*count;
      *chain_ptr = {self->spawn(stage), slow ? self->spawn(slow_stage)
                                             : self->spawn(stage)};
      return *chain_ptr;
    };
    sup = sys.spawn(actors::supervisor, scfg);
    sched.run();
    return sup;
  }

  void crash_stage(size_t i) {
    caf::anon_send((*chain)[i], -1);
    sched.run();
  }

  std::shared_ptr<down_log> watch(caf::actor target) {
    auto log = std::make_shared<down_log>();
    watchers.push_back(sys.spawn(watcher, target, log));
    sched.run();
    return log;
  }

  // A reply waiting in the mailbox of `self`, without blocking.
  bool replied() {
    bool got = false;
    self->receive([&](caf::ok_atom) { got = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return got;
  }

  // Watchers keep their handles: unreferenced actors die.
  std::vector<caf::actor> watchers;

  ~fixture() {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ingress_hdl, caf::exit_reason::user_shutdown);
    for (auto& a : *chain)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    for (auto& w : watchers)
      caf::anon_send_exit(w, caf::exit_reason::kill);
    sched.run();
    sched.advance_time(10s);
    sched.run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(supervisor_suite, fixture)

BOOST_AUTO_TEST_CASE(the_chain_starts_and_ingress_gets_its_head_as_sink) {
  start(3);
  BOOST_CHECK_EQUAL(spawned_chains, 1);
  BOOST_CHECK_EQUAL(ingress->sinks, 1);
  BOOST_CHECK_EQUAL(ingress->replays, 0);
}

BOOST_AUTO_TEST_CASE(a_crashed_stage_restarts_the_chain_after_backoff_and_replays) {
  start(3);
  auto& restarts = actors::restarts_counter("stage_chain");
  double before = restarts.value();
  crash_stage(1);
  BOOST_CHECK_EQUAL(restarts.value(), before + 1);
  // Not before the 100 ms backoff ...
  sched.advance_time(99ms);
  sched.run();
  BOOST_CHECK_EQUAL(spawned_chains, 1);
  BOOST_CHECK_EQUAL(ingress->replays, 0);
  // ... but right after it, with a replay of the in-flight batches.
  sched.advance_time(1ms);
  sched.run();
  BOOST_CHECK_EQUAL(spawned_chains, 2);
  BOOST_CHECK_EQUAL(ingress->replays, 1);
  // The next failure waits twice as long.
  crash_stage(0);
  sched.advance_time(199ms);
  sched.run();
  BOOST_CHECK_EQUAL(spawned_chains, 2);
  sched.advance_time(1ms);
  sched.run();
  BOOST_CHECK_EQUAL(spawned_chains, 3);
  BOOST_CHECK_EQUAL(ingress->replays, 2);
  BOOST_CHECK(!ingress->exited);
}

BOOST_AUTO_TEST_CASE(too_many_restarts_escalate_instead_of_spinning) {
  auto s = start(2);
  auto log = std::make_shared<down_log>();
  auto w = sys.spawn(watcher, s, log); // keep the handle: unreferenced actors die
  sched.run();
  for (int i = 0; i < 2; ++i) {
    crash_stage(0);
    sched.advance_time(1s);
    sched.run();
  }
  BOOST_CHECK_EQUAL(spawned_chains, 3);
  BOOST_CHECK(!log->down);
  crash_stage(0); // third failure within the window: give up
  BOOST_CHECK(log->down);
  BOOST_CHECK(log->reason); // an error, not a normal exit
  BOOST_CHECK(ingress->exited);
  sched.advance_time(10s);
  sched.run();
  BOOST_CHECK_EQUAL(spawned_chains, 3);
}

BOOST_AUTO_TEST_CASE(the_supervisor_stops_with_ingress) {
  auto s = start(3);
  auto log = std::make_shared<down_log>();
  auto w = sys.spawn(watcher, s, log); // keep the handle: unreferenced actors die
  sched.run();
  caf::anon_send_exit(ingress_hdl, caf::exit_reason::kill);
  sched.run();
  BOOST_CHECK(log->down);
}

BOOST_AUTO_TEST_CASE(a_stop_request_is_answered_once_every_stage_is_down) {
  slow_tail = true;
  auto s = start(3);
  auto sup_down = watch(s);
  auto head_down = watch((*chain)[0]);
  auto tail_down = watch((*chain)[1]);
  self->send(s, stop_atom::value);
  sched.run();
  // The head quit; the tail is still finishing: no answer, no quit yet.
  BOOST_CHECK(head_down->down);
  BOOST_CHECK(!tail_down->down);
  BOOST_CHECK(!sup_down->down);
  BOOST_CHECK(!replied());
  caf::anon_send((*chain)[1], 0); // the tail finishes and quits
  sched.run();
  BOOST_CHECK(tail_down->down);
  BOOST_CHECK(replied());
  BOOST_CHECK(sup_down->down);
  BOOST_CHECK(sup_down->reason == caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_stop_during_the_restart_backoff_spawns_no_new_chain) {
  auto s = start(3);
  auto sup_down = watch(s);
  crash_stage(0);
  self->send(s, stop_atom::value);
  sched.run();
  BOOST_CHECK(replied());
  BOOST_CHECK(sup_down->down);
  sched.advance_time(10s);
  sched.run();
  BOOST_CHECK_EQUAL(spawned_chains, 1);
  BOOST_CHECK_EQUAL(ingress->replays, 0);
}

BOOST_AUTO_TEST_CASE(when_ingress_ends_the_supervisor_quits_after_its_last_stage) {
  slow_tail = true;
  auto s = start(3);
  auto sup_down = watch(s);
  auto tail_down = watch((*chain)[1]);
  caf::anon_send_exit(ingress_hdl, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_CHECK(!sup_down->down);
  caf::anon_send((*chain)[1], 0);
  sched.run();
  BOOST_CHECK(tail_down->down);
  BOOST_CHECK(sup_down->down);
}

BOOST_AUTO_TEST_CASE(an_exit_message_takes_the_chain_down_with_the_supervisor) {
  auto s = start(3);
  auto sup_down = watch(s);
  auto head_down = watch((*chain)[0]);
  auto tail_down = watch((*chain)[1]);
  caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_CHECK(head_down->down);
  BOOST_CHECK(tail_down->down);
  BOOST_CHECK(sup_down->down);
}

BOOST_AUTO_TEST_SUITE_END()
