#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/record.hpp"

namespace agentmem::kafka {

/// Settings of a consumer-group member.
struct consumer_config {
  /// Comma-separated bootstrap servers, "host:port[,host:port...]".
  std::string brokers;
  /// Consumer group id (`group.id`).
  std::string group_id = "agentmem";
  /// Topics to subscribe to (exact names, or librdkafka regexes "^...").
  std::vector<std::string> topics;
  /// Passthrough: any librdkafka property (e.g. SASL/TLS settings,
  /// `partition.assignment.strategy`); applied after the defaults
  /// (enable.auto.commit=false, enable.auto.offset.store=false,
  /// auto.offset.reset=earliest, fetch.min.bytes=16384,
  /// fetch.wait.max.ms=50: a fetch waits up to 50 ms for 16 KiB), so it
  /// overrides them. Values of secret properties are never logged.
  std::map<std::string, std::string> properties;
  /// A static member (`group.instance.id` set) keeps its partitions after
  /// close() until `session.timeout.ms` passes (KIP-345: no LeaveGroup on
  /// termination), so that a restart within it gets them back without a
  /// rebalance. With this set, close() first unsubscribes, which does send
  /// LeaveGroup, so the other members take the partitions at once.
  bool leave_group_on_close = false;
};

/// Consumer lag of one assigned partition, in records.
struct partition_lag {
  std::string topic;
  int32_t partition = -1;
  /// Cached high watermark minus the current position; -1 when either is
  /// not known yet (nothing fetched from the partition so far).
  int64_t lag = -1;
};

/// A member of a Kafka consumer group (librdkafka high-level consumer).
///
/// Offsets are committed only by `commit()` (auto-commit is off by default).
/// Supports the eager and the cooperative rebalance protocols.
///
/// Threading: not thread-safe. Call every member function from one thread
/// (the one that polls); the rebalance callbacks run on that thread, inside
/// `poll_batch()` or `close()`.
class consumer {
public:
  /// Called with the newly assigned partitions (next_offset = -1 in each);
  /// returns the offsets to start from: next_offset >= 0 starts (seeks)
  /// there, -1 uses the committed offset or `auto.offset.reset`. Partitions
  /// missing from the result use the committed offset too.
  using assign_callback = std::function<std::vector<partition_offset>(
    const std::vector<partition_offset>& assigned)>;

  /// Called with the partitions about to be revoked (next_offset = current
  /// position or -1), before the revoke is applied, so the owner can still
  /// commit what it finished.
  using revoke_callback =
    std::function<void(const std::vector<partition_offset>& revoked)>;

  /// Creates the consumer and subscribes to `cfg.topics`.
  /// Errors: kafka_error for an invalid property, no topics, or a failed
  /// subscribe. Joining the group happens lazily in `poll_batch()`.
  static caf::expected<std::unique_ptr<consumer>>
  create(const consumer_config& cfg);

  /// Leaves the group (see `close()`) and frees the handle. close() runs
  /// `on_revoke`: call close() first if the callback captures objects that
  /// die before the consumer.
  ~consumer();

  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  /// Rebalance hook for assignments; set before the first `poll_batch()`.
  assign_callback on_assign;

  /// Rebalance hook for revocations; set before the first `poll_batch()`.
  revoke_callback on_revoke;

  /// Returns at most `max_records` records, waiting at most `max_wait` for
  /// the first one, then taking only what is already buffered. Serves
  /// rebalances. Key, value, headers and timestamp are copied; partition
  /// EOF and transient errors are not records: EOFs only update the position
  /// used by `lag()`, errors are logged and counted in `errors_seen()`. Returns an empty vector after `close()`.
  std::vector<kafka_record> poll_batch(size_t max_records,
                                       std::chrono::milliseconds max_wait);

  /// Pauses fetching on every assigned partition; partitions assigned later
  /// start paused too, until `resume_all()`. Records already buffered for
  /// paused partitions are discarded and fetched again after resume.
  /// `poll_batch()` returns no record while paused: one that librdkafka
  /// still delivers (a pause right after an assignment can be lost) is held,
  /// its partition paused again, and returned first after `resume_all()`;
  /// held records of revoked partitions are dropped (their next owner reads
  /// them from the committed offset).
  void pause_all();

  /// Resumes every assigned partition; each continues after the last record
  /// returned by `poll_batch()`.
  void resume_all();

  /// True between `pause_all()` and `resume_all()`.
  bool paused() const;

  /// Commits `offsets` (next offset to consume = last processed + 1) for the
  /// group. `async` = true returns at once (failures are logged and counted
  /// in `errors_seen()`); false waits for the broker. An empty list is a
  /// no-op. Errors: kafka_error (e.g. not a group member any more, closed).
  caf::error commit(const std::vector<partition_offset>& offsets, bool async);

  /// Per assigned partition: cached high watermark minus current position
  /// (no network round trip); lag -1 when unknown.
  std::vector<partition_lag> lag();

  /// The current assignment; next_offset = current position (the next
  /// offset `poll_batch()` returns) or -1 when not known yet.
  std::vector<partition_offset> assignment() const;

  /// Leaves the group cleanly (revoke callback runs, no commit is made) and
  /// releases the handle; a static member leaves only with
  /// consumer_config::leave_group_on_close. A cooperative member closed
  /// while it joins the group first waits (up to 10 s) for its first
  /// assignment, so `on_assign` may run here too (librdkafka before 2.3
  /// aborts when such a member is destroyed, librdkafka #4312). Idempotent;
  /// the destructor calls it.
  void close();

  /// "COOPERATIVE" or "EAGER": the rebalance protocol of the configured
  /// `partition.assignment.strategy`, once the group has answered a
  /// JoinGroup ("NONE" before).
  std::string rebalance_protocol() const;

  /// Transient consume errors and failed commits seen so far (partition
  /// EOFs are expected and not counted).
  uint64_t errors_seen() const;

  /// A fatal error librdkafka raised on this consumer, after which the
  /// instance is unusable (it fetches nothing more; librdkafka's
  /// rd_kafka_fatal_error): e.g. a static member fenced by another member
  /// with its `group.instance.id`. errc::kafka_error "consumer: fatal
  /// error: <reason>", or none.
  caf::error fatal_error() const;

  /// Opaque librdkafka state; defined in consumer.cpp.
  struct impl;

private:
  explicit consumer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::kafka
