#include "actors/membership.hpp"

#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"

namespace agentmem::actors {

void cluster_view::update(storage::routing_table t) {
  auto p = std::make_shared<const storage::routing_table>(std::move(t));
  std::lock_guard<std::mutex> guard{mtx_};
  table_ = std::move(p);
  read_at_ = std::chrono::steady_clock::now();
}

std::shared_ptr<const storage::routing_table> cluster_view::table() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return table_;
}

std::optional<storage::partition_owner>
cluster_view::owner(int32_t partition) const {
  auto t = table();
  if (!t)
    return std::nullopt;
  for (auto& o : t->owners)
    if (o.partition == partition)
      return o;
  return std::nullopt;
}

int64_t cluster_view::age_ms() const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!table_)
    return INT64_MAX / 2;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now() - read_at_)
    .count();
}

std::optional<std::string>
cluster_view::live_address(const std::string& node_id) const {
  auto t = table();
  if (!t || node_id.empty())
    return std::nullopt;
  auto since_read = age_ms();
  for (auto& n : t->nodes)
    if (n.node_id == node_id) {
      if (n.heartbeat_age_ms + since_read > node_timeout_.count())
        return std::nullopt;
      return n.http_address;
    }
  return std::nullopt;
}

namespace {

using beat_atom = caf::atom_constant<caf::atom("mbeat")>;

caf::error beat(caf::stateful_actor<membership_state>* self,
                const membership_config& cfg) {
  auto& st = self->state;
  if (!st.store) {
    auto s = storage::routing_store::connect(cfg.postgres_url);
    if (!s)
      return s.error();
    st.store = std::move(*s);
  }
  auto shards = cfg.shards->list();
  int64_t points = 0;
  for (auto& s : shards)
    points += static_cast<int64_t>(s.points);
  if (auto err = st.store->heartbeat(cfg.node_id, cfg.http_address,
                                     static_cast<int64_t>(shards.size()),
                                     points))
    return err;
  auto t = st.store->read(cfg.group, cfg.topic);
  if (!t)
    return t.error();
  cfg.view->update(std::move(*t));
  int live = 0;
  for (auto& n : cfg.view->table()->nodes)
    live += cfg.view->live_address(n.node_id) ? 1 : 0;
  st.live_nodes->set(live);
  return caf::none;
}

} // namespace

caf::behavior membership(caf::stateful_actor<membership_state>* self,
                         membership_config cfg) {
  auto& reg = metrics::global();
  self->state.errors = &reg.get_counter(
    "agentmem_membership_errors_total",
    "Failed heartbeats or routing-table reads of this node.");
  self->state.live_nodes = &reg.get_gauge(
    "agentmem_cluster_nodes_alive",
    "Nodes whose heartbeat is within the liveness window, as this node "
    "last read the routing table.");
  self->send(self, beat_atom::value);
  return {
    [=](beat_atom) {
      if (auto err = beat(self, cfg)) {
        self->state.errors->inc();
        self->state.store.reset();
        spdlog::warn("[membership] {}", describe(err));
      }
      self->delayed_send(self, cfg.interval, beat_atom::value);
    },
    [=](stop_atom) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.store) {
        if (auto err = st.store->remove_node(cfg.node_id))
          spdlog::warn("[membership] leaving the routing table: {}",
                       describe(err));
      }
      self->quit();
      return caf::ok_atom::value;
    },
  };
}

} // namespace agentmem::actors
