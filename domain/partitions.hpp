#pragma once

#include "messages/batch.hpp"

namespace agentmem::domain {

/// Sets `memory::partition` of every memory of `b` that has none (-1) to
/// the Kafka partition its source event arrived on: the partition of the
/// batch activity with the memory's event_id, else that of the first
/// activity of the memory's user in the batch (a rolling session summary
/// names an event of an earlier batch), else it stays -1 (no Kafka source).
/// The partition is taken from the records as consumed, never recomputed
/// from the key: producers may use other partitioners.
void assign_partitions(batch& b);

} // namespace agentmem::domain
