#pragma once

#include <caf/atom.hpp>

namespace agentmem {

// CAF 0.17 atoms: at most 10 characters of [0-9A-Za-z_].
using poll_atom = caf::atom_constant<caf::atom("poll")>;
using sink_atom = caf::atom_constant<caf::atom("sink")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
/// Partitions assigned to / revoked from this node (shard hand-off).
using assign_atom = caf::atom_constant<caf::atom("assign")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;

} // namespace agentmem
