#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/ack_tracker.hpp"
#include "actors/health.hpp"
#include "kafka/consumer.hpp"
#include "messages/batch.hpp"
#include "metrics/registry.hpp"

namespace agentmem::actors {

/// Configuration of ingress.
struct ingress_config {
  kafka::consumer_config consumer;
  size_t max_batch_records = 2000; ///< a batch closes at this count
  /// Longest one poll blocks while no batch is open (acks, rebalances and
  /// stop requests are handled between polls).
  std::chrono::milliseconds max_batch_wait{50};
  size_t max_in_flight = 4; ///< batches between ingress and the ack
  /// How long ingress holds back (takes no records, see ingress()) with
  /// max_in_flight batches unacknowledged before it pauses the partitions.
  std::chrono::milliseconds pause_after{1000};
  /// Offsets to resume from on assignment (from Postgres, where they are
  /// stored in the same transaction as the batch's rows); may be empty.
  std::function<std::vector<partition_offset>(
    const std::vector<partition_offset>&)>
    stored_offsets;
  /// Called in the rebalance callback after `stored_offsets`, with the
  /// newly assigned partitions and the offsets consumption resumes them
  /// from (`stored_offsets`' result; next_offset -1 when none is stored:
  /// the consumer's auto.offset.reset decides). For the routing table and
  /// shard warm-up; may be empty.
  std::function<void(const std::vector<partition_offset>&)> on_assigned;
  /// Called in the rebalance callback with the partitions being revoked,
  /// after the drain below (shards turn read-only); may be empty.
  std::function<void(const std::vector<partition_offset>&)> on_revoked;
  std::shared_ptr<health> status;
  /// Completed batches, for draining on revoke (see ingress()).
  std::shared_ptr<ack_tracker> acks;
  /// How long a revoke waits for in-flight batches.
  std::chrono::milliseconds revoke_drain_timeout{10000};
};

/// State of ingress: the consumer, the batches in flight (kept until
/// acknowledged so they can be replayed after a stage restart) and the
/// backpressure flag.
struct ingress_state {
  static inline const char* name = "ingress";
  caf::actor sink;
  std::map<uint64_t, batch> in_flight; ///< records + offsets only
  /// Records of the batch being filled (not yet sent, offsets not stored).
  std::vector<kafka_record> open;
  uint64_t next_id = 1;
  bool paused = false;
  /// max_in_flight reached and not polling: an ack (or the pause_after
  /// timeout with the same hold_seq) restarts the poll loop.
  bool holding = false;
  uint64_t hold_seq = 0;
  bool stopping = false;
  caf::response_promise stop_promise;
  std::chrono::steady_clock::time_point last_lag_update;
  metrics::counter* consumed = nullptr;
  metrics::counter* committed = nullptr;
  metrics::histogram* batch_size = nullptr;
  metrics::histogram* batch_latency = nullptr;
  metrics::histogram* event_latency = nullptr;
  metrics::gauge* in_flight_gauge = nullptr;
  metrics::gauge* paused_gauge = nullptr;
  metrics::gauge* first_commit = nullptr; ///< set at the first ack
  std::chrono::steady_clock::time_point started;
  bool committed_once = false;
  /// Declared last, so destroyed first: closing it runs the revoke
  /// callback, which reads the members above.
  std::unique_ptr<kafka::consumer> consumer;
};

/// Ingress (spawn detached: it blocks in librdkafka's poll): consumes the
/// topic with a consumer group and sends batches to `sink` (capture).
///
/// Batches adapt to the load ("smart batching", as in the LMAX/Aeron
/// designs and Kafka producers' linger): a batch closes at once when the
/// consumer has nothing more buffered and the pipeline can take it (fewer
/// than max(1, max_in_flight / 2) batches unacknowledged: one in the
/// writer's transaction, one being indexed); while the pipeline is busy the
/// open batch keeps growing from what arrives, up to `max_batch_records`.
/// An idle pipeline therefore gets single-event batches with no waiting,
/// and a loaded one batches as large as its own service time makes them,
/// so per-batch fixed costs shrink exactly when throughput matters. A
/// backlog still closes full batches back to back.
///
/// Backpressure: when `max_in_flight` batches are unacknowledged ingress
/// stops taking records and waits for an ack; librdkafka keeps prefetching
/// into its consumer queue, which is bounded (`queued.max.messages.kbytes`,
/// 64 MiB by default), so the next poll finds records at once. Only when
/// no ack comes within `pause_after` does it pause every assigned
/// partition and poll to keep serving the group (rebalances,
/// max.poll.interval.ms), resuming when acks come back. It does not pause
/// at every limit because a pause drops the prefetched records and, with
/// librdkafka 2.0, the first record after a resume arrives 0.35-0.85 s
/// later (the fetcher restarts on a 1 s timer; docs/performance.md,
/// "Fifth round"). At most max_in_flight batches plus the open one are
/// held. On `batch_ack` it commits the
/// offsets to Kafka (asynchronously; Postgres holds the authoritative copy).
/// On a partition revoke it first waits (bounded by revoke_drain_timeout)
/// until every batch it sent is committed, so the next owner of the
/// partitions starts after them instead of replaying them.
///
/// Messages: `(sink_atom, actor)` sets the sink and starts polling;
/// `(replay_atom, actor)` sets a new sink after a chain restart and resends
/// every unacknowledged batch in order; `stop_atom` (request) stops
/// fetching, waits for the in-flight batches, commits, closes the consumer
/// and replies `ok_atom`.
caf::behavior ingress(caf::stateful_actor<ingress_state>* self,
                      ingress_config cfg);

} // namespace agentmem::actors
