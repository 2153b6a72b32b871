#pragma once

#include <chrono>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "kafka/producer.hpp"
#include "messages/batch.hpp"
#include "storage/postgres_store.hpp"

namespace agentmem::actors {

/// Dead-letter reason code of an event that passed the contract but that
/// PostgreSQL rejects on its own (docs/events.md).
inline constexpr const char* storage_rejected_reason = "storage_rejected";

/// Where isolate_rejected_events commits and dead-letters.
struct poison_isolation_config {
  std::string consumer_group;
  std::string embedding_model;
  kafka::producer* dlq_producer = nullptr; ///< may be null: no DLQ produced
  std::string dlq_topic;
  std::chrono::milliseconds dlq_flush_timeout{10000};
};

/// Commits batch `b`, whose commit_batch failed with errc::data_rejected
/// (`rejection`), in parts (domain::bisect_units over domain::split_part),
/// each in its own transaction; the batch's offsets go with the last
/// committed part. An event Postgres still rejects on its own becomes a
/// dead letter (reason_code "storage_rejected", reason "SQLSTATE <code>:
/// <message>", value = the event's raw bytes, key = its user_id, source =
/// its Kafka position), produced to the DLQ before the offsets are
/// committed, and its derived rows are dropped; one warn line per such event
/// names its event_id and SQLSTATE. Derived rows of events outside the batch
/// that are rejected on their own are dropped with a warn line.
///
/// On success `b` holds exactly what was committed (activities, memories,
/// knowledge, rollups recomputed over them; records, offsets kept) and its
/// dead_letters gained the new dead letters; the result sums the parts'
/// results, memory_change::index relative to the new b.memories.
/// Errors (b unchanged; committed parts replay as duplicates): a transient
/// commit error (errc::postgres_error), a DLQ produce/flush error.
caf::expected<storage::commit_result>
isolate_rejected_events(storage::postgres_store& store, batch& b,
                        const caf::error& rejection,
                        const poison_isolation_config& cfg);

} // namespace agentmem::actors
