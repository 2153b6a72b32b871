#include "actors/health.hpp"

#include "storage/shard_set.hpp"

namespace agentmem::actors {

std::string health::not_ready_reason() const {
  if (stopping)
    return "shutting down";
  if (!migrated)
    return "migrations not applied";
  if (!postgres_ok)
    return "postgres unreachable";
  if (!kafka_ok)
    return "kafka consumer not running";
  auto held = shards.lock();
  if (!held || held->partitions(storage::shard_phase::serving).empty())
    return "no owned shard is serving yet";
  return {};
}

} // namespace agentmem::actors
