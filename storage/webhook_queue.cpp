#include "storage/webhook_queue.hpp"

#include <pqxx/pqxx>

#include "storage/memory_versions.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

struct webhook_queue::impl : detail::pg_session {};

webhook_queue::webhook_queue(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

webhook_queue::~webhook_queue() = default;

caf::expected<std::unique_ptr<webhook_queue>>
webhook_queue::connect(const std::string& url) {
  auto p = std::make_unique<impl>();
  p->url = url;
  if (auto err = p->open())
    return err;
  return std::unique_ptr<webhook_queue>{new webhook_queue(std::move(p))};
}

caf::expected<webhook_pass> webhook_queue::dispatch(
  size_t per_key, size_t max_records,
  const std::function<std::vector<webhook_outcome>(
    const std::vector<webhook_delivery>&)>& deliver) {
  return impl_->run<webhook_pass>("webhook dispatch", [&](pqxx::connection_base& c)
                                    -> caf::expected<webhook_pass> {
    webhook_pass out;
    pqxx::work tx{c};
    auto locked = tx.exec("SELECT pg_try_advisory_xact_lock("
                          + std::to_string(detail::lock_class) + ", "
                          + std::to_string(detail::lock_memory_webhooks)
                          + ")");
    if (!locked[0][0].as<bool>())
      return out;
    auto r = tx.exec_params(
      "SELECT id, endpoint, record_key, payload::text, attempts FROM ("
      " SELECT q.*, row_number() OVER w AS rn,"
      "  first_value(next_attempt_at) OVER w AS head_due"
      " FROM memory_webhook_queue q"
      " WINDOW w AS (PARTITION BY endpoint, record_key ORDER BY id)) x"
      " WHERE rn <= $1 AND head_due <= now()"
      " ORDER BY endpoint, record_key, id LIMIT $2",
      static_cast<int64_t>(per_key), static_cast<int64_t>(max_records));
    if (r.empty())
      return out;
    std::vector<webhook_delivery> ds;
    ds.reserve(r.size());
    for (const auto& row : r)
      ds.push_back({row[0].as<int64_t>(), row[1].as<std::string>(),
                    row[2].as<std::string>(), row[3].as<std::string>(),
                    row[4].as<int32_t>()});
    out.attempted = ds.size();
    auto outcomes = deliver(ds);
    std::vector<int64_t> done, retry_ids, retry_ms, dead_ids;
    std::vector<std::string> retry_errors, dead_reasons;
    for (auto& o : outcomes)
      switch (o.kind) {
        case webhook_outcome::delivered:
          done.push_back(o.id);
          break;
        case webhook_outcome::retry:
          retry_ids.push_back(o.id);
          retry_ms.push_back(o.retry_in_ms);
          retry_errors.push_back(o.error);
          break;
        case webhook_outcome::dead:
          dead_ids.push_back(o.id);
          dead_reasons.push_back(o.error);
          break;
      }
    if (!done.empty())
      tx.exec_params("DELETE FROM memory_webhook_queue"
                     " WHERE id = ANY($1::bigint[])",
                     detail::int_array_literal(done));
    if (!retry_ids.empty())
      tx.exec_params(
        "UPDATE memory_webhook_queue q SET attempts = q.attempts + 1,"
        " next_attempt_at = now() + v.ms * interval '1 millisecond',"
        " last_error = v.err"
        " FROM unnest($1::bigint[], $2::bigint[], $3::text[])"
        " AS v(id, ms, err) WHERE q.id = v.id",
        detail::int_array_literal(retry_ids),
        detail::int_array_literal(retry_ms),
        detail::text_array_literal(retry_errors));
    if (!dead_ids.empty())
      tx.exec_params(
        "WITH gone AS (DELETE FROM memory_webhook_queue q"
        "  USING unnest($1::bigint[], $2::text[]) AS v(id, reason)"
        "  WHERE q.id = v.id"
        "  RETURNING q.id, q.endpoint, q.user_id, q.record_key, q.memory_id,"
        "  q.payload, q.attempts + 1 AS attempts, v.reason)"
        " INSERT INTO memory_webhook_dead_letters (endpoint, user_id,"
        " record_key, memory_id, payload, attempts, reason)"
        " SELECT endpoint, user_id, record_key, memory_id, payload, attempts,"
        " reason"
        " FROM gone ORDER BY id",
        detail::int_array_literal(dead_ids),
        detail::text_array_literal(dead_reasons));
    tx.commit();
    out.delivered = done.size();
    out.retried = retry_ids.size();
    out.dead = dead_ids.size();
    return out;
  });
}

caf::expected<int64_t> webhook_queue::pending() {
  return impl_->run<int64_t>("webhook queue pending", [&](pqxx::connection_base& c)
                                                        -> caf::expected<int64_t> {
    pqxx::read_transaction tx{c};
    return tx.exec("SELECT count(*) FROM memory_webhook_queue")[0][0]
      .as<int64_t>();
  });
}

} // namespace agentmem::storage
