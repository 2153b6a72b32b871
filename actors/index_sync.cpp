#include "actors/index_sync.hpp"

#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/derived_sync.hpp"

namespace agentmem::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("isynctick")>;

// One bounded sync pass; `max_pages` 0 means until the end.
caf::error sync_once(caf::stateful_actor<index_sync_state>* self,
                     const index_sync_config& cfg, size_t max_pages) {
  auto& st = self->state;
  if (!st.store) {
    auto s = storage::postgres_store::connect(cfg.postgres_url);
    if (!s)
      return s.error();
    st.store = std::move(*s);
  }
  auto res = storage::sync_derived_state(*st.store, *cfg.index, *cfg.keywords,
                                         *cfg.hot, st.watermark, 5000,
                                         max_pages);
  if (!res) {
    st.store.reset();
    return res.error();
  }
  st.watermark = res->watermark;
  st.watermark_gauge->set(static_cast<double>(st.watermark));
  return caf::none;
}

caf::error snapshot(caf::stateful_actor<index_sync_state>* self,
                    const index_sync_config& cfg) {
  auto& st = self->state;
  st.last_snapshot = std::chrono::steady_clock::now();
  if (st.watermark == st.saved_watermark)
    return caf::none;
  if (auto err = cfg.hot->flush())
    return err;
  if (auto err = cfg.index->save(st.watermark))
    return err;
  if (auto err = cfg.keywords->save(st.watermark))
    return err;
  st.saved_watermark = st.watermark;
  return caf::none;
}

} // namespace

caf::behavior index_sync(caf::stateful_actor<index_sync_state>* self,
                         index_sync_config cfg) {
  auto& st = self->state;
  st.watermark = cfg.index->watermark();
  st.saved_watermark = st.watermark;
  st.last_snapshot = std::chrono::steady_clock::now();
  auto& reg = metrics::global();
  st.watermark_gauge = &reg.get_gauge(
    "agentmem_index_watermark_seq",
    "Highest memories.seq contained in this node's index and hot state.");
  st.errors = &reg.get_counter("agentmem_index_sync_errors_total",
                               "Failed passes of the index tailer.");
  st.watermark_gauge->set(static_cast<double>(st.watermark));
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      if (auto err = sync_once(self, cfg, 4)) {
        st.errors->inc();
        spdlog::warn("[index_sync] {}", describe(err));
      } else if (std::chrono::steady_clock::now() - st.last_snapshot
                 >= cfg.snapshot_interval) {
        if (auto err = snapshot(self, cfg))
          spdlog::error("[index_sync] snapshot failed: {}", describe(err));
      }
      self->delayed_send(self, cfg.interval, tick_atom::value);
    },
    [=](flush_atom) -> caf::result<caf::ok_atom> {
      if (auto err = sync_once(self, cfg, 0))
        return err;
      if (auto err = snapshot(self, cfg))
        return err;
      return caf::ok_atom::value;
    },
  };
}

} // namespace agentmem::actors
