#include "actors/fault_injection.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>

namespace agentmem::actors {

namespace {

struct plan {
  std::mutex mtx;
  std::string stage;
  int at_batch = 0;
  int times = 0;
  int seen = 0;
  std::atomic<bool> armed{false};
};

plan& global_plan() {
  static plan p;
  return p;
}

} // namespace

void arm_fault(const std::string& stage, int at_batch, int times) {
  auto& p = global_plan();
  std::lock_guard<std::mutex> guard{p.mtx};
  p.stage = stage;
  p.at_batch = at_batch;
  p.times = times;
  p.seen = 0;
  p.armed = !stage.empty() && times > 0;
}

void fault_point(const char* stage) {
  auto& p = global_plan();
  if (!p.armed.load(std::memory_order_relaxed))
    return; // the production path: one relaxed load
  std::lock_guard<std::mutex> guard{p.mtx};
  if (p.stage != stage)
    return;
  ++p.seen;
  if (p.seen >= p.at_batch && p.seen < p.at_batch + p.times)
    throw std::runtime_error(std::string{"injected fault in "} + stage);
}

} // namespace agentmem::actors
