#include "pipeline/lifecycle.hpp"

#include <chrono>
#include <exception>

#include <spdlog/spdlog.h>

#include "messages/errc.hpp"
#include "metrics/registry.hpp"

namespace agentmem::pipeline {

lifecycle::~lifecycle() {
  stop();
}

void lifecycle::push(std::string name, stop_fn stop) {
  entry e{std::move(name), std::move(stop)};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stopping_) {
      stack_.push_back(std::move(e));
      return;
    }
  }
  // Started while the node stops: stop it right away.
  run(e);
}

caf::error lifecycle::start(const std::function<caf::error()>& start) {
  caf::error err;
  try {
    err = start();
  } catch (...) {
    spdlog::error("[lifecycle] start threw; stopping what started");
    stop();
    throw;
  }
  if (err) {
    spdlog::error("[lifecycle] start failed ({}); stopping what started",
                  describe(err));
    stop();
  }
  return err;
}

caf::error lifecycle::stop() {
  std::lock_guard<std::mutex> serial{stop_mtx_};
  caf::error first;
  for (;;) {
    entry e;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
      if (stack_.empty())
        break;
      e = std::move(stack_.back());
      stack_.pop_back();
    }
    auto err = run(e);
    if (err && !first)
      first = std::move(err);
  }
  return first;
}

std::vector<std::string> lifecycle::components() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& e : stack_)
    out.push_back(e.name);
  return out;
}

caf::error lifecycle::run(entry& e) {
  auto t0 = std::chrono::steady_clock::now();
  caf::error err;
  try {
    err = e.stop();
  } catch (const std::exception& ex) {
    err = make_error(errc::io_error, "stopping " + e.name + " threw: "
                                       + ex.what());
  } catch (...) {
    err = make_error(errc::io_error, "stopping " + e.name + " threw");
  }
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  metrics::global()
    .get_gauge("agentmem_lifecycle_stop_seconds",
               "Duration of each component's step in this process's last "
               "stop (pipeline/lifecycle.hpp; docs/architecture.md).",
               {{"component", e.name}})
    .set(took.count());
  if (err)
    spdlog::warn("[lifecycle] stopping {} failed after {:.3f} s: {}", e.name,
                 took.count(), describe(err));
  else
    spdlog::info("[lifecycle] stopped {} in {:.3f} s", e.name, took.count());
  return err;
}

} // namespace agentmem::pipeline
