#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <vector>

#include <caf/all.hpp>

namespace agentmem::actors {

/// Restart policy of the supervisor (one_for_all over the stage chain).
struct supervisor_config {
  /// Spawns the whole stage chain (monitored by the caller) and returns
  /// its actors, head (capture) first.
  std::function<std::vector<caf::actor>(caf::local_actor*)> spawn_chain;
  caf::actor ingress;
  size_t max_restarts = 5;                  ///< within `window` ...
  std::chrono::seconds window{60};          ///< ... else escalate
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
};

/// State of the supervisor.
struct supervisor_state {
  static inline const char* name = "supervisor";
  std::vector<caf::actor> chain; ///< the current chain, head first
  /// Every stage spawned and not down yet: the current chain and stages of
  /// a failed one still exiting.
  std::vector<caf::actor_addr> live;
  std::deque<std::chrono::steady_clock::time_point> restarts;
  std::chrono::milliseconds backoff{0};
  bool restarting = false;
  /// Winding down: every live stage was told to exit; the supervisor
  /// quits with `stop_reason` once the last one is down.
  bool stopping = false;
  caf::error stop_reason;
  std::vector<caf::response_promise> stop_promises; ///< stop_atom requests
};

/// Supervisor: owns the stage chain (capture -> extraction -> embedding ->
/// aggregation -> writer -> vector linking). When any stage dies abnormally
/// it stops the rest, waits an exponential backoff (doubling from
/// initial_backoff up to max_backoff), respawns the chain and tells ingress
/// to replay its unacknowledged batches into it (every stage is idempotent,
/// so a replayed batch changes nothing twice). More than max_restarts
/// restarts within `window` escalate: the supervisor quits with the stage's
/// error and the process exits non-zero instead of spinning. It also dies
/// with ingress.
///
/// It is the only owner of the chain: `stop_atom` (request) tells every
/// stage to exit and replies `ok_atom` once all of them are down, then the
/// supervisor quits (exit_reason::user_shutdown). Whatever ends it (stop,
/// ingress down, escalation, an exit message) it quits only after its last
/// stage is down, so waiting for the supervisor waits for the whole chain.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_config cfg);

} // namespace agentmem::actors
