#include "actors/retention.hpp"

#include <spdlog/spdlog.h>

#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("rettick")>;

caf::expected<storage::retention_result>
pass(caf::stateful_actor<retention_state>* self, const retention_config& cfg) {
  auto& st = self->state;
  if (!st.store) {
    auto s = storage::governance_store::connect(cfg.postgres_url);
    if (!s)
      return s.error();
    st.store = std::move(*s);
  }
  auto r = st.store->apply_retention(cfg.policy, cfg.embedder.get());
  st.runs->inc();
  if (!r) {
    st.errors->inc();
    st.store.reset();
    return r.error();
  }
  count_retention(*r);
  if (r->rows_deleted > 0 || r->sessions_closed > 0)
    spdlog::info("[retention] closed {} idle sessions, deleted {} sessions, "
                 "{} activities, {} memories ({} rows); {} turns lost their "
                 "deleted context{}",
                 r->sessions_closed, r->sessions_deleted,
                 r->activities_deleted, r->memories_deleted, r->rows_deleted,
                 r->contexts_cleared,
                 cfg.embedder ? " and were re-embedded" : "");
  return r;
}

} // namespace

void count_retention(const storage::retention_result& r) {
  auto& reg = metrics::global();
  const char* help = "What retention policies removed, by kind "
                     "(sessions_closed counts sessions given an end).";
  auto add = [&](const char* kind, int64_t n) {
    reg.get_counter("agentmem_retention_removed_total", help,
                    {{"kind", kind}})
      .inc(static_cast<double>(n));
  };
  add("sessions_closed", r.sessions_closed);
  add("sessions", r.sessions_deleted);
  add("activities", r.activities_deleted);
  add("memories", r.memories_deleted);
  add("rows", r.rows_deleted);
  add("contexts_cleared", r.contexts_cleared);
}

caf::behavior retention(caf::stateful_actor<retention_state>* self,
                        retention_config cfg) {
  auto& reg = metrics::global();
  self->state.errors = &reg.get_counter("agentmem_retention_errors_total",
                                        "Failed retention passes.");
  self->state.runs = &reg.get_counter("agentmem_retention_runs_total",
                                      "Retention passes run.");
  count_retention({});
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      if (auto r = pass(self, cfg); !r)
        spdlog::warn("[retention] pass failed: {}", describe(r.error()));
      self->delayed_send(self, cfg.interval, tick_atom::value);
    },
    [=](retention_run_atom) -> caf::result<int64_t, int64_t, int64_t> {
      auto r = pass(self, cfg);
      if (!r)
        return r.error();
      return {r->sessions_closed, r->sessions_deleted, r->memories_deleted};
    },
  };
}

} // namespace agentmem::actors
