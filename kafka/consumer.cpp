#include "kafka/consumer.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

#include "kafka/internal.hpp"

namespace agentmem::kafka {

using detail::tpl_ptr;

struct consumer::impl {
  consumer* owner = nullptr;
  rd_kafka_t* rk = nullptr;
  bool paused = false;
  bool leave_on_close = false;
  std::atomic<uint64_t> errors{0};
  // Next offset to read per partition as last seen by this process (records
  // returned, partition EOFs, seeks): the fallback for lag() when
  // rd_kafka_position() does not know yet (e.g. an idle, caught-up partition).
  std::map<std::pair<std::string, int32_t>, int64_t> seen_positions;
  // A rebalance callback has run, so a SyncGroup has succeeded (see
  // settle_before_destroy()).
  bool synced = false;
  // Records librdkafka delivered while paused, oldest first: held until
  // resume_all(), then returned before anything newer (poll_batch()).
  std::vector<kafka_record> held;
  // Partitions paused again since pause_all() because they delivered.
  std::set<std::pair<std::string, int32_t>> repaused;

  bool cooperative() const {
    return std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  }

  // A pause of partitions that were just assigned can be lost: it bumps
  // the partition's op version, and the fetch start that the assignment
  // issues once it knows the start offset bumps it again, which makes the
  // pause outdated before librdkafka applies it (the other side of
  // librdkafka #2190). The partition is fetching by the time it delivers,
  // so pausing it again sticks; the record is held, not dropped, because
  // librdkafka has already moved the application position past it.
  void hold(kafka_record r) {
    std::pair<std::string, int32_t> key{r.source.topic, r.source.partition};
    if (repaused.insert(key).second) {
      tpl_ptr p{rd_kafka_topic_partition_list_new(1)};
      rd_kafka_topic_partition_list_add(p.get(), key.first.c_str(),
                                        key.second);
      rd_kafka_pause_partitions(rk, p.get());
      spdlog::info("kafka consumer: {}[{}] delivered while paused; paused "
                   "again, its records held until resume",
                   key.first, key.second);
    }
    held.push_back(std::move(r));
  }

  // Held records of partitions this consumer no longer owns: their next
  // owner reads them from the committed offset.
  void drop_held(const rd_kafka_topic_partition_list_t* parts) {
    for (int i = 0; i < parts->cnt; ++i) {
      std::pair<std::string, int32_t> key{parts->elems[i].topic,
                                          parts->elems[i].partition};
      repaused.erase(key);
      held.erase(std::remove_if(held.begin(), held.end(),
                                [&](const kafka_record& r) {
                                  return r.source.partition == key.second
                                         && r.source.topic == key.first;
                                }),
                 held.end());
    }
  }

  tpl_ptr current_assignment() const {
    rd_kafka_topic_partition_list_t* parts = nullptr;
    if (auto err = rd_kafka_assignment(rk, &parts)) {
      spdlog::warn("kafka consumer: assignment() failed: {}",
                   rd_kafka_err2str(err));
      return tpl_ptr{rd_kafka_topic_partition_list_new(0)};
    }
    return tpl_ptr{parts};
  }

  // Fills `parts[i].offset` with the application position (or INVALID).
  void fill_positions(rd_kafka_topic_partition_list_t* parts) const {
    for (int i = 0; i < parts->cnt; ++i)
      parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_position(rk, parts);
  }

  static std::vector<partition_offset>
  to_vector(const rd_kafka_topic_partition_list_t* parts, bool with_offsets) {
    std::vector<partition_offset> out;
    out.reserve(static_cast<size_t>(parts->cnt));
    for (int i = 0; i < parts->cnt; ++i) {
      auto& e = parts->elems[i];
      out.push_back(partition_offset{
        e.topic, e.partition,
        with_offsets && e.offset >= 0 ? e.offset : int64_t{-1}});
    }
    return out;
  }

  void handle_assign(rd_kafka_topic_partition_list_t* parts) {
    if (owner != nullptr && owner->on_assign) {
      std::vector<partition_offset> starts;
      try {
        starts = owner->on_assign(to_vector(parts, false));
      } catch (const std::exception& e) {
        spdlog::error("kafka consumer: on_assign threw: {}", e.what());
      }
      for (auto& s : starts) {
        if (s.next_offset < 0)
          continue;
        auto* e = rd_kafka_topic_partition_list_find(parts, s.topic.c_str(),
                                                     s.partition);
        if (e == nullptr) {
          spdlog::warn("kafka consumer: on_assign returned {}[{}], which "
                       "was not assigned; ignored",
                       s.topic, s.partition);
          continue;
        }
        e->offset = s.next_offset;
        seen_positions[{s.topic, s.partition}] = s.next_offset;
      }
    }
    if (cooperative()) {
      if (auto* err = rd_kafka_incremental_assign(rk, parts)) {
        spdlog::error("kafka consumer: incremental_assign failed: {}",
                      rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        errors.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    } else if (auto err = rd_kafka_assign(rk, parts)) {
      spdlog::error("kafka consumer: assign failed: {}",
                    rd_kafka_err2str(err));
      errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // Partitions assigned while paused start paused.
    if (paused)
      rd_kafka_pause_partitions(rk, parts);
    spdlog::info("kafka consumer: assigned {} partition(s){}", parts->cnt,
                 paused ? " (paused)" : "");
  }

  void handle_revoke(rd_kafka_topic_partition_list_t* parts) {
    if (owner != nullptr && owner->on_revoke) {
      tpl_ptr copy{rd_kafka_topic_partition_list_copy(parts)};
      fill_positions(copy.get());
      try {
        owner->on_revoke(to_vector(copy.get(), true));
      } catch (const std::exception& e) {
        spdlog::error("kafka consumer: on_revoke threw: {}", e.what());
      }
    }
    for (int i = 0; i < parts->cnt; ++i)
      seen_positions.erase({parts->elems[i].topic, parts->elems[i].partition});
    drop_held(parts);
    // librdkafka keeps a partition's pause flag across its revoke and a
    // later re-assignment (librdkafka issues #1849, confluent-kafka-go
    // #193): a partition paused by backpressure, revoked and handed back
    // would never be fetched again (resume_all() only resumes the current
    // assignment). Resumed here, before it leaves, not after the next
    // assign: a pause/resume right after an assign can make librdkafka
    // drop the assign's start offset (librdkafka #2190).
    rd_kafka_resume_partitions(rk, parts);
    if (cooperative()) {
      if (auto* err = rd_kafka_incremental_unassign(rk, parts)) {
        spdlog::error("kafka consumer: incremental_unassign failed: {}",
                      rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
      }
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    spdlog::info("kafka consumer: revoked {} partition(s)", parts->cnt);
  }

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts,
                           void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    switch (err) {
      case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        self->synced = true;
        self->handle_assign(parts);
        break;
      case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        self->synced = true;
        self->handle_revoke(parts);
        break;
      default:
        // librdkafka 2.0.2 calls back with the two codes above only. Its
        // documented answer to anything else, assign(NULL), is eager-only:
        // under COOPERATIVE librdkafka rejects it with _STATE
        // (rd_kafka_cgrp_handle_assign_op), and the assignment stays.
        spdlog::error("kafka consumer: rebalance failed: {}",
                      rd_kafka_err2str(err));
        self->errors.fetch_add(1, std::memory_order_relaxed);
        if (!self->cooperative()) {
          self->seen_positions.clear();
          self->held.clear();
          self->repaused.clear();
          rd_kafka_assign(rk, nullptr);
        }
        break;
    }
  }

  // librdkafka before 2.3.0 aborts in rd_kafka_destroy()
  // (rd_kafka_sticky_assignor_state_destroy asserts) when a JoinGroup
  // response chose cooperative-sticky but no SyncGroup has succeeded yet:
  // the assignor's state is made by the first assignment (librdkafka
  // #4312, fixed by #4381). A node stopped while it joins, e.g. its first
  // SyncGroup failed because another member joined meanwhile and it waits
  // in the next JoinGroup, would abort instead of shutting down. So the
  // group is served until that first assignment (on_assign runs, and
  // on_revoke when close() then leaves). Returns false when it did not
  // come in time: the handle must then be left allocated.
  bool settle_before_destroy() {
    if (synced || rd_kafka_version() >= 0x02030000 || !cooperative())
      return true;
    // A broker finishes a rebalance once every member has rejoined (a
    // heartbeat interval or two); the mock cluster takes
    // session.timeout.ms - 1 s per round.
    constexpr auto max_wait = std::chrono::seconds(10);
    spdlog::warn("kafka consumer: closing while joining the group; waiting "
                 "up to {} s for the first assignment (librdkafka #4312)",
                 max_wait.count());
    auto deadline = std::chrono::steady_clock::now() + max_wait;
    while (!synced && std::chrono::steady_clock::now() < deadline)
      if (auto* m = rd_kafka_consumer_poll(rk, 100))
        rd_kafka_message_destroy(m);
    return synced;
  }

  static void offset_commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* offsets,
                               void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    // _NO_OFFSET: there was nothing to commit, which is not a failure.
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR
        || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
      if (offsets != nullptr)
        for (int i = 0; i < offsets->cnt; ++i)
          if (offsets->elems[i].err) {
            spdlog::warn("kafka consumer: commit of {}[{}] failed: {}",
                         offsets->elems[i].topic, offsets->elems[i].partition,
                         rd_kafka_err2str(offsets->elems[i].err));
            self->errors.fetch_add(1, std::memory_order_relaxed);
          }
      return;
    }
    spdlog::warn("kafka consumer: offset commit failed: {}",
                 rd_kafka_err2str(err));
    self->errors.fetch_add(1, std::memory_order_relaxed);
  }
};

consumer::consumer(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  impl_->owner = this;
}

consumer::~consumer() {
  close();
}

caf::expected<std::unique_ptr<consumer>>
consumer::create(const consumer_config& cfg) {
  if (cfg.topics.empty())
    return make_error(errc::kafka_error, "consumer: no topics to subscribe");
  std::map<std::string, std::string> defaults{
    {"bootstrap.servers", cfg.brokers},
    {"group.id", cfg.group_id},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},
    // EOF events tell lag() where an idle partition ends; never records.
    {"enable.partition.eof", "true"},
    {"client.id", "agentmem-consumer"},
    // A fetch returns once 16 KiB are there or after 50 ms, not as soon as
    // one of the assigned partitions has a record (librdkafka's 1 byte /
    // 500 ms). With many partitions and a trickle of records the default
    // turns into a fetch round trip per handful of records: against a
    // real broker at 4,000 events/s over 256 partitions the node's fetch
    // thread took 35-44 µs per event, 14 with these, and at 500
    // events/s the node and PostgreSQL 1.7 ms per event against 0.54 (the
    // batches grow with the fetches), p50 produce -> row 10 -> 37 ms, p99
    // 81-213 -> 68 ms. 50 ms, not 10: an idle consumer's empty fetches
    // cost the broker 0.02 cores at 50 ms, 0.10 at 10
    // (docs/performance.md, "Twenty-third round"). [kafka.properties]
    // overrides both, e.g. fetch.min.bytes = "1" for the lowest latency.
    {"fetch.min.bytes", "16384"},
    {"fetch.wait.max.ms", "50"},
  };
  auto conf = detail::make_conf(defaults, cfg.properties);
  if (!conf)
    return std::move(conf.error());
  auto state = std::make_unique<impl>();
  rd_kafka_conf_set_opaque(conf->get(), state.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), &impl::rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), &impl::offset_commit_cb);
  char errstr[512];
  // rd_kafka_new takes ownership of the conf only on success.
  rd_kafka_t* rk =
    rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof(errstr));
  if (rk == nullptr)
    return make_error(errc::kafka_error,
                      std::string{"consumer: cannot create: "} + errstr);
  conf->release();
  state->rk = rk;
  state->leave_on_close = cfg.leave_group_on_close;
  // Serve logs, errors and rebalances from rd_kafka_consumer_poll().
  rd_kafka_poll_set_consumer(rk);
  tpl_ptr topics{rd_kafka_topic_partition_list_new(
    static_cast<int>(cfg.topics.size()))};
  for (auto& t : cfg.topics)
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(),
                                      RD_KAFKA_PARTITION_UA);
  if (auto err = rd_kafka_subscribe(rk, topics.get())) {
    rd_kafka_destroy(rk);
    return detail::rd_error("consumer: subscribe failed", err);
  }
  return std::unique_ptr<consumer>{new consumer(std::move(state))};
}

namespace {

// Next offset of one partition seen during a poll_batch() call. The topic
// name is copied once, while the message holding `rkt` is still alive.
struct seen {
  const rd_kafka_topic_t* rkt;
  std::string topic;
  int32_t partition;
  int64_t next;
};

void note_position(std::vector<seen>& last, const rd_kafka_topic_t* rkt,
                   int32_t partition, int64_t next) {
  for (auto& x : last)
    if (x.rkt == rkt && x.partition == partition) {
      x.next = next;
      return;
    }
  last.push_back(seen{rkt, rd_kafka_topic_name(rkt), partition, next});
}

} // namespace

std::vector<kafka_record>
consumer::poll_batch(size_t max_records, std::chrono::milliseconds max_wait) {
  std::vector<kafka_record> out;
  auto* rk = impl_->rk;
  if (rk == nullptr || max_records == 0)
    return out;
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + max_wait;
  // Next offsets seen in this batch, folded into seen_positions at the end
  // (one map update per partition instead of one per record).
  std::vector<seen> last;
  // Records held while paused come first: librdkafka fetches their
  // partitions from after them.
  if (!impl_->paused && !impl_->held.empty()) {
    auto n = std::min(max_records, impl_->held.size());
    auto first = impl_->held.begin();
    for (auto it = first; it != first + static_cast<std::ptrdiff_t>(n); ++it) {
      impl_->seen_positions[{it->source.topic, it->source.partition}] =
        it->source.offset + 1;
      out.push_back(std::move(*it));
    }
    impl_->held.erase(first, first + static_cast<std::ptrdiff_t>(n));
  }
  while (out.size() < max_records) {
    int timeout_ms = 0;
    if (out.empty()) {
      // Rounded up: truncating the last fraction of a millisecond to a 0 ms
      // poll made the loop spin on the clock until the deadline (up to
      // 1 ms of busy CPU per 2 ms wait of an ingress with a batch open;
      // 7 % of the process's CPU in the steady benchmark).
      auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, timeout_ms);
    if (m == nullptr) {
      // Nothing buffered: done once we have records or the time is up.
      // (Polls also return early after serving a rebalance.)
      if (!out.empty() || clock::now() >= deadline)
        break;
      continue;
    }
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->rkt != nullptr)
          note_position(last, m->rkt, m->partition, m->offset);
      } else {
        impl_->errors.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("kafka consumer: {}{}",
                     rd_kafka_message_errstr(m),
                     rd_kafka_fatal_error(rk, nullptr, 0) ? " (fatal)" : "");
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    kafka_record r;
    r.source.topic = rd_kafka_topic_name(m->rkt);
    r.source.partition = m->partition;
    r.source.offset = m->offset;
    if (m->key != nullptr)
      r.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload != nullptr)
      r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    r.timestamp_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* val;
      size_t size;
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &val, &size)
           == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i)
        r.headers.emplace_back(
          name, val != nullptr
                  ? std::string(static_cast<const char*>(val), size)
                  : std::string{});
    }
    if (impl_->paused) {
      rd_kafka_message_destroy(m);
      impl_->hold(std::move(r));
      continue;
    }
    note_position(last, m->rkt, m->partition, m->offset + 1);
    rd_kafka_message_destroy(m);
    out.push_back(std::move(r));
  }
  for (auto& x : last)
    impl_->seen_positions[{std::move(x.topic), x.partition}] = x.next;
  return out;
}

void consumer::pause_all() {
  impl_->paused = true;
  if (impl_->rk == nullptr)
    return;
  auto parts = impl_->current_assignment();
  if (parts->cnt > 0)
    rd_kafka_pause_partitions(impl_->rk, parts.get());
}

void consumer::resume_all() {
  impl_->paused = false;
  impl_->repaused.clear();
  if (impl_->rk == nullptr)
    return;
  auto parts = impl_->current_assignment();
  if (parts->cnt > 0)
    rd_kafka_resume_partitions(impl_->rk, parts.get());
}

bool consumer::paused() const {
  return impl_->paused;
}

caf::error consumer::commit(const std::vector<partition_offset>& offsets,
                            bool async) {
  if (impl_->rk == nullptr)
    return make_error(errc::kafka_error, "consumer: commit after close");
  if (offsets.empty())
    return caf::none;
  tpl_ptr parts{
    rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()))};
  for (auto& o : offsets) {
    if (o.next_offset < 0 || o.partition < 0)
      return make_error(errc::kafka_error,
                        "consumer: invalid commit offset " + o.topic + "["
                          + std::to_string(o.partition)
                          + "]=" + std::to_string(o.next_offset));
    rd_kafka_topic_partition_list_add(parts.get(), o.topic.c_str(),
                                      o.partition)
      ->offset = o.next_offset;
  }
  if (auto err = rd_kafka_commit(impl_->rk, parts.get(), async ? 1 : 0))
    return detail::rd_error("consumer: commit failed", err);
  if (!async)
    for (int i = 0; i < parts->cnt; ++i)
      if (auto err = parts->elems[i].err)
        return detail::rd_error("consumer: commit of "
                                  + std::string{parts->elems[i].topic} + "["
                                  + std::to_string(parts->elems[i].partition)
                                  + "] failed",
                                err);
  return caf::none;
}

std::vector<partition_lag> consumer::lag() {
  std::vector<partition_lag> out;
  if (impl_->rk == nullptr)
    return out;
  auto parts = impl_->current_assignment();
  impl_->fill_positions(parts.get());
  out.reserve(static_cast<size_t>(parts->cnt));
  for (int i = 0; i < parts->cnt; ++i) {
    auto& e = parts->elems[i];
    partition_lag l{e.topic, e.partition, -1};
    int64_t pos = e.offset;
    if (pos < 0) {
      auto it = impl_->seen_positions.find({e.topic, e.partition});
      if (it != impl_->seen_positions.end())
        pos = it->second;
    }
    int64_t low = RD_KAFKA_OFFSET_INVALID;
    int64_t high = RD_KAFKA_OFFSET_INVALID;
    // Cached from the last fetch response: no network round trip.
    if (rd_kafka_get_watermark_offsets(impl_->rk, e.topic, e.partition, &low,
                                       &high)
          == RD_KAFKA_RESP_ERR_NO_ERROR
        && high >= 0 && pos >= 0)
      l.lag = std::max<int64_t>(0, high - pos);
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<partition_offset> consumer::assignment() const {
  if (impl_->rk == nullptr)
    return {};
  auto parts = impl_->current_assignment();
  impl_->fill_positions(parts.get());
  return impl::to_vector(parts.get(), true);
}

void consumer::close() {
  if (impl_ == nullptr || impl_->rk == nullptr)
    return;
  bool destroyable = impl_->settle_before_destroy();
  // librdkafka sends no LeaveGroup when a static member terminates, but it
  // does when it unsubscribes: unsubscribe, serve the revoke (on_revoke
  // runs here) until the assignment is empty, then close.
  char instance[256];
  size_t instance_len = sizeof instance;
  auto* conf = rd_kafka_conf(impl_->rk);
  bool is_static = rd_kafka_conf_get(conf, "group.instance.id", instance,
                                     &instance_len)
                     == RD_KAFKA_CONF_OK
                   && instance_len > 1;
  if (impl_->leave_on_close && is_static
      && rd_kafka_unsubscribe(impl_->rk) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto* m = rd_kafka_consumer_poll(impl_->rk, 50))
        rd_kafka_message_destroy(m);
      else if (impl_->current_assignment()->cnt == 0)
        break;
    }
    // The LeaveGroup goes out once the unassign is done (cgrp thread).
    for (int i = 0; i < 4; ++i)
      if (auto* m = rd_kafka_consumer_poll(impl_->rk, 50))
        rd_kafka_message_destroy(m);
  }
  // Serves the final revoke (on_revoke runs here) and leaves the group.
  if (auto err = rd_kafka_consumer_close(impl_->rk))
    spdlog::warn("kafka consumer: close: {}", rd_kafka_err2str(err));
  if (destroyable)
    rd_kafka_destroy(impl_->rk);
  else
    // Nothing polls it any more, so no callback reaches this object.
    spdlog::error("kafka consumer: no assignment came while closing; the "
                  "librdkafka handle is left allocated, destroying it would "
                  "abort the process (librdkafka #4312, fixed in 2.3.0)");
  impl_->rk = nullptr;
  impl_->seen_positions.clear();
  impl_->held.clear();
  impl_->repaused.clear();
}

std::string consumer::rebalance_protocol() const {
  if (impl_->rk == nullptr)
    return {};
  const char* p = rd_kafka_rebalance_protocol(impl_->rk);
  return p ? p : "";
}

caf::error consumer::fatal_error() const {
  return detail::fatal_error(impl_->rk, "consumer");
}

uint64_t consumer::errors_seen() const {
  return impl_->errors.load(std::memory_order_relaxed);
}

} // namespace agentmem::kafka
