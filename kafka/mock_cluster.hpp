#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "kafka/topic_spec.hpp"

namespace agentmem::kafka {

/// An in-process Kafka cluster (librdkafka's mock brokers listening on
/// 127.0.0.1) for tests and `agentmem dev`. Supports produce, idempotence,
/// consumer groups and offset commits, not the admin API.
///
/// Warning: librdkafka 2.0.2's mock broker keeps only the newest ~5 MiB per
/// partition and silently drops older records. Consume while producing,
/// use many partitions, or use a real broker for large backlogs.
///
/// Warning: its group coordinator ends a group's sync as soon as the
/// leader's SyncGroup (which carries every member's assignment) is in, and
/// answers a follower's SyncGroup that arrives after it with
/// INVALID_REQUEST; a real broker answers it with the follower's
/// assignment. The follower rejoins, the next round (session.timeout.ms
/// - 1 s later) races the same way, and a loaded machine can lose it round
/// after round. The follower usually wins, as the leader first fetches
/// metadata for its assignor; tests with several members of one group make
/// that head start large with set_round_trip_time() while they join.
class mock_cluster {
public:
  /// Starts `brokers` (>= 1) mock brokers and creates `topics` (other topics
  /// are auto-created on first use with one partition).
  /// Errors: kafka_error when the handle, the cluster or a topic cannot be
  /// created.
  static caf::expected<std::unique_ptr<mock_cluster>>
  start(int brokers, const std::vector<topic_spec>& topics);

  /// Stops the brokers; clients still connected see connection errors.
  ~mock_cluster();

  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  /// Bootstrap servers, "127.0.0.1:port[,127.0.0.1:port...]".
  std::string bootstrap() const;

  /// librdkafka properties for a consumer of a mock cluster that is meant
  /// to see records soon after they are produced (`agentmem dev`, the
  /// benchmarks): {"fetch.wait.max.ms": "10"}. The mock broker answers a
  /// Fetch that finds no new record only after the request's whole max wait
  /// (librdkafka's rdkafka_mock_handlers.c says so: it does not cut the
  /// wait short when a producer writes), where a broker answers as soon as
  /// fetch.min.bytes are there. With librdkafka's default of 500 ms a
  /// consumer that has caught up sees the next records up to 0.5 s late
  /// (docs/performance.md, "Seventh round"). The price is an idle consumer
  /// fetching every 10 ms instead of every 500.
  static std::map<std::string, std::string> consumer_properties();

  /// Creates one more topic. Errors: kafka_error.
  caf::error create_topic(const topic_spec& topic);

  /// Number of brokers.
  int brokers() const;

  /// Delays every response of every broker by `rtt` (0 turns it off).
  void set_round_trip_time(std::chrono::milliseconds rtt);

  /// The next `count` requests with Kafka protocol ApiKey `api_key` (e.g.
  /// 14, SyncGroup), to any broker, fail with broker error `error_code` (an
  /// rd_kafka_resp_err_t value).
  void fail_requests(int api_key, int error_code, int count);

  /// Opaque librdkafka state; defined in mock_cluster.cpp.
  struct impl;

private:
  explicit mock_cluster(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::kafka
