#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "kafka/producer.hpp"
#include "metrics/registry.hpp"
#include "storage/analytics_store.hpp"

namespace agentmem::actors {

/// Configuration of the analytics publisher (config section [analytics]).
struct analytics_publisher_config {
  std::string postgres_url; ///< secret: never logged
  std::string topic = "agent.analytics.v1";
  std::shared_ptr<kafka::producer> producer;
  std::chrono::milliseconds interval{1000}; ///< poll period when idle
  size_t max_records = 500;                 ///< per relay pass
  std::chrono::milliseconds flush_timeout{10000};
};

/// State of the analytics publisher.
struct analytics_publisher_state {
  static inline const char* name = "analytics_publisher";
  std::unique_ptr<storage::analytics_store> store;
  metrics::counter* published = nullptr;
  metrics::counter* errors = nullptr;
  metrics::gauge* pending = nullptr;
};

/// Analytics publisher (spawn detached: it blocks on Postgres and Kafka):
/// relays the transactional outbox analytics_outbox to `topic` (the
/// windows commit_batch closed or corrected; docs/events.md). Each pass
/// produces up to max_records records keyed by their group, waits for
/// Kafka's acknowledgement (flush), and only then deletes them in the same
/// transaction (storage::analytics_store::relay_outbox): at least once
/// across crashes, duplicates carry the same revision. A full pass is
/// followed at once by the next; otherwise it waits `interval`. Failures
/// are logged, counted in agentmem_analytics_publish_errors_total and
/// retried next interval. `flush_atom` (request) runs passes until the
/// outbox is empty and replies with the number published.
caf::behavior analytics_publisher(
  caf::stateful_actor<analytics_publisher_state>* self,
  analytics_publisher_config cfg);

} // namespace agentmem::actors
