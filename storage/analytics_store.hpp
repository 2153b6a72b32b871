#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/analytics_rows.hpp"

namespace agentmem::storage {

/// Reads of the analytics tables (storage/migrations/040_analytics.sql);
/// the outbox relay is storage::outbox_store. Owns ONE connection: not thread-safe. Errors are
/// values (errc::postgres_error, errc::invalid_request); the connection is
/// re-established on the next call after a failure.
class analytics_store {
public:
  /// Connects to `url`. errc::postgres_error (with the redacted URL).
  static caf::expected<std::unique_ptr<analytics_store>>
  connect(const std::string& url);
  ~analytics_store();

  analytics_store(const analytics_store&) = delete;
  analytics_store& operator=(const analytics_store&) = delete;

  // -- reads for the analytics API (docs/api.md "Analytics") ----------------
  // Ranges are whole hours: from rounded down, to up (whole days for
  // q.granularity "day"); the caller bounds their length. Rows outside
  // r.scope (and r.user_id when set) are never read. Percentiles come from
  // the merged sketches (analytics_sketch_quantile). Errors:
  // errc::invalid_request (bad group_by, granularity),
  // errc::postgres_error.

  // The listings are keyset pages in a total order (sort values, then a
  // unique key); positions as api/analytics.hpp lists them. A position
  // that does not parse is errc::invalid_request.

  /// One page of (bucket, group) rows in (bucket_start, group) order.
  caf::expected<agentmem::usage_page> usage(const agentmem::usage_query& q);
  /// Per (agent_type, agent_name), most events first.
  caf::expected<agentmem::keyset_page<agentmem::agent_summary>>
  agents(const agentmem::analytics_range& r, const agentmem::page_request& p);
  /// Per (tool_name, tool_category), most calls first.
  caf::expected<agentmem::keyset_page<agentmem::tool_summary>>
  tools(const agentmem::analytics_range& r, const agentmem::page_request& p);
  /// Per model, highest cost first, then most tokens, then by model.
  caf::expected<agentmem::keyset_page<agentmem::model_cost>>
  costs(const agentmem::analytics_range& r, const agentmem::page_request& p);
  /// Every skill with its enabled bindings and the calls of tools named
  /// like it in the range; most calls first, then by name.
  caf::expected<agentmem::keyset_page<agentmem::skill_usage>>
  skill_usage(const agentmem::analytics_range& r,
              const agentmem::page_request& p);

  // -- skills registry (migration 041) --------------------------------------
  /// By name.
  caf::expected<agentmem::keyset_page<agentmem::skill>>
  skills(const agentmem::page_request& p);
  /// errc::not_found when absent.
  caf::expected<agentmem::skill> get_skill(const std::string& name);
  /// Upsert (updated_at = now()). errc::invalid_request for a malformed
  /// spec JSON, errc::data_rejected for values the table refuses.
  caf::expected<agentmem::skill> put_skill(const agentmem::skill& s);
  /// errc::not_found when absent; its bindings are deleted with it.
  caf::error delete_skill(const std::string& name);
  /// One agent's bindings, highest priority first, then by skill.
  caf::expected<agentmem::keyset_page<agentmem::skill_binding>>
  bindings(const std::string& agent_name, const agentmem::page_request& p);
  /// errc::not_found when absent.
  caf::expected<agentmem::skill_binding>
  get_binding(const std::string& agent_name, const std::string& skill);
  /// Upsert; errc::not_found when the skill does not exist.
  caf::expected<agentmem::skill_binding> put_binding(const agentmem::skill_binding& b);
  /// errc::not_found when absent.
  caf::error delete_binding(const std::string& agent_name,
                            const std::string& skill);

  struct impl;

private:
  explicit analytics_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace agentmem::storage
