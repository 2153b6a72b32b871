#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "kafka/producer.hpp"
#include "metrics/registry.hpp"
#include "storage/outbox_store.hpp"

namespace agentmem::actors {

/// Prometheus names of one outbox publisher's metrics (docs/operations.md).
struct outbox_metric_names {
  std::string published; ///< counter: records acknowledged by Kafka
  std::string errors;    ///< counter: failed relay passes
  std::string pending;   ///< gauge: records waiting in the outbox
};

/// Configuration of an outbox publisher: the analytics outbox (config
/// section [analytics]) or the memory outbox ([memory_stream]).
struct outbox_publisher_config {
  std::string name = "outbox"; ///< log tag, e.g. "analytics"
  std::string postgres_url;    ///< secret: never logged
  storage::outbox_spec outbox;
  std::string topic;
  std::shared_ptr<kafka::producer> producer;
  outbox_metric_names metrics;
  std::chrono::milliseconds interval{1000}; ///< poll period when idle
  size_t max_records = 500;                 ///< per relay pass
  std::chrono::milliseconds flush_timeout{10000};
  /// Least time between two counts of a backlogged outbox for the pending
  /// gauge (a count reads every row).
  std::chrono::milliseconds pending_interval{5000};
  /// Least time between two passes that read the outbox from its start;
  /// the others read past the highest id relayed. A record committed
  /// after higher ids were relayed waits at most this long
  /// (storage::outbox_store::relay).
  std::chrono::milliseconds rescan_interval{5000};
};

/// The publisher of the analytics outbox (agent.analytics.v1).
outbox_publisher_config analytics_publisher_config();

/// The publisher of the memory outbox (agent.memory.v1).
outbox_publisher_config memory_publisher_config();

/// State of an outbox publisher.
struct outbox_publisher_state {
  static inline const char* name = "outbox_publisher";
  std::unique_ptr<storage::outbox_store> store;
  metrics::counter* published = nullptr;
  metrics::counter* errors = nullptr;
  metrics::gauge* pending = nullptr;
  /// When the pending gauge last counted the outbox.
  std::chrono::steady_clock::time_point counted{};
  /// When a pass last read the outbox from its start.
  std::chrono::steady_clock::time_point rescanned{};
};

/// Outbox publisher (spawn detached: it blocks on Postgres and Kafka):
/// relays a transactional outbox (storage::outbox_store) to `topic`. Each
/// pass produces up to max_records records with their keys, waits for
/// Kafka's acknowledgement (flush), and only then deletes them in the same
/// transaction: at least once across crashes, in order (one relay at a
/// time, by advisory lock); duplicates carry the same revision / version.
/// A full pass is followed at once by the next; otherwise it waits
/// `interval`. metrics.pending is 0 after a pass that drained the outbox
/// as of its snapshot, else a count taken at most every pending_interval.
/// Failures are logged, counted in metrics.errors and retried
/// next interval. `flush_atom` (request) runs passes until the outbox is
/// empty and replies with the number published.
caf::behavior outbox_publisher(
  caf::stateful_actor<outbox_publisher_state>* self,
  outbox_publisher_config cfg);

} // namespace agentmem::actors
