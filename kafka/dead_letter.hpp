#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "kafka/producer.hpp"
#include "messages/record.hpp"

namespace agentmem::kafka {

/// Kafka Connect's dead-letter-queue header names
/// (org.apache.kafka.connect.runtime.errors.DeadLetterQueueReporter), so
/// Connect tooling can read agentmem's DLQ. Values are UTF-8 text; partition
/// and offset are decimal integers.
namespace dlq_headers {
/// Topic the record was consumed from.
inline constexpr const char* topic = "__connect.errors.topic";
/// Partition it was consumed from (decimal).
inline constexpr const char* partition = "__connect.errors.partition";
/// Its offset in that partition (decimal).
inline constexpr const char* offset = "__connect.errors.offset";
/// "agentmem.contract." + dead_letter::reason_code.
inline constexpr const char* exception_class =
  "__connect.errors.exception.class.name";
/// dead_letter::reason, the human-readable detail.
inline constexpr const char* exception_message =
  "__connect.errors.exception.message";
/// Prefix of exception_class values.
inline constexpr const char* class_prefix = "agentmem.contract.";
} // namespace dlq_headers

/// Publishes each dead letter to `dlq_topic`, then flushes.
///
/// Each DLQ record keeps the original key and value bytes and the original
/// headers (in order, except any earlier `__connect.errors.*` header with one
/// of the five names below, which is replaced), then gets Kafka Connect's DLQ
/// headers: `__connect.errors.topic`, `__connect.errors.partition`,
/// `__connect.errors.offset` (the source position),
/// `__connect.errors.exception.class.name` = "agentmem.contract." +
/// reason_code and `__connect.errors.exception.message` = reason.
/// The DLQ key equals the original key, so a user's rejects stay in order.
///
/// Errors: the first produce error, or the flush error (delivery failure or
/// timeout after `flush_timeout`). Records enqueued before an error may
/// still be delivered, so a retry can duplicate them (at-least-once).
/// An empty `xs` is a no-op.
caf::error produce_dead_letters(producer& p, const std::string& dlq_topic,
                                const std::vector<dead_letter>& xs,
                                std::chrono::milliseconds flush_timeout);

/// The headers `produce_dead_letters` writes for one dead letter.
std::vector<std::pair<std::string, std::string>>
dead_letter_headers(const dead_letter& x);

} // namespace agentmem::kafka
