#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/health.hpp"
#include "actors/stage_metrics.hpp"
#include "domain/embedding.hpp"
#include "domain/tombstones.hpp"
#include "kafka/producer.hpp"
#include "storage/applied_seqs.hpp"
#include "storage/hot_state.hpp"
#include "storage/postgres_store.hpp"
#include "storage/working_memory.hpp"

namespace agentmem::actors {

/// Configuration of the writer.
struct writer_config {
  /// Told the memories.seq range of each committed batch (pending until
  /// vector linking applied it); may be null.
  std::shared_ptr<storage::applied_seqs> applied;
  caf::actor next;                  ///< vector linking
  std::string postgres_url;         ///< secret: never logged
  std::string consumer_group;
  std::string embedding_model;
  std::string dlq_topic;
  std::shared_ptr<kafka::producer> dlq_producer;
  std::shared_ptr<health> status;
  std::chrono::milliseconds max_backoff{5000};
  /// Deleted users (may be null). Tombstones the commit transaction found
  /// that this set did not know yet are added to it; the dropped events'
  /// memories are removed from the batch before vector linking, and what
  /// extraction and embedding already wrote for them (buffered messages in
  /// `hot`, items in `working`, cached vectors in `embedder`) is erased.
  std::shared_ptr<domain::tombstone_set> tombstones;
  std::shared_ptr<storage::hot_state> hot;
  std::shared_ptr<storage::working_memory> working; ///< may be null
  std::shared_ptr<domain::embedder> embedder;       ///< may be null
  /// Event-time windowing of the analytics rollups (`[analytics]`).
  storage::analytics_window_options analytics;
};

/// State of the writer: its own Postgres connection and the batches that
/// wait behind one being retried.
struct writer_state {
  static inline const char* name = "writer";
  std::unique_ptr<storage::postgres_store> store;
  std::deque<batch> pending;
  bool retry_scheduled = false;
  std::chrono::milliseconds backoff{100};
  stage_metrics metrics{"writer"};
  metrics::histogram* commit_latency = nullptr;
  metrics::counter* retries = nullptr;
  metrics::counter* dead_lettered_total = nullptr;
};

/// Writer: for each batch, in order, (1) produces its dead letters to the
/// DLQ topic and waits for their delivery, then (2) commits the batch to
/// Postgres in one transaction (activities idempotent on event_id, sessions,
/// file uploads, memories (linked to their activities by the memory_links
/// view), usage rollups of the new events
/// only, consumed offsets). When Postgres rejects the data itself
/// (errc::data_rejected) it commits the batch in parts around the rejected
/// events and dead-letters those with reason `storage_rejected`
/// (actors/poison_isolation.hpp). On other failures it reconnects and
/// retries with exponential backoff (100 ms doubling to max_backoff),
/// keeping later batches queued behind (their number is bounded by
/// ingress' in-flight limit), and marks Postgres not-ready meanwhile.
caf::behavior writer(caf::stateful_actor<writer_state>* self,
                     writer_config cfg);

} // namespace agentmem::actors
