#include "actors/ingress.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <stdexcept>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"

namespace agentmem::actors {

namespace {

using hold_timeout_atom = caf::atom_constant<caf::atom("ighold")>;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void update_lag(ingress_state& st) {
  auto now = std::chrono::steady_clock::now();
  if (now - st.last_lag_update < std::chrono::seconds(1))
    return;
  st.last_lag_update = now;
  for (auto& l : st.consumer->lag()) {
    metrics::global()
      .get_gauge("agentmem_consumer_lag_records",
                 "Records between the consumer position and the high "
                 "watermark, per partition.",
                 {{"topic", l.topic},
                  {"partition", std::to_string(l.partition)}})
      .set(static_cast<double>(l.lag));
  }
}

void set_paused(ingress_state& st, bool paused) {
  if (st.paused == paused)
    return;
  if (paused)
    st.consumer->pause_all();
  else
    st.consumer->resume_all();
  st.paused = paused;
  st.paused_gauge->set(paused ? 1 : 0);
}

void finish_stop(caf::stateful_actor<ingress_state>* self) {
  auto& st = self->state;
  st.consumer->close();
  st.stop_promise.deliver(caf::ok_atom::value);
  self->quit();
}

// Sends the open batch to the sink and keeps it until acknowledged.
void close_batch(ingress_state& st, caf::stateful_actor<ingress_state>* self) {
  batch b;
  b.id = st.next_id++;
  b.created_ns = now_ns();
  // Next offset per partition (records of a partition arrive in order).
  std::map<std::pair<std::string, int32_t>, int64_t> next;
  int64_t oldest = -1;
  for (auto& r : st.open) {
    auto& n = next[{r.source.topic, r.source.partition}];
    n = std::max(n, r.source.offset + 1);
    if (r.timestamp_ms >= 0 && (oldest < 0 || r.timestamp_ms < oldest))
      oldest = r.timestamp_ms;
  }
  for (auto& [tp, off] : next)
    b.offsets.push_back({tp.first, tp.second, off});
  b.oldest_record_ts_ms = oldest;
  b.records = std::move(st.open);
  st.open.clear();
  st.consumed->inc(static_cast<double>(b.records.size()));
  st.batch_size->observe(static_cast<double>(b.records.size()));
  st.in_flight.emplace(b.id, b);
  st.in_flight_gauge->set(static_cast<double>(st.in_flight.size()));
  self->send(st.sink, std::move(b));
}

// One poll round (see ingress() for the batching rule).
void poll_once(caf::stateful_actor<ingress_state>* self,
               const ingress_config& cfg) {
  auto& st = self->state;
  if (st.stopping)
    return;
  if (st.in_flight.size() < cfg.max_in_flight) {
    set_paused(st, false);
  } else if (!st.paused) {
    // At the limit: hold (see ingress()). No poll is scheduled; the next
    // ack, or the timeout below, restarts the loop.
    st.holding = true;
    self->delayed_send(self, cfg.pause_after, hold_timeout_atom::value,
                       ++st.hold_seq);
    return;
  }
  const size_t ready_below = std::max<size_t>(1, cfg.max_in_flight / 2);
  // Nothing open: block until records arrive (bounded, to serve messages).
  // A batch open while the pipeline is busy: short polls, so that an ack
  // is noticed within ~2 ms. Paused: keep serving the group.
  auto wait = st.paused ? std::chrono::milliseconds{10}
              : st.open.empty() ? cfg.max_batch_wait
                                : std::chrono::milliseconds{2};
  size_t room = cfg.max_batch_records > st.open.size()
                  ? cfg.max_batch_records - st.open.size()
                  : 0;
  size_t got = 0;
  if (room > 0) {
    auto more = st.consumer->poll_batch(st.paused ? 1 : room, wait);
    // After a fatal error the consumer fetches nothing more and the node
    // would poll a dead handle for ever, looking idle. Ingress stops with
    // the error instead: the supervisor winds the stages down (batches in
    // flight commit or are replayed from the stored offsets) and `agentmem`
    // exits non-zero, for its process manager to start it again.
    if (auto err = st.consumer->fatal_error()) {
      spdlog::error("[ingress] stopping: {}", describe(err));
      self->quit(std::move(err));
      return;
    }
    got = more.size();
    if (st.open.empty())
      st.open = std::move(more);
    else
      st.open.insert(st.open.end(), std::make_move_iterator(more.begin()),
                     std::make_move_iterator(more.end()));
  }
  update_lag(st);
  bool full = st.open.size() >= cfg.max_batch_records;
  bool drained = got < room; // poll_batch returned what was buffered
  bool pipeline_ready = st.in_flight.size() < ready_below;
  if (!st.open.empty() && (full || (drained && pipeline_ready)))
    close_batch(st, self);
  self->send(self, poll_atom::value);
}

} // namespace

caf::behavior ingress(caf::stateful_actor<ingress_state>* self,
                      ingress_config cfg) {
  auto& st = self->state;
  auto& reg = metrics::global();
  st.consumed = &reg.get_counter("agentmem_events_consumed_total",
                                 "Records consumed from Kafka.");
  st.committed = &reg.get_counter(
    "agentmem_events_committed_total",
    "Records whose batch was committed to Postgres and the index.");
  st.batch_size = &reg.get_histogram("agentmem_batch_size_records",
                                     "Records per pipeline batch.",
                                     metrics::size_buckets());
  st.batch_latency = &reg.get_histogram(
    "agentmem_batch_duration_seconds",
    "Time from closing a batch in ingress to its acknowledgement.",
    metrics::latency_buckets());
  st.event_latency = &reg.get_histogram(
    "agentmem_event_end_to_end_seconds",
    "Time from the oldest record's Kafka timestamp to its batch commit.",
    metrics::latency_buckets());
  st.in_flight_gauge = &reg.get_gauge("agentmem_batches_in_flight",
                                      "Batches not yet acknowledged.");
  st.paused_gauge = &reg.get_gauge(
    "agentmem_consumer_paused", "1 while ingress pauses partitions "
                                "(backpressure), else 0.");
  auto consumer = kafka::consumer::create(cfg.consumer);
  if (!consumer)
    throw std::runtime_error("kafka consumer: " + describe(consumer.error()));
  st.consumer = std::move(*consumer);
  st.started = std::chrono::steady_clock::now();
  st.first_commit = &reg.get_gauge(
    "agentmem_first_commit_seconds",
    "Seconds from the start of consuming to the first batch committed by "
    "this process (0 until then).");
  st.consumer->on_assign =
    [stored = cfg.stored_offsets, hook = cfg.on_assigned](
      const std::vector<partition_offset>& assigned) {
      auto starts = stored ? stored(assigned) : assigned;
      if (hook) {
        // Every assigned partition, with its start where one is stored.
        auto resumed = assigned;
        for (auto& r : resumed) {
          r.next_offset = -1;
          for (auto& s : starts)
            if (s.topic == r.topic && s.partition == r.partition)
              r.next_offset = s.next_offset;
        }
        hook(resumed);
      }
      return starts;
    };
  // On revoke: let the batches in flight commit (their offsets go to
  // Postgres with their rows, so the next owner resumes after them), and
  // drop the lag series of partitions this node gives up.
  auto acks = cfg.acks;
  auto drain = cfg.revoke_drain_timeout;
  auto revoked_hook = cfg.on_revoked;
  st.consumer->on_revoke = [self, acks, drain, revoked_hook](
                             const std::vector<partition_offset>& revoked) {
    uint64_t last_sent = self->state.next_id - 1;
    if (acks && !self->state.in_flight.empty()
        && !acks->wait_for(last_sent, drain))
      spdlog::warn("[ingress] revoke: batches still in flight after {} ms; "
                   "the next owner replays them (idempotently)",
                   drain.count());
    // The open batch's records of revoked partitions belong to the next
    // owner (it starts from the offsets stored in Postgres).
    auto& open = self->state.open;
    open.erase(std::remove_if(open.begin(), open.end(),
                              [&](const kafka_record& r) {
                                for (auto& p : revoked)
                                  if (p.topic == r.source.topic
                                      && p.partition == r.source.partition)
                                    return true;
                                return false;
                              }),
               open.end());
    for (auto& p : revoked)
      metrics::global().remove_gauge(
        "agentmem_consumer_lag_records",
        {{"topic", p.topic}, {"partition", std::to_string(p.partition)}});
    if (revoked_hook)
      revoked_hook(revoked);
  };
  cfg.status->kafka_ok = true;
  return {
    [=](sink_atom, caf::actor sink) {
      bool first = !self->state.sink;
      self->state.sink = std::move(sink);
      if (first)
        self->send(self, poll_atom::value);
    },
    [=](poll_atom) { poll_once(self, cfg); },
    [=](hold_timeout_atom, uint64_t seq) {
      // Still holding since that hold began: no ack for pause_after. Pause
      // the partitions and poll (serving the group) until acks come back.
      auto& st = self->state;
      if (!st.holding || seq != st.hold_seq)
        return;
      st.holding = false;
      set_paused(st, true);
      poll_once(self, cfg);
    },
    [=](batch_ack& ack) {
      auto& st = self->state;
      auto it = st.in_flight.find(ack.id);
      if (it == st.in_flight.end())
        return; // a replayed batch acknowledged twice
      if (it->second.oldest_record_ts_ms >= 0)
        st.event_latency->observe(
          static_cast<double>(wall_ms() - it->second.oldest_record_ts_ms)
          / 1e3);
      st.in_flight.erase(it);
      st.in_flight_gauge->set(static_cast<double>(st.in_flight.size()));
      if (st.holding) {
        st.holding = false;
        self->send(self, poll_atom::value);
      }
      st.committed->inc(static_cast<double>(ack.events));
      if (!st.committed_once && ack.events > 0) {
        st.committed_once = true;
        if (cfg.status)
          cfg.status->first_commit = true;
        std::chrono::duration<double> d =
          std::chrono::steady_clock::now() - st.started;
        st.first_commit->set(d.count());
        spdlog::info("[ingress] first batch committed {:.2f} s after "
                     "consuming started",
                     d.count());
      }
      st.batch_latency->observe(
        static_cast<double>(now_ns() - ack.created_ns) / 1e9);
      // Offsets of partitions revoked meanwhile are no longer ours to
      // commit (the authoritative copy is in Postgres anyway).
      auto mine = st.consumer->assignment();
      std::vector<partition_offset> offsets;
      for (auto& o : ack.offsets)
        for (auto& a : mine)
          if (a.topic == o.topic && a.partition == o.partition)
            offsets.push_back(o);
      if (offsets.empty()) {
        // nothing to commit
      } else if (auto err = st.consumer->commit(offsets, true))
        spdlog::warn("[ingress] kafka commit failed (Postgres holds the "
                     "offsets): {}",
                     describe(err));
      if (st.stopping && st.in_flight.empty())
        finish_stop(self);
    },
    [=](replay_atom, caf::actor sink) {
      auto& st = self->state;
      st.sink = std::move(sink);
      for (auto& [id, b] : st.in_flight) {
        auto copy = b;
        copy.attempt += 1;
        self->send(st.sink, std::move(copy));
      }
      spdlog::info("[ingress] replayed {} in-flight batches",
                   st.in_flight.size());
    },
    [=](stop_atom) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      st.stopping = true;
      cfg.status->stopping = true;
      st.stop_promise = self->make_response_promise();
      if (st.in_flight.empty())
        finish_stop(self);
      return st.stop_promise;
    },
  };
}

} // namespace agentmem::actors
