#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "metrics/registry.hpp"
#include "storage/governance_store.hpp"

namespace agentmem::actors {

/// Asks the retention actor for one pass now (see retention()).
using retention_run_atom = caf::atom_constant<caf::atom("retrun")>;

/// Configuration of the retention actor (config section [retention]).
struct retention_config {
  std::string postgres_url; ///< secret: never logged
  storage::retention_policy policy;
  std::chrono::milliseconds interval{60000}; ///< period between passes
  /// The pipeline's embedder: re-embeds turns whose retrieval context was
  /// deleted (storage::governance_store::apply_retention). May be null.
  std::shared_ptr<domain::embedder> embedder;
};

/// State of the retention actor.
struct retention_state {
  static inline const char* name = "retention";
  std::unique_ptr<storage::governance_store> store;
  metrics::counter* errors = nullptr;
  metrics::counter* runs = nullptr;
};

/// Adds a pass's result to agentmem_retention_removed_total{kind}
/// (kind: sessions_closed, sessions, activities, memories, rows,
/// contexts_cleared).
void count_retention(const storage::retention_result& r);

/// Retention (spawn detached: it blocks on Postgres): every `interval`
/// (first pass right after start) runs storage::governance_store::
/// apply_retention with the configured policies. Deletions go to the
/// `deletions` log, which every node's index_sync applies to its vector
/// index, keyword index and RocksDB. `retention_run_atom` (request) runs one pass
/// now and replies with the counts (sessions_closed, sessions_deleted,
/// memories_deleted) or the error. Errors of a scheduled pass are logged,
/// counted in agentmem_retention_errors_total and retried next interval.
caf::behavior retention(caf::stateful_actor<retention_state>* self,
                        retention_config cfg);

} // namespace agentmem::actors
