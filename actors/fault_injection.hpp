#pragma once

#include <string>

namespace agentmem::actors {

/// Test-only fault injection (config `[testing]`, docs/operations.md):
/// makes the named stage throw at its `at_batch`-th batch (1-based, counted
/// across restarts) and at the `times - 1` batches after it, so tests can
/// watch the supervisor restart the chain and the batch be replayed.
/// Disarmed by default; arming twice replaces the plan. Thread-safe.
void arm_fault(const std::string& stage, int at_batch, int times);

/// Called by each stage once per batch; throws std::runtime_error
/// ("injected fault in <stage>") when the armed plan says so.
void fault_point(const char* stage);

} // namespace agentmem::actors
