#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::kafka {

/// An idempotent Kafka producer that tracks delivery reports, so `flush()`
/// can tell whether everything sent since the previous flush arrived.
///
/// Threading: `produce()` and `flush()` may be called from several threads.
class producer {
public:
  /// Creates a producer for `brokers` ("host:port[,host:port...]").
  /// Defaults: enable.idempotence=true, linger.ms=5; `properties` are any
  /// librdkafka properties (SASL/TLS, compression, ...) and override them.
  /// Errors: kafka_error for an invalid property or a failed create.
  static caf::expected<std::unique_ptr<producer>>
  create(const std::string& brokers,
         const std::map<std::string, std::string>& properties = {});

  /// Waits up to 10 s for outstanding deliveries, then frees the handle;
  /// records still undelivered then are lost (call `flush()` first).
  ~producer();

  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Enqueues one record (bytes are copied). An empty `key` sends a null
  /// key (partitioner picks any partition). `headers` are (name, value)
  /// pairs, order and duplicates kept. `partition` >= 0 sends the record
  /// to that partition; -1 lets the partitioner choose (by key). When the local queue is full it
  /// serves delivery reports and retries for up to 60 s.
  /// Errors: timeout when the queue stayed full, kafka_error otherwise
  /// (unknown topic, record too large, fatal idempotence error, ...).
  /// Delivery failures show up later, in `flush()`.
  caf::error
  produce(const std::string& topic, const std::string& key,
          const std::string& value,
          const std::vector<std::pair<std::string, std::string>>& headers = {},
          int32_t partition = -1);

  /// Waits up to `timeout` for every enqueued record to be delivered.
  /// Errors: kafka_error when any delivery failed since the previous
  /// `flush()` (count and first reason in the detail; the failure count is
  /// then reset), timeout when records are still in flight.
  caf::error flush(std::chrono::milliseconds timeout);

  /// Records enqueued but not yet delivered (or failed).
  size_t in_flight() const;

  /// Records acknowledged by the brokers since creation.
  uint64_t delivered_total() const;

  /// Records whose delivery failed since creation.
  uint64_t failed_total() const;

  /// Opaque librdkafka state; defined in producer.cpp.
  struct impl;

private:
  explicit producer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::kafka
