#include "storage/outbox_store.hpp"

#include <algorithm>

#include <pqxx/pqxx>

#include "storage/memory_versions.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

struct outbox_store::impl : detail::pg_session {
  outbox_spec spec;
  int64_t relayed_up_to = 0; // the highest id this store deleted
};

outbox_spec analytics_outbox_spec() {
  return {"analytics_outbox", detail::lock_analytics_outbox, {}};
}

outbox_spec memory_outbox_spec(std::vector<outbox_webhook_route> webhooks) {
  return {"memory_outbox", detail::lock_memory_outbox, std::move(webhooks)};
}

outbox_store::outbox_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

outbox_store::~outbox_store() = default;

caf::expected<std::unique_ptr<outbox_store>>
outbox_store::connect(const std::string& url, outbox_spec spec) {
  auto p = std::make_unique<impl>();
  p->url = url;
  p->spec = std::move(spec);
  if (auto err = p->open())
    return err;
  return std::unique_ptr<outbox_store>{new outbox_store(std::move(p))};
}

caf::expected<size_t> outbox_store::relay(
  size_t limit,
  const std::function<caf::error(const std::vector<outbox_record>&)>&
    publish,
  bool from_start) {
  const auto& spec = impl_->spec;
  return impl_->run<size_t>("relay_outbox", [&](pqxx::connection_base& c)
                                              -> caf::expected<size_t> {
    pqxx::work tx{c};
    auto locked = tx.exec("SELECT pg_try_advisory_xact_lock("
                          + std::to_string(detail::lock_class) + ", "
                          + std::to_string(spec.lock_purpose) + ")");
    if (!locked[0][0].as<bool>())
      return size_t{0};
    auto table = tx.quote_name(spec.table);
    auto r = tx.exec_params("SELECT id, record_key, payload::text FROM "
                              + table + " WHERE id > $2 ORDER BY id LIMIT $1",
                            static_cast<int64_t>(limit),
                            from_start ? int64_t{0} : impl_->relayed_up_to);
    if (r.empty())
      return size_t{0};
    std::vector<outbox_record> records;
    records.reserve(r.size());
    for (const auto& row : r)
      records.push_back({row[0].as<int64_t>(), row[1].as<std::string>(),
                         row[2].as<std::string>()});
    if (auto err = publish(records))
      return err;
    // By id, not "id <= last": a writer that took a lower id may commit
    // after this snapshot.
    std::vector<int64_t> id_list;
    id_list.reserve(records.size());
    for (auto& rec : records)
      id_list.push_back(rec.id);
    auto ids = detail::int_array_literal(id_list);
    if (!spec.webhooks.empty()) {
      std::vector<std::string> names, prefixes;
      for (auto& w : spec.webhooks) {
        names.push_back(w.endpoint);
        prefixes.push_back(w.key_prefix);
      }
      tx.exec_params(
        "INSERT INTO memory_webhook_queue (endpoint, user_id, record_key,"
        " memory_id, payload) SELECT w.endpoint, o.user_id, o.record_key,"
        " o.memory_id, o.payload"
        " FROM " + table + " o JOIN unnest($2::text[], $3::text[])"
        " AS w(endpoint, prefix) ON starts_with(o.record_key, w.prefix)"
        " WHERE o.id = ANY($1::bigint[]) ORDER BY o.id, w.endpoint",
        ids, detail::text_array_literal(names),
        detail::text_array_literal(prefixes));
    }
    tx.exec_params("DELETE FROM " + table + " WHERE id = ANY($1::bigint[])",
                   ids);
    tx.commit();
    impl_->relayed_up_to = std::max(impl_->relayed_up_to, records.back().id);
    return records.size();
  });
}

caf::expected<int64_t> outbox_store::pending() {
  return impl_->run<int64_t>("outbox_pending", [&](pqxx::connection_base& c)
                                                 -> caf::expected<int64_t> {
    pqxx::read_transaction tx{c};
    // The id range, two index probes, not count(*): the outbox churns
    // (every record inserted, then deleted), and between vacuums a count
    // reads every dead row too (42 ms per count with 95,000 dead rows at
    // the end of a 35 s steady run; docs/performance.md, eleventh round).
    auto r = tx.exec("SELECT coalesce(max(id) - min(id) + 1, 0) FROM "
                     + tx.quote_name(impl_->spec.table));
    return r[0][0].as<int64_t>();
  });
}

} // namespace agentmem::storage
