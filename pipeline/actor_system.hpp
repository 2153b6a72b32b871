#pragma once

#include <cstddef>
#include <cstdint>

#include <caf/actor_system_config.hpp>

namespace agentmem::pipeline {

/// Scheduler settings of a node (CAF 0.17's work-stealing policy). An idle
/// worker spins briefly (CAF's "aggressive" phase, 100 attempts), then
/// polls its queue with 50 µs sleeps (the "moderate" phase: CAF's default
/// is 500 attempts, up to 25 ms of wake-ups every 50 µs each time a worker
/// runs out of work), then waits on its condition variable with a timeout
/// (the "relaxed" phase, 10 ms by default), waking to steal from the other
/// workers. agentmem skips the moderate phase and waits 5 ms in the
/// relaxed one: an enqueue from outside the scheduler wakes a waiting
/// worker at once, and a job another worker queued for itself is stolen
/// within 5 ms. An idle worker wakes 200 times per second instead of
/// 20,000 times in the first 25 ms of every idle period; an idle node
/// spends what it spends with CAF's defaults (≈ 0.9 % of a core, 4
/// workers, measured). docs/performance.md, "Idle scheduler workers".
inline constexpr size_t scheduler_moderate_poll_attempts = 0;
/// Timeout of an idle worker's wait (µs); see above.
inline constexpr int64_t scheduler_relaxed_sleep_us = 5000;

/// The actor system configuration every node process uses (`agentmem
/// run`, `agentmem dev`, pipeline_bench): agentmem's message types and the
/// scheduler settings above. Returned by value (CAF 0.17's config is
/// movable).
caf::actor_system_config node_actor_system_config();

} // namespace agentmem::pipeline
