#include "actors/analytics_publisher.hpp"

#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("antick")>;

caf::expected<size_t>
pass(caf::stateful_actor<analytics_publisher_state>* self,
     const analytics_publisher_config& cfg) {
  auto& st = self->state;
  if (!st.store) {
    auto s = storage::analytics_store::connect(cfg.postgres_url);
    if (!s)
      return s.error();
    st.store = std::move(*s);
  }
  auto n = st.store->relay_outbox(
    cfg.max_records,
    [&](const std::vector<storage::analytics_record>& xs) -> caf::error {
      for (auto& x : xs)
        if (auto err = cfg.producer->produce(cfg.topic, x.key, x.payload))
          return err;
      return cfg.producer->flush(cfg.flush_timeout);
    });
  if (!n) {
    st.store.reset();
    return n.error();
  }
  st.published->inc(static_cast<double>(*n));
  if (auto pending = st.store->outbox_pending())
    st.pending->set(static_cast<double>(*pending));
  return n;
}

} // namespace

caf::behavior analytics_publisher(
  caf::stateful_actor<analytics_publisher_state>* self,
  analytics_publisher_config cfg) {
  auto& reg = metrics::global();
  self->state.published = &reg.get_counter(
    "agentmem_analytics_records_published_total",
    "Records of agent.analytics.v1 acknowledged by Kafka (final and "
    "corrections).");
  self->state.errors = &reg.get_counter(
    "agentmem_analytics_publish_errors_total",
    "Failed relay passes of the analytics outbox (retried).");
  self->state.pending = &reg.get_gauge(
    "agentmem_analytics_outbox_pending",
    "Records in the analytics outbox not yet acknowledged by Kafka.");
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      auto n = pass(self, cfg);
      if (!n) {
        self->state.errors->inc();
        spdlog::warn("[analytics] publishing failed, retrying: {}",
                     describe(n.error()));
      }
      if (n && *n == cfg.max_records)
        self->send(self, tick_atom::value);
      else
        self->delayed_send(self, cfg.interval, tick_atom::value);
    },
    [=](flush_atom) -> caf::result<uint64_t> {
      uint64_t total = 0;
      for (;;) {
        auto n = pass(self, cfg);
        if (!n) {
          self->state.errors->inc();
          return n.error();
        }
        total += *n;
        if (*n == 0)
          return total;
      }
    },
  };
}

} // namespace agentmem::actors
