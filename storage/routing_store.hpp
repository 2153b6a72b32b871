#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace agentmem::storage {

/// A node of the cluster as the routing table lists it.
struct cluster_node {
  std::string node_id;
  std::string http_address; ///< "host:port" other nodes forward to
  int64_t heartbeat_age_ms = 0; ///< now - last heartbeat (database clock)
};

/// State of a partition's shard on its owner.
enum class shard_state {
  warming, ///< assigned; loading its snapshot and catching up
  serving, ///< caught up with Postgres; answers reads
};

/// "warming" or "serving".
const char* to_string(shard_state s);

/// One row of `partition_owners`.
struct partition_owner {
  int32_t partition = -1;
  std::string node_id;
  int64_t generation = 0; ///< grows with every change of owner
  shard_state state = shard_state::warming;
  /// The owner before `node_id`; it serves the shard read-only while the
  /// new owner is warming. Empty when there was none.
  std::string previous_node_id;
  int64_t indexed_seq = 0; ///< the owner's shard watermark (memories.seq)
};

/// The whole routing table of one consumer group and topic.
struct routing_table {
  std::vector<partition_owner> owners; ///< by partition
  std::vector<cluster_node> nodes;     ///< by node_id
};

/// What `claim` recorded.
struct partition_claim {
  int32_t partition = -1;
  int64_t generation = 0;
  std::string previous_node_id; ///< the owner before, "" if none or self
  /// user_activities' size in blocks when the claim was written: every
  /// activity committed before lies in a lower block (rows are never
  /// updated; only a table rewrite such as VACUUM FULL moves them).
  /// index_sync bounds its working-memory rebuild by it.
  int64_t activity_blocks = -1;
};

/// The routing table in PostgreSQL (050_partition_ownership): nodes with
/// their advertised HTTP address and heartbeat, the owner of each partition
/// (written from the rebalance callback) and the partitions each user's
/// events arrived on. Owns ONE connection: not thread-safe, use one
/// instance per thread. Errors: errc::postgres_error (the store reconnects
/// on the next call).
class routing_store {
public:
  /// Connects to `url`. Errors: errc::postgres_error (URL redacted).
  static caf::expected<std::unique_ptr<routing_store>>
  connect(const std::string& url);
  ~routing_store();

  /// Upserts the node's row: address, heartbeat = now(), shards held and
  /// vector points held (for operators and the scaling benchmark).
  caf::error heartbeat(const std::string& node_id,
                       const std::string& http_address, int64_t shards,
                       int64_t points);

  /// Deletes the node's row (clean shutdown): routers stop considering it
  /// at once instead of after the liveness window.
  caf::error remove_node(const std::string& node_id);

  /// Records `node_id` as the owner of `partitions` in state warming, in
  /// one transaction. A partition that changes owner gets generation + 1
  /// and remembers the owner before it as previous_node_id (that node
  /// serves the shard read-only until this one serves); a partition this
  /// node already owned keeps its generation and gets no previous owner.
  caf::expected<std::vector<partition_claim>>
  claim(const std::string& group, const std::string& topic,
        const std::string& node_id, const std::vector<int32_t>& partitions);

  /// Sets the shard of `partition` serving with watermark `indexed_seq`,
  /// if `node_id` still owns it at `generation` (a late write of an earlier
  /// owner changes nothing). Returns whether the row was updated.
  caf::expected<bool> set_serving(const std::string& group,
                                  const std::string& topic,
                                  const std::string& node_id,
                                  int32_t partition, int64_t generation,
                                  int64_t indexed_seq);

  /// The routing table of `group`/`topic` with every known node.
  caf::expected<routing_table> read(const std::string& group,
                                    const std::string& topic);

  /// The partitions `user_id`'s events arrived on, ascending; empty for a
  /// user never seen.
  caf::expected<std::vector<int32_t>>
  user_partitions(const std::string& user_id);

  /// Milliseconds since the newest batch commit of each of `partitions` in
  /// `group`/`topic` (kafka_offsets.updated_at), the largest of them: how
  /// far behind the stream an answer from Postgres alone may be. 0 when
  /// none has a stored offset.
  caf::expected<int64_t> commit_age_ms(const std::string& group,
                                       const std::string& topic,
                                       const std::vector<int32_t>& partitions);

private:
  struct impl;
  explicit routing_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
