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
class analytics_backend {
public:
  virtual ~analytics_backend() = default;
  virtual caf::expected<usage_page> usage(const usage_query& q) = 0;
  virtual caf::expected<std::vector<agent_summary>>
  agents(const analytics_range& r) = 0;
  virtual caf::expected<std::vector<tool_summary>>
  tools(const analytics_range& r) = 0;
  virtual caf::expected<std::vector<model_cost>>
  costs(const analytics_range& r) = 0;
  virtual caf::expected<std::vector<skill_usage>>
  skill_usage_summary(const analytics_range& r) = 0;
  virtual caf::expected<std::vector<skill>> skills() = 0;
  /// errc::not_found when there is no such skill.
  virtual caf::expected<skill> get_skill(const std::string& name) = 0;
  /// Inserts or replaces; returns the stored skill.
  virtual caf::expected<skill> put_skill(const skill& s) = 0;
  /// errc::not_found when there is no such skill (bindings go with it).
  virtual caf::error delete_skill(const std::string& name) = 0;
  /// Bindings of one agent ("" = all), by agent, priority desc, skill.
  virtual caf::expected<std::vector<skill_binding>>
  bindings(const std::string& agent_name) = 0;
  /// Inserts or replaces; errc::not_found when the skill does not exist.
  virtual caf::expected<skill_binding> put_binding(const skill_binding& b) = 0;
  /// errc::not_found when there is no such binding.
  virtual caf::error delete_binding(const std::string& agent_name,
                                    const std::string& skill) = 0;
};

} // namespace agentmem::api
