#pragma once

// The interface the analytics, skills and status-page routes answer from
// (api/handlers_analytics.cpp); its rows are messages/analytics_rows.hpp.

#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/analytics_rows.hpp"

namespace agentmem::api {

using ::agentmem::user_scope;
using ::agentmem::analytics_range;
using ::agentmem::analytics_measures;
using ::agentmem::page_request;
using ::agentmem::keyset_page;
using ::agentmem::usage_query;
using ::agentmem::usage_bucket;
using ::agentmem::usage_page;
using ::agentmem::agent_summary;
using ::agentmem::tool_summary;
using ::agentmem::model_cost;
using ::agentmem::skill;
using ::agentmem::skill_binding;
using ::agentmem::skill_usage;

/// What the analytics routes need (implemented over PostgreSQL by
/// pipeline/analytics_service). Thread-safe. Errors: errc::invalid_request
/// (-> 400), errc::not_found (-> 404), anything else -> 503.
///
/// The listings are keyset pages (page_request / keyset_page) in a total
/// order; a page's `next` position, sent back as `after`, continues the
/// listing with no row repeated or skipped while the rows' sort values do
/// not change. Positions (list_position {ts_ms, id}; U+001F separates the
/// parts of an id):
///   usage                (bucket_start ms, group key)
///   agents               (events, agent_type U+001F agent_name)
///   tools                (events, tool_name U+001F tool_category)
///   costs                (tokens, cost_usd decimal text U+001F model)
///   skill_usage_summary  (events, skill name)
///   skills               (0, name)
///   bindings             (priority, skill)
/// A position whose parts do not parse is errc::invalid_request.
class analytics_backend {
public:
  virtual ~analytics_backend() = default;
  virtual caf::expected<usage_page> usage(const usage_query& q) = 0;
  /// Per (agent_type, agent_name), most events first.
  virtual caf::expected<keyset_page<agent_summary>>
  agents(const analytics_range& r, const page_request& p) = 0;
  /// Per (tool_name, tool_category), most calls first.
  virtual caf::expected<keyset_page<tool_summary>>
  tools(const analytics_range& r, const page_request& p) = 0;
  /// Per model, highest cost first, then most tokens.
  virtual caf::expected<keyset_page<model_cost>>
  costs(const analytics_range& r, const page_request& p) = 0;
  /// Every skill, most calls first, then by name.
  virtual caf::expected<keyset_page<skill_usage>>
  skill_usage_summary(const analytics_range& r, const page_request& p) = 0;
  /// The registry by name.
  virtual caf::expected<keyset_page<skill>> skills(const page_request& p) = 0;
  /// errc::not_found when there is no such skill.
  virtual caf::expected<skill> get_skill(const std::string& name) = 0;
  /// Inserts or replaces; returns the stored skill.
  virtual caf::expected<skill> put_skill(const skill& s) = 0;
  /// errc::not_found when there is no such skill (bindings go with it).
  virtual caf::error delete_skill(const std::string& name) = 0;
  /// Bindings of one agent, highest priority first, then by skill.
  virtual caf::expected<keyset_page<skill_binding>>
  bindings(const std::string& agent_name, const page_request& p) = 0;
  /// errc::not_found when there is no such binding.
  virtual caf::expected<skill_binding>
  get_binding(const std::string& agent_name, const std::string& skill) = 0;
  /// Inserts or replaces; errc::not_found when the skill does not exist.
  virtual caf::expected<skill_binding> put_binding(const skill_binding& b) = 0;
  /// errc::not_found when there is no such binding.
  virtual caf::error delete_binding(const std::string& agent_name,
                                    const std::string& skill) = 0;
};

} // namespace agentmem::api
