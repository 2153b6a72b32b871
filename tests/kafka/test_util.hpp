#pragma once

// Helpers shared by the kafka tests (all against librdkafka's mock cluster).

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "messages/errc.hpp"

namespace agentmem::kafka::test {

/// The error text of a failed expected, "" for a value (safe to evaluate
/// eagerly in test macros, unlike x.error() on a value).
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

/// A group id no other test uses.
inline std::string unique_group(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(++n);
}

/// Consumer settings tuned for fast tests against the mock cluster.
inline consumer_config test_consumer_config(const std::string& brokers,
                                            const std::string& group,
                                            std::vector<std::string> topics) {
  consumer_config cfg;
  cfg.brokers = brokers;
  cfg.group_id = group;
  cfg.topics = std::move(topics);
  cfg.properties = {{"session.timeout.ms", "6000"},
                    {"heartbeat.interval.ms", "500"},
                    {"fetch.wait.max.ms", "50"}};
  return cfg;
}

/// Polls until `n` records arrived or `timeout` passed; returns them all.
inline std::vector<kafka_record>
collect(consumer& c, size_t n,
        std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  std::vector<kafka_record> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto batch = c.poll_batch(n - out.size(), std::chrono::milliseconds(100));
    for (auto& r : batch)
      out.push_back(std::move(r));
  }
  return out;
}

/// Polls for `d`, returning whatever arrived.
inline std::vector<kafka_record> drain_for(consumer& c,
                                           std::chrono::milliseconds d) {
  return collect(c, static_cast<size_t>(-1) / 2, d);
}

/// Polls until the consumer has an assignment (or `timeout`); returns the
/// records that arrived meanwhile.
inline std::vector<kafka_record>
wait_for_assignment(consumer& c,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  std::vector<kafka_record> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (c.assignment().empty()
         && std::chrono::steady_clock::now() < deadline) {
    auto batch = c.poll_batch(1000, std::chrono::milliseconds(100));
    for (auto& r : batch)
      out.push_back(std::move(r));
  }
  return out;
}

/// Produces `n` records "value-<first+i>" with key "key-<i % keys>" and
/// flushes.
inline caf::error produce_n(producer& p, const std::string& topic, int first,
                            int n, int keys = 1000000) {
  for (int i = first; i < first + n; ++i)
    if (auto err = p.produce(topic, "key-" + std::to_string(i % keys),
                             "value-" + std::to_string(i),
                             {{"seq", std::to_string(i)}}))
      return err;
  return p.flush(std::chrono::seconds(10));
}

} // namespace agentmem::kafka::test
