#include "storage/routing_store.hpp"

#include <pqxx/pqxx>

#include "messages/errc.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

const char* to_string(shard_state s) {
  return s == shard_state::serving ? "serving" : "warming";
}

using detail::int_array_literal;

struct routing_store::impl : detail::pg_session {};

routing_store::routing_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

routing_store::~routing_store() = default;

caf::expected<std::unique_ptr<routing_store>>
routing_store::connect(const std::string& url) {
  auto p = std::make_unique<impl>();
  p->url = url;
  if (auto err = p->open())
    return err;
  return std::unique_ptr<routing_store>{new routing_store(std::move(p))};
}

caf::error routing_store::heartbeat(const std::string& node_id,
                                    const std::string& http_address,
                                    int64_t shards, int64_t points) {
  auto r = impl_->run<bool>("heartbeat", [&](pqxx::connection_base& c)
                                           -> caf::expected<bool> {
    pqxx::work tx{c};
    tx.exec_params(
      "INSERT INTO cluster_nodes (node_id, http_address, shards, points)"
      " VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (node_id) DO UPDATE SET http_address = EXCLUDED"
      ".http_address, heartbeat_at = now(), shards = EXCLUDED.shards,"
      " points = EXCLUDED.points",
      node_id, http_address, shards, points);
    tx.commit();
    return true;
  });
  return r ? caf::error{} : r.error();
}

caf::error routing_store::remove_node(const std::string& node_id) {
  auto r = impl_->run<bool>("remove_node", [&](pqxx::connection_base& c)
                                             -> caf::expected<bool> {
    pqxx::work tx{c};
    tx.exec_params("DELETE FROM cluster_nodes WHERE node_id = $1", node_id);
    tx.commit();
    return true;
  });
  return r ? caf::error{} : r.error();
}

caf::expected<std::vector<partition_claim>>
routing_store::claim(const std::string& group, const std::string& topic,
                     const std::string& node_id,
                     const std::vector<int32_t>& partitions) {
  using result_t = std::vector<partition_claim>;
  if (partitions.empty())
    return result_t{};
  return impl_->run<result_t>("claim", [&](pqxx::connection_base& c)
                                         -> caf::expected<result_t> {
    pqxx::work tx{c};
    // One statement: a new owner bumps the generation and remembers the
    // owner before it; the same owner (a rebalance that handed the
    // partition back, a restart) keeps its generation and has no previous
    // owner to fall back on.
    auto r = tx.exec_params(
      "INSERT INTO partition_owners AS o (consumer_group, topic, partition,"
      " node_id, generation, state, previous_node_id)"
      " SELECT $1, $2, p, $3, 1, 'warming', NULL"
      " FROM unnest($4::int[]) AS p ORDER BY p"
      " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
      " generation = CASE WHEN o.node_id = EXCLUDED.node_id"
      "  THEN o.generation ELSE o.generation + 1 END,"
      " previous_node_id = CASE WHEN o.node_id = EXCLUDED.node_id"
      "  THEN NULL ELSE o.node_id END,"
      " node_id = EXCLUDED.node_id, state = 'warming', updated_at = now()"
      " RETURNING partition, generation, coalesce(previous_node_id, ''),"
      " pg_relation_size('user_activities')"
      " / current_setting('block_size')::bigint",
      group, topic, node_id, int_array_literal(partitions));
    tx.commit();
    result_t out;
    out.reserve(r.size());
    for (const auto& row : r) {
      partition_claim cl;
      cl.partition = row[0].as<int32_t>();
      cl.generation = row[1].as<int64_t>();
      cl.previous_node_id = row[2].as<std::string>();
      cl.activity_blocks = row[3].as<int64_t>();
      if (cl.previous_node_id == node_id)
        cl.previous_node_id.clear();
      out.push_back(std::move(cl));
    }
    return out;
  });
}

caf::expected<bool>
routing_store::set_serving(const std::string& group, const std::string& topic,
                           const std::string& node_id, int32_t partition,
                           int64_t generation, int64_t indexed_seq) {
  return impl_->run<bool>("set_serving", [&](pqxx::connection_base& c)
                                           -> caf::expected<bool> {
    pqxx::work tx{c};
    auto r = tx.exec_params(
      "UPDATE partition_owners SET state = 'serving', indexed_seq = $6,"
      " updated_at = now()"
      " WHERE consumer_group = $1 AND topic = $2 AND partition = $3"
      " AND node_id = $4 AND generation = $5",
      group, topic, partition, node_id, generation, indexed_seq);
    tx.commit();
    return r.affected_rows() == 1;
  });
}

caf::expected<routing_table> routing_store::read(const std::string& group,
                                                 const std::string& topic) {
  return impl_->run<routing_table>("read_routing", [&](pqxx::connection_base& c)
                                                     -> caf::expected<routing_table> {
    pqxx::read_transaction tx{c};
    routing_table out;
    auto o = tx.exec_params(
      "SELECT partition, node_id, generation, state,"
      " coalesce(previous_node_id, ''), indexed_seq FROM partition_owners"
      " WHERE consumer_group = $1 AND topic = $2 ORDER BY partition",
      group, topic);
    for (const auto& row : o) {
      partition_owner p;
      p.partition = row[0].as<int32_t>();
      p.node_id = row[1].as<std::string>();
      p.generation = row[2].as<int64_t>();
      p.state = row[3].as<std::string>() == "serving" ? shard_state::serving
                                                      : shard_state::warming;
      p.previous_node_id = row[4].as<std::string>();
      p.indexed_seq = row[5].as<int64_t>();
      out.owners.push_back(std::move(p));
    }
    auto n = tx.exec(
      "SELECT node_id, http_address,"
      " (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint"
      " FROM cluster_nodes ORDER BY node_id");
    for (const auto& row : n)
      out.nodes.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                           row[2].as<int64_t>()});
    tx.commit();
    return out;
  });
}

caf::expected<std::vector<int32_t>>
routing_store::user_partitions(const std::string& user_id) {
  using result_t = std::vector<int32_t>;
  return impl_->run<result_t>("user_partitions", [&](pqxx::connection_base& c)
                                                   -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params("SELECT partition FROM user_partitions"
                            " WHERE user_id = $1 ORDER BY partition",
                            user_id);
    tx.commit();
    result_t out;
    out.reserve(r.size());
    for (const auto& row : r)
      out.push_back(row[0].as<int32_t>());
    return out;
  });
}

caf::expected<int64_t>
routing_store::commit_age_ms(const std::string& group, const std::string& topic,
                             const std::vector<int32_t>& partitions) {
  return impl_->run<int64_t>("commit_age", [&](pqxx::connection_base& c)
                                             -> caf::expected<int64_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
      "SELECT coalesce(max((extract(epoch FROM clock_timestamp()"
      " - updated_at) * 1000)::bigint), 0) FROM kafka_offsets"
      " WHERE consumer_group = $1 AND topic = $2"
      " AND partition = ANY($3::int[])",
      group, topic, int_array_literal(partitions));
    tx.commit();
    return r[0][0].as<int64_t>();
  });
}

} // namespace agentmem::storage
