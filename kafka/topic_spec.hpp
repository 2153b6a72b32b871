#pragma once

#include <map>
#include <string>

namespace agentmem::kafka {

/// A topic to create (mock cluster or real brokers).
struct topic_spec {
  std::string name;
  int partitions = 1;
  /// Replicas per partition; -1 = broker default (admin) or
  /// min(3, brokers) (mock cluster).
  int replication_factor = -1;
  /// Topic-level configs for real brokers (e.g. {"retention.ms","86400000"});
  /// ignored by the mock cluster.
  std::map<std::string, std::string> configs = {};
};

} // namespace agentmem::kafka
