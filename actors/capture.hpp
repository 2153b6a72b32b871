#pragma once

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/contract.hpp"

namespace agentmem::actors {

/// Configuration of the capture stage.
struct capture_config {
  caf::actor next;               ///< memory extraction
  domain::contract_limits limits;
};

/// State of capture: a reusable contract decoder (simdjson parser).
struct capture_state {
  static inline const char* name = "capture";
  domain::event_decoder decoder;
  stage_metrics metrics{"capture"};
  capture_state() = default;
};

/// Capture: decodes a batch's records against event contract v1
/// (docs/events.md) into activities (deduplicated on event_id within the
/// batch) and dead letters with their reasons, then forwards the batch.
/// Raw records of valid events are dropped here (ingress keeps its own copy
/// until the batch is acknowledged).
caf::behavior capture(caf::stateful_actor<capture_state>* self,
                      capture_config cfg);

} // namespace agentmem::actors
