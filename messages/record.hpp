#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "messages/activity.hpp"
#include "messages/inspect.hpp"

namespace agentmem {

/// One Kafka record as consumed: position, key and value bytes, headers.
struct kafka_record {
  source_position source;
  std::string key;
  std::string value;
  int64_t timestamp_ms = -1; ///< broker/producer timestamp, -1 if none
  std::vector<std::pair<std::string, std::string>> headers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kafka_record& x) {
  return f(caf::meta::type_name("agentmem::kafka_record"), x.source, x.key,
           x.value, x.timestamp_ms, x.headers);
}

/// A record that broke the event contract, with the reason it goes to the
/// dead-letter topic. `reason_code` is a stable snake_case label (used as a
/// metric label and as `__connect.errors.exception.class.name`).
struct dead_letter {
  kafka_record record;
  std::string reason_code;
  std::string reason; ///< human-readable detail
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_letter& x) {
  return f(caf::meta::type_name("agentmem::dead_letter"), x.record,
           x.reason_code, x.reason);
}

/// The next offset to consume for one partition (Kafka commit semantics:
/// last processed offset + 1).
struct partition_offset {
  std::string topic;
  int32_t partition = -1;
  int64_t next_offset = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_offset& x) {
  return f(caf::meta::type_name("agentmem::partition_offset"), x.topic,
           x.partition, x.next_offset);
}

} // namespace agentmem
