#include "actors/supervisor.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/stage_metrics.hpp"
#include "messages/atoms.hpp"
#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

using self_ptr = caf::stateful_actor<supervisor_state>*;

void start_chain(self_ptr self, const supervisor_config& cfg, bool replay) {
  auto& st = self->state;
  st.chain = cfg.spawn_chain(self);
  for (auto& a : st.chain) {
    self->monitor(a);
    st.live.push_back(a.address());
  }
  if (replay)
    self->send(cfg.ingress, replay_atom::value, st.chain.front());
  else
    self->send(cfg.ingress, sink_atom::value, st.chain.front());
}

// Quits once the last stage is down, answering the stop requests first.
void quit_when_down(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping || !st.live.empty())
    return;
  for (auto& rp : st.stop_promises)
    rp.deliver(caf::ok_atom::value);
  st.stop_promises.clear();
  self->quit(st.stop_reason);
}

// Tells every live stage to exit; the first reason given is the one the
// supervisor quits with.
void wind_down(self_ptr self, caf::error reason) {
  auto& st = self->state;
  if (!st.stopping) {
    st.stopping = true;
    st.stop_reason = std::move(reason);
    for (auto& a : st.live)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    st.chain.clear();
  }
  quit_when_down(self);
}

} // namespace

caf::behavior supervisor(self_ptr self, supervisor_config cfg) {
  self->monitor(cfg.ingress);
  self->state.backoff = cfg.initial_backoff;
  // Exposed at 0 from the start: a restart then shows as an increase.
  restarts_counter("stage_chain");
  start_chain(self, cfg, false);
  self->set_exit_handler(
    [=](caf::exit_msg& em) { wind_down(self, std::move(em.reason)); });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == cfg.ingress) {
      if (dm.reason)
        spdlog::error("[supervisor] ingress died: {}",
                      self->system().render(dm.reason));
      wind_down(self, dm.reason);
      return;
    }
    st.live.erase(std::remove(st.live.begin(), st.live.end(), dm.source),
                  st.live.end());
    if (st.stopping) {
      quit_when_down(self);
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
    if (st.restarts.size() > cfg.max_restarts) {
      spdlog::critical("[supervisor] {} restarts within {} s, giving up: {}",
                       st.restarts.size(), cfg.window.count(), who);
      self->send_exit(cfg.ingress, caf::exit_reason::user_shutdown);
      wind_down(self, dm.reason ? dm.reason
                                : make_error(errc::io_error, "stage stopped"));
      return;
    }
    for (auto& a : st.chain)
      if (a != dm.source)
        self->send_exit(a, caf::exit_reason::user_shutdown);
    st.chain.clear();
    spdlog::warn("[supervisor] stage died ({}), restarting chain in {} ms",
                 who, st.backoff.count());
    st.restarting = true;
    self->delayed_send(self, st.backoff, restart_atom::value);
    st.backoff = std::min(st.backoff * 2, cfg.max_backoff);
  });
  return {
    [=](restart_atom) {
      self->state.restarting = false;
      if (!self->state.stopping)
        start_chain(self, cfg, true);
    },
    [=](stop_atom) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise();
      self->state.stop_promises.push_back(rp);
      wind_down(self, caf::exit_reason::user_shutdown);
      return rp;
    },
  };
}

} // namespace agentmem::actors
