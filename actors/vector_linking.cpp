#include "actors/vector_linking.hpp"

#include <spdlog/spdlog.h>
#include <stdexcept>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

namespace {

using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;

caf::error snapshot(caf::stateful_actor<vector_linking_state>* self,
                    const vector_linking_config& cfg) {
  auto& st = self->state;
  if (st.watermark == st.saved_watermark)
    return caf::none;
  if (auto err = cfg.hot->flush())
    return err;
  if (auto err = cfg.index->save(st.watermark))
    return err;
  st.saved_watermark = st.watermark;
  return caf::none;
}

} // namespace

caf::behavior vector_linking(caf::stateful_actor<vector_linking_state>* self,
                             vector_linking_config cfg) {
  self->state.watermark = cfg.index->watermark();
  self->state.saved_watermark = self->state.watermark;
  self->state.vectors = &metrics::global().get_gauge(
    "agentmem_index_vectors", "Points in the memories collection.");
  self->state.vectors->set(static_cast<double>(cfg.index->size()));
  return {
    [=](batch& b) {
      auto start = std::chrono::steady_clock::now();
      auto added = cfg.index->upsert(b.memories);
      if (!added)
        throw std::runtime_error("vector index: " + describe(added.error()));
      if (auto err = cfg.hot->put_docs(b.memories, "memory_seq",
                                       b.memory_seq_watermark))
        throw std::runtime_error("hot state: " + describe(err));
      auto& st = self->state;
      st.watermark = std::max(st.watermark, b.memory_seq_watermark);
      cfg.index->set_watermark(st.watermark);
      st.vectors->set(static_cast<double>(cfg.index->size()));
      st.metrics.done(start);
      batch_ack ack;
      ack.id = b.id;
      ack.offsets = std::move(b.offsets);
      ack.created_ns = b.created_ns;
      ack.events = b.activities.size() + b.dead_letters.size();
      self->send(cfg.ingress, std::move(ack));
      if (!st.snapshot_scheduled) {
        st.snapshot_scheduled = true;
        self->delayed_send(self, cfg.snapshot_interval, snapshot_atom::value);
      }
    },
    [=](snapshot_atom) {
      self->state.snapshot_scheduled = false;
      if (auto err = snapshot(self, cfg))
        spdlog::error("[vector_linking] snapshot failed: {}", describe(err));
    },
    [=](flush_atom) -> caf::result<caf::ok_atom> {
      if (auto err = snapshot(self, cfg))
        return err;
      return caf::ok_atom::value;
    },
  };
}

} // namespace agentmem::actors
