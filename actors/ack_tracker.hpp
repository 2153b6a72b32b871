#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace agentmem::actors {

/// The highest batch id the pipeline has fully processed, shared between
/// vector linking (which advances it) and ingress' rebalance callback
/// (which waits on it): during a revoke ingress is inside librdkafka's
/// poll and cannot read its mailbox, so batch_ack messages cannot reach it.
/// Batches complete in id order (one chain, FIFO), so one number suffices.
class ack_tracker {
public:
  /// Records that batch `id` (and so every earlier one) is done.
  void done(uint64_t id) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (id > done_)
        done_ = id;
    }
    cv_.notify_all();
  }

  /// Waits until batch `id` is done or `timeout` passes; true when done.
  bool wait_for(uint64_t id, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mtx_};
    return cv_.wait_for(lock, timeout, [&] { return done_ >= id; });
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  uint64_t done_ = 0;
};

} // namespace agentmem::actors
