#pragma once

#include <chrono>
#include <cstdint>

#include <caf/error.hpp>
#include <toml++/toml.h>

#include "domain/dedup.hpp"
#include "domain/rolling_summary.hpp"
#include "storage/working_memory.hpp"


namespace agentmem::pipeline {

/// The `[memory]` section (deploy/agentmem.toml, docs/operations.md):
///   dedup = true                    near-duplicate updates (docs/memory.md)
///   dedup_min_cosine = 0.92         0..1
///   dedup_min_jaccard = 0.8         0..1
///   working_memory_ttl_ms = 1800000 inactivity TTL, >= 1000
///   working_memory_items = 20       items kept per session, 1..1000
///   working_memory_sweep_ms = 60000 sweep period, >= 100
///   summary_every_messages = 0      rolling summaries; 0 = only at session_end
///   summary_every_ms = 0            rolling summaries by event time; 0 = off
struct memory_settings {
  domain::dedup_config dedup;
  storage::working_memory_config working;
  std::chrono::milliseconds working_sweep{60000};
  domain::rolling_summary_config rolling{0, 0};
};

/// Reads `[memory]` of `t` over `out`'s values. errc::invalid_config names
/// the offending key.
caf::error read_memory_settings(const toml::table& t, memory_settings& out);

} // namespace agentmem::pipeline
