#include "actors/index_sync.hpp"

#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/derived_sync.hpp"

namespace agentmem::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("isynctick")>;

} // namespace

void count_deleted(const storage::deletion_sync_result& r) {
  auto& reg = metrics::global();
  const char* help = "Items removed from this node's derived state by "
                     "user deletion and retention, by store.";
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "vector_index"}})
    .inc(static_cast<double>(r.vectors));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "keyword_index"}})
    .inc(static_cast<double>(r.keyword_docs));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "rocksdb"}})
    .inc(static_cast<double>(r.hot.messages + r.hot.sessions + r.hot.docs));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "working_memory"}})
    .inc(static_cast<double>(r.working.items + r.working.sessions));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "embedding_cache"}})
    .inc(static_cast<double>(r.caches_cleared));
  reg.get_counter("agentmem_deletion_log_applied_total",
                  "Deletions-log entries applied by this node.")
    .inc(static_cast<double>(r.entries));
}

storage::derived_stores derived_stores_of(const index_sync_config& cfg) {
  return {cfg.index.get(), cfg.keywords.get(), cfg.hot.get(),
          cfg.working.get(), cfg.embedder.get()};
}

namespace {

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
                                         max_pages, cfg.applied.get());
  if (!res) {
    st.store.reset();
    return res.error();
  }
  st.watermark = res->watermark;
  st.watermark_gauge->set(static_cast<double>(st.watermark));
  // Points this pass added (other nodes' memories) count too, also when
  // this node's own pipeline is idle.
  st.vectors_gauge->set(static_cast<double>(cfg.index->size()));
  // Deletions after memories: a memory read above was committed before any
  // deletion read below that could cover it.
  if (!st.gov) {
    auto g = storage::governance_store::connect(cfg.postgres_url);
    if (!g)
      return g.error();
    st.gov = std::move(*g);
  }
  auto del = storage::sync_deletions(*st.gov, derived_stores_of(cfg),
                                     cfg.tombstones.get(), st.deletion_seq);
  if (!del) {
    st.gov.reset();
    return del.error();
  }
  if (del->entries > 0) {
    count_deleted(*del);
    st.deletion_seq = del->seq;
    st.deletion_gauge->set(static_cast<double>(st.deletion_seq));
  }
  return caf::none;
}

caf::error snapshot(caf::stateful_actor<index_sync_state>* self,
                    const index_sync_config& cfg) {
  auto& st = self->state;
  st.last_snapshot = std::chrono::steady_clock::now();
  if (st.watermark == st.saved_watermark
      && st.deletion_seq == st.saved_deletion_seq)
    return caf::none;
  st.saved_deletion_seq = st.deletion_seq;
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
  st.vectors_gauge = &reg.get_gauge("agentmem_index_vectors",
                                    "Points in the memories collection.");
  st.errors = &reg.get_counter("agentmem_index_sync_errors_total",
                               "Failed passes of the index tailer.");
  st.deletion_seq = cfg.deletion_seq;
  st.saved_deletion_seq = st.deletion_seq;
  st.deletion_gauge = &reg.get_gauge(
    "agentmem_deletion_watermark_seq",
    "Highest deletions.seq applied to this node's index and hot state.");
  st.deletion_gauge->set(static_cast<double>(st.deletion_seq));
  count_deleted({});
  st.watermark_gauge->set(static_cast<double>(st.watermark));
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      auto deletions_before = st.deletion_seq;
      if (auto err = sync_once(self, cfg, 4)) {
        st.errors->inc();
        spdlog::warn("[index_sync] {}", describe(err));
      } else if (st.deletion_seq != deletions_before
                 || std::chrono::steady_clock::now() - st.last_snapshot
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
