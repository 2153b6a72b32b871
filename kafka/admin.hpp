#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "kafka/topic_spec.hpp"

namespace agentmem::kafka {

/// Creates `topics` on real brokers with the CreateTopics admin API (the
/// mock cluster does not support it: use mock_cluster::create_topic there).
/// A topic that already exists counts as success (its partition count is not
/// checked or changed). `props` are librdkafka client properties (SASL/TLS,
/// ...); topic-level configs go in `topic_spec::configs`. `timeout` bounds
/// the whole call, including connecting.
/// Errors: kafka_error naming each topic that failed, timeout when the
/// brokers did not answer in time.
caf::error create_topics(const std::string& brokers,
                         const std::vector<topic_spec>& topics,
                         const std::map<std::string, std::string>& props,
                         std::chrono::milliseconds timeout);

} // namespace agentmem::kafka
