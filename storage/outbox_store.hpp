#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::storage {

/// One pending record of a transactional outbox.
struct outbox_record {
  int64_t id = 0;      ///< the outbox row's id (relay order)
  std::string key;     ///< Kafka key
  std::string payload; ///< the record as JSON text
};

/// A webhook endpoint that gets a copy of every relayed record whose key
/// starts with `key_prefix` (a tenant's user_id prefix; "" matches all).
struct outbox_webhook_route {
  std::string endpoint; ///< the endpoint's name (memory_webhook_queue.endpoint)
  std::string key_prefix;
};

/// Which outbox a relay drains: the table (id, user_id, record_key,
/// payload), the advisory lock that keeps one relay at a time (record
/// order), and the webhook endpoints that get copies (memory outbox only).
struct outbox_spec {
  std::string table;
  int lock_purpose = 0;
  std::vector<outbox_webhook_route> webhooks;
};

/// analytics_outbox (040_analytics.sql), topic agent.analytics.v1.
outbox_spec analytics_outbox_spec();

/// memory_outbox (021_memory_change_stream.sql), topic agent.memory.v1;
/// records are copied to memory_webhook_queue for `webhooks`.
outbox_spec memory_outbox_spec(std::vector<outbox_webhook_route> webhooks);

/// The relay side of a transactional outbox: writers insert records in
/// their own transaction; this reads, publishes and deletes them. Owns ONE
/// connection: not thread-safe. Errors are values (errc::postgres_error);
/// the connection is re-established on the next call after a failure.
class outbox_store {
public:
  /// Connects to `url`. errc::postgres_error (with the redacted URL).
  static caf::expected<std::unique_ptr<outbox_store>>
  connect(const std::string& url, outbox_spec spec);
  ~outbox_store();

  outbox_store(const outbox_store&) = delete;
  outbox_store& operator=(const outbox_store&) = delete;

  /// One relay pass: in one transaction, takes the relay lock
  /// (pg_try_advisory_xact_lock: when another node holds it, returns 0 at
  /// once), reads up to `limit` records in id order, hands them to
  /// `publish` (which must return only once every record is acknowledged
  /// by Kafka), copies them to the webhook queue (spec.webhooks), deletes
  /// them and commits. A crash or a publish error leaves them in place, so
  /// they are sent again: at least once, in order. Returns the number
  /// published.
  ///
  /// `from_start` false reads only ids above the highest this store has
  /// relayed: the ids it deleted stay in the outbox's index as dead
  /// entries until a vacuum, and every pass from the start stepped over
  /// all of them (up to 200 ms per pass in a 35 s steady run). A record
  /// whose writer commits after records with higher ids were relayed is
  /// then left for the next pass with `from_start` (the caller runs one
  /// periodically), later and out of id order, as any such record is.
  caf::expected<size_t> relay(
    size_t limit,
    const std::function<caf::error(const std::vector<outbox_record>&)>&
      publish,
    bool from_start = true);

  /// Records waiting in the outbox, as the span of ids from the oldest to
  /// the newest: exact while ids are contiguous, else an upper bound (ids
  /// of rolled-back writers in between count, as aborted records count in
  /// a Kafka consumer's lag). Errors: errc::postgres_error.
  caf::expected<int64_t> pending();

  struct impl;

private:
  explicit outbox_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
