#include "actors/supervisor.hpp"

#include <spdlog/spdlog.h>

#include "actors/stage_metrics.hpp"
#include "messages/atoms.hpp"
#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

void start_chain(caf::stateful_actor<supervisor_state>* self,
                 const supervisor_config& cfg, bool replay) {
  auto& st = self->state;
  st.chain = cfg.spawn_chain(self);
  for (auto& a : st.chain)
    self->monitor(a);
  if (replay)
    self->send(cfg.ingress, replay_atom::value, st.chain.front());
  else
    self->send(cfg.ingress, sink_atom::value, st.chain.front());
}

} // namespace

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_config cfg) {
  self->monitor(cfg.ingress);
  self->state.backoff = cfg.initial_backoff;
  // Exposed at 0 from the start: a restart then shows as an increase.
  restarts_counter("stage_chain");
  start_chain(self, cfg, false);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == cfg.ingress) {
      if (dm.reason)
        spdlog::error("[supervisor] ingress died: {}",
                      self->system().render(dm.reason));
      for (auto& a : st.chain)
        self->send_exit(a, caf::exit_reason::user_shutdown);
      self->quit(dm.reason);
      return;
    }
    auto it = std::find(st.chain.begin(), st.chain.end(), dm.source);
    if (it == st.chain.end() || st.restarting)
      return; // a stage we stopped ourselves, or of an older chain
    std::string who = self->system().render(dm.reason);
    restarts_counter("stage_chain").inc();
    auto now = std::chrono::steady_clock::now();
    st.restarts.push_back(now);
    while (!st.restarts.empty() && now - st.restarts.front() > cfg.window)
      st.restarts.pop_front();
    if (st.restarts.size() == 1)
      st.backoff = cfg.initial_backoff; // first failure after a quiet window
    for (auto& a : st.chain)
      if (a != dm.source)
        self->send_exit(a, caf::exit_reason::user_shutdown);
    st.chain.clear();
    if (st.restarts.size() > cfg.max_restarts) {
      spdlog::critical("[supervisor] {} restarts within {} s, giving up: {}",
                       st.restarts.size(), cfg.window.count(), who);
      self->send_exit(cfg.ingress, caf::exit_reason::user_shutdown);
      self->quit(dm.reason ? dm.reason
                           : make_error(errc::io_error, "stage stopped"));
      return;
    }
    spdlog::warn("[supervisor] stage died ({}), restarting chain in {} ms",
                 who, st.backoff.count());
    st.restarting = true;
    self->delayed_send(self, st.backoff, restart_atom::value);
    st.backoff = std::min(st.backoff * 2, cfg.max_backoff);
  });
  return {
    [=](restart_atom) {
      self->state.restarting = false;
      start_chain(self, cfg, true);
    },
  };
}

} // namespace agentmem::actors
