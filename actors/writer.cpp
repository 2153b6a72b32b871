#include "actors/writer.hpp"

#include <map>
#include <string_view>

#include <spdlog/spdlog.h>

#include "actors/capture.hpp"
#include "actors/fault_injection.hpp"
#include "actors/poison_isolation.hpp"
#include "kafka/dead_letter.hpp"
#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

namespace {

using retry_atom = caf::atom_constant<caf::atom("wretry")>;

// Adds each of `items` to counter `name` under `label` = label_of(item),
// with one registry lookup per distinct label: a lookup per item was ~1 µs
// of the writer's time per memory, which the next batch waits for.
template <class Items, class LabelOf>
void count_by_label(metrics::registry& reg, const std::string& name,
                    const std::string& help, const std::string& label,
                    const Items& items, LabelOf label_of) {
  std::map<std::string_view, double> counts;
  for (auto& item : items)
    counts[label_of(item)] += 1;
  for (auto [value, n] : counts)
    reg.get_counter(name, help, {{label, std::string{value}}}).inc(n);
}

// One attempt at the head of the queue; returns an error to retry later.
caf::error commit_head(caf::stateful_actor<writer_state>* self,
                       const writer_config& cfg) {
  auto& st = self->state;
  auto& b = st.pending.front();
  if (!b.dead_letters.empty() && cfg.dlq_producer) {
    if (auto err = kafka::produce_dead_letters(*cfg.dlq_producer, cfg.dlq_topic,
                                               b.dead_letters,
                                               std::chrono::seconds(10)))
      return err;
  }
  if (!st.store) {
    auto s = storage::postgres_store::connect(cfg.postgres_url);
    if (!s)
      return s.error();
    st.store = std::move(*s);
    st.store->set_analytics_options(cfg.analytics);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto res = st.store->commit_batch(b, cfg.consumer_group, cfg.embedding_model);
  if (!res && storage::is_data_rejection(res.error())) {
    // Retrying would fail forever: commit around the rejected events and
    // dead-letter them (actors/poison_isolation.hpp).
    poison_isolation_config pc{cfg.consumer_group, cfg.embedding_model,
                               cfg.dlq_producer.get(), cfg.dlq_topic};
    res = isolate_rejected_events(*st.store, b, res.error(), pc);
  }
  if (!res) {
    st.store.reset(); // reconnect on the next attempt
    return res.error();
  }
  // Derived state follows what the transaction decided (dedup, summaries).
  storage::apply_memory_changes(b, res->changes);
  b.seq_first = res->seq_first <= res->seq_last ? res->seq_first : 0;
  b.seq_last = res->seq_first <= res->seq_last ? res->seq_last : 0;
  if (cfg.applied)
    cfg.applied->pending(b.seq_first, b.seq_last);
  count_by_label(metrics::global(), "agentmem_memory_operations_total",
                 "Versioned memories committed, by mem0 operation "
                 "(ADD, UPDATE, NOOP).",
                 "event", res->changes, [](const auto& ch) {
                   return std::string_view{storage::to_string(ch.event)};
                 });
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
  st.commit_latency->observe(d.count());
  if (!res->tombstones.empty()) {
    // Deleted while this batch was in flight (capture's set was stale):
    // drop the same rows from the batch and undo extraction's buffer
    // writes.
    // (After apply_memory_changes: change indices refer to the batch as
    // committed, before this filtering.)
    domain::tombstone_map t{res->tombstones.begin(), res->tombstones.end()};
    domain::drop_tombstoned(b, t);
    for (auto& [user, cutoff] : res->tombstones) {
      if (cfg.tombstones)
        cfg.tombstones->put(user, cutoff);
      if (cfg.hot)
        if (auto n = cfg.hot->erase_user(user, cutoff, false); !n)
          return n.error();
      if (cfg.working)
        if (auto n = cfg.working->erase_user(user, cutoff, false); !n)
          return n.error();
      if (cfg.embedder)
        if (auto err = cfg.embedder->forget_cached())
          return err;
    }
    if (res->tombstoned > 0)
      tombstoned_counter().inc(static_cast<double>(res->tombstoned));
  }
  auto& reg = metrics::global();
  for (auto& dl : b.dead_letters) {
    reg.get_counter("agentmem_events_dead_lettered_total",
                    "Events sent to the dead-letter topic, by reason.",
                    {{"reason", dl.reason_code}})
      .inc();
  }
  for (auto [disposition, n] :
       {std::pair{"within_grace", res->late_within_grace},
        std::pair{"after_grace", res->late_after_grace}})
    reg.get_counter("agentmem_late_events_total",
                    "New events older than their partition's stream time, "
                    "by disposition: within_grace (their hourly window was "
                    "still open) or after_grace (it had closed: counted, and "
                    "a correction emitted).",
                    {{"disposition", disposition}})
      .inc(static_cast<double>(n));
  reg.get_counter("agentmem_analytics_windows_closed_total",
                  "Hourly analytics windows closed by the watermark (final "
                  "records written to the outbox).")
    .inc(static_cast<double>(res->windows_closed));
  reg.get_counter("agentmem_analytics_corrections_total",
                  "Correction records of closed windows written to the "
                  "outbox (late events after the grace).")
    .inc(static_cast<double>(res->corrections_emitted));
  reg.get_counter("agentmem_events_duplicate_total",
                  "Redelivered events already stored (skipped).")
    .inc(static_cast<double>(res->duplicate_activities));
  count_by_label(reg, "agentmem_memories_total",
                 "Memories derived and committed, by memory type.",
                 "memory_type", b.memories, [](const auto& m) {
                   return std::string_view{m.memory_type};
                 });
  count_by_label(reg, "agentmem_facts_total",
                 "Facts and preferences extracted and committed, by kind.",
                 "kind", b.knowledge.facts, [](const auto& f) {
                   return std::string_view{f.kind};
                 });
  reg.get_counter("agentmem_entity_mentions_total",
                  "Entity mentions extracted and committed.")
    .inc(static_cast<double>(b.knowledge.mentions.size()));
  return caf::none;
}

void drain(caf::stateful_actor<writer_state>* self, const writer_config& cfg) {
  auto& st = self->state;
  while (!st.pending.empty() && !st.retry_scheduled) {
    auto start = stage_metrics::begin();
    if (auto err = commit_head(self, cfg)) {
      cfg.status->postgres_ok = false;
      st.retries->inc();
      spdlog::warn("[writer] batch {} failed, retrying in {} ms: {}",
                   st.pending.front().id, st.backoff.count(), describe(err));
      st.retry_scheduled = true;
      self->delayed_send(self, st.backoff, retry_atom::value);
      st.backoff = std::min(st.backoff * 2, cfg.max_backoff);
      return;
    }
    cfg.status->postgres_ok = true;
    st.backoff = std::chrono::milliseconds{100};
    st.metrics.done(start);
    self->send(cfg.next, std::move(st.pending.front()));
    st.pending.pop_front();
  }
}

} // namespace

caf::behavior writer(caf::stateful_actor<writer_state>* self,
                     writer_config cfg) {
  auto& reg = metrics::global();
  self->state.commit_latency = &reg.get_histogram(
    "agentmem_postgres_commit_duration_seconds",
    "Duration of one batch transaction in Postgres.",
    metrics::latency_buckets());
  self->state.retries = &reg.get_counter(
    "agentmem_postgres_retries_total",
    "Batch commits retried after a Postgres or DLQ failure.");
  return {
    [=](batch& b) {
      fault_point("writer");
      self->state.pending.push_back(std::move(b));
      drain(self, cfg);
    },
    [=](retry_atom) {
      self->state.retry_scheduled = false;
      drain(self, cfg);
    },
  };
}

} // namespace agentmem::actors
