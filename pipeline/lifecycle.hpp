#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>

namespace agentmem::pipeline {

/// The start/stop order of a node as one stack, after Seastar's deferred
/// stops and Redpanda's `application::_deferred`: each component registers
/// its stop right after it started, and stop() runs the registered stops in
/// reverse order. A step that must run early at shutdown (draining input)
/// is registered late, after what it has to precede. Thread-safe; a stop
/// step must not call back into its lifecycle's stop().
class lifecycle {
public:
  /// One component's stop: an error to report (the node's stop then
  /// fails), or none. Steps bound their own waits.
  using stop_fn = std::function<caf::error()>;

  lifecycle() = default;
  lifecycle(const lifecycle&) = delete;
  lifecycle& operator=(const lifecycle&) = delete;

  /// Runs stop() if it did not run yet.
  ~lifecycle();

  /// Registers the stop of component `name` (a metric label: lower case,
  /// no spaces), which just started. After stop() began, `stop` runs at
  /// once instead, so nothing registered late is left running.
  void push(std::string name, stop_fn stop);

  /// Runs `start`, which pushes the stops of what it starts. When it
  /// returns an error, the components started so far are stopped in
  /// reverse order and the start's error is returned (their stop errors
  /// are only logged); when it throws, they are stopped and the exception
  /// propagates.
  caf::error start(const std::function<caf::error()>& start);

  /// Runs every registered stop once, last registered first, each even
  /// when an earlier one failed or threw; logs each step with its duration
  /// and sets agentmem_lifecycle_stop_seconds{component}. Returns the first
  /// error (a thrown exception becomes errc::io_error). Later calls run
  /// nothing and return none.
  caf::error stop();

  /// Names of the registered components not stopped yet, in start order.
  std::vector<std::string> components() const;

private:
  struct entry {
    std::string name;
    stop_fn stop;
  };

  /// Runs one step: its error, if any, timed and logged.
  static caf::error run(entry& e);

  std::mutex stop_mtx_; ///< held for a whole stop(): callers wait for it
  mutable std::mutex mtx_;
  std::vector<entry> stack_;
  bool stopping_ = false;
};

} // namespace agentmem::pipeline
