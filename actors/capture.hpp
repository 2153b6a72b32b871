#pragma once

#include <memory>

#include <caf/all.hpp>

#include "actors/stage_metrics.hpp"
#include "domain/contract.hpp"
#include "domain/tombstones.hpp"

namespace agentmem::actors {

/// Configuration of the capture stage.
struct capture_config {
  caf::actor next;               ///< memory extraction
  domain::contract_limits limits;
  /// Deleted users (may be null): their events with ts <= cutoff are
  /// dropped here, counted in agentmem_events_tombstoned_total; their
  /// offsets are still committed.
  std::shared_ptr<domain::tombstone_set> tombstones;
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
/// The counter agentmem_events_tombstoned_total (capture and writer).
metrics::counter& tombstoned_counter();

caf::behavior capture(caf::stateful_actor<capture_state>* self,
                      capture_config cfg);

} // namespace agentmem::actors
