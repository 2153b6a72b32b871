#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "actors/membership.hpp"
#include "api/backend.hpp"
#include "storage/routing_store.hpp"
#include "storage/shard_set.hpp"

namespace agentmem::pipeline {

/// Settings of the read router.
struct read_router_config {
  std::string postgres_url; ///< secret: never logged
  std::string group;        ///< consumer group whose routing table is read
  std::string topic;
  std::string node_id;      ///< this node
  /// Node-to-node credential sent with forwarded reads (secret). Empty:
  /// this node never forwards.
  std::string secret;
  std::chrono::milliseconds forward_timeout{2000};
  /// How long a user's partitions are cached (a user gains a partition
  /// only when the topic's partitioning changes).
  std::chrono::milliseconds user_cache_ttl{10000};
  std::shared_ptr<actors::cluster_view> view;
  std::shared_ptr<storage::shard_set> shards;
};

/// Where the shard of a partition is read from.
struct shard_source {
  enum class kind {
    local,    ///< this node holds it serving or releasing
    remote,   ///< another live node serves it (owner, or previous owner
              ///< while the owner warms up)
    postgres, ///< nobody can: an exact scan of Postgres, marked stale
  };
  kind where = kind::postgres;
  std::string node_id; ///< remote only
  std::string address; ///< remote only: host:port
  bool operator<(const shard_source& o) const {
    return std::tie(where, node_id) < std::tie(o.where, o.node_id);
  }
};

/// A reply of another node, relayed to the client.
struct node_reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
};

/// Routes reads of a user to the nodes holding the user's shards, like
/// Kafka Streams' interactive queries route a key to its active host: the
/// user's partitions come from Postgres (`user_partitions`, cached), their
/// owners from the routing table as the membership actor last read it
/// (actors::cluster_view). Thread-safe (the HTTP workers share it).
class read_router {
public:
  explicit read_router(read_router_config cfg);

  /// The partitions `user_id`'s events arrived on, ascending (empty for a
  /// user never seen), cached for user_cache_ttl. Errors: postgres_error.
  caf::expected<std::vector<int32_t>> partitions_of(const std::string& user_id);

  /// Groups `partitions` by where their shards are read from, for a read
  /// that has been forwarded `hops` times already: this node when it holds
  /// the shard serving or releasing; else the owner when alive and
  /// serving; else, while the owner warms up, the previous owner when
  /// alive; else Postgres. A forwarded read (hops >= 1) follows the map
  /// once more at most (a stale map on the sender), then Postgres.
  std::map<shard_source, std::vector<int32_t>>
  plan(const std::vector<int32_t>& partitions, int hops) const;

  /// Sends the read of `ctx` (method, target, body as received) to another
  /// node (`address` host:port) with the node credential, `ctx.scope`,
  /// `partitions` and hops = ctx.hops + 1.
  /// Errors: errc::io_error (connection, timeout), errc::invalid_config
  /// (no secret configured).
  caf::expected<node_reply> forward(const std::string& address,
                                    const api::read_context& ctx,
                                    const std::vector<int32_t>& partitions);

  /// `node_id` failed to answer: plan() skips it for the liveness window
  /// (node_timeout of the view), even while its heartbeat looks fresh.
  void mark_failed(const std::string& node_id);

  /// Marks the read of `partitions` as not answered by their live shard
  /// owner: the lag of an answer from Postgres alone.
  /// Milliseconds since the newest commit of `partitions` (the lag of an
  /// answer read from Postgres alone); 0 when unknown.
  int64_t commit_age_ms(const std::vector<int32_t>& partitions);

  /// True when reads can be forwarded (a secret is configured).
  bool forwards() const {
    return !cfg_.secret.empty();
  }

  const read_router_config& config() const {
    return cfg_;
  }

private:
  template <class F>
  auto with_store(F&& f) -> decltype(f(std::declval<storage::routing_store&>()));

  read_router_config cfg_;
  std::mutex mtx_; // guards store_ and cache_
  std::unique_ptr<storage::routing_store> store_;
  struct cached {
    std::vector<int32_t> partitions;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<std::string, cached> cache_;
  mutable std::mutex failed_mtx_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point>
    failed_;
  bool failed_recently(const std::string& node_id) const;
};

/// The search answer in a search reply's JSON body (docs/api.md: results
/// with their context, "stale", "lag_ms"). Errors: invalid_request.
caf::expected<api::search_answer> parse_search_reply(const std::string& body);

} // namespace agentmem::pipeline
