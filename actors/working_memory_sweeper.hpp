#pragma once

#include <chrono>
#include <memory>

#include <caf/all.hpp>

#include "metrics/registry.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::actors {

/// Configuration of the working-memory sweeper.
struct working_memory_sweeper_config {
  std::shared_ptr<storage::working_memory> working;
  std::chrono::milliseconds interval{60000}; ///< sweep period
};

/// State of the sweeper.
struct working_memory_sweeper_state {
  static inline const char* name = "working_memory_sweeper";
  metrics::counter* swept = nullptr;
  metrics::counter* errors = nullptr;
};

/// Deletes expired working-memory sessions (storage::working_memory::sweep)
/// every `interval`, counting them in
/// agentmem_working_memory_expired_sessions_total. Reads never see expired
/// sessions anyway; the sweep reclaims their space. RocksDB errors are
/// counted (agentmem_working_memory_sweep_errors_total) and retried on the
/// next tick.
caf::behavior
working_memory_sweeper(caf::stateful_actor<working_memory_sweeper_state>* self,
                       working_memory_sweeper_config cfg);

} // namespace agentmem::actors
