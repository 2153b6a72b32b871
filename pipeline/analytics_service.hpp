#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <caf/error.hpp>

#include "api/analytics.hpp"
#include "storage/analytics_store.hpp"

namespace agentmem::pipeline {

/// api::analytics_backend over PostgreSQL (storage::analytics_store): one
/// connection shared under a mutex, reopened once when a call fails on a
/// broken connection. Thread-safe.
class analytics_service : public api::analytics_backend {
public:
  /// Connects lazily to `postgres_url` (secret: never logged).
  explicit analytics_service(std::string postgres_url);

  /// Upserts the skills and bindings of a seed file (api::parse_skills_seed
  /// format): skills first, then bindings. Errors: errc::io_error (cannot
  /// read), errc::invalid_request (malformed), storage errors.
  caf::error seed_skills(const std::string& path);

  caf::expected<api::usage_page> usage(const api::usage_query& q) override;
  caf::expected<api::keyset_page<api::agent_summary>>
  agents(const api::analytics_range& r, const api::page_request& p) override;
  caf::expected<api::keyset_page<api::tool_summary>>
  tools(const api::analytics_range& r, const api::page_request& p) override;
  caf::expected<api::keyset_page<api::model_cost>>
  costs(const api::analytics_range& r, const api::page_request& p) override;
  caf::expected<api::keyset_page<api::skill_usage>>
  skill_usage_summary(const api::analytics_range& r,
                      const api::page_request& p) override;
  caf::expected<api::keyset_page<api::skill>>
  skills(const api::page_request& p) override;
  caf::expected<api::skill> get_skill(const std::string& name) override;
  caf::expected<api::skill> put_skill(const api::skill& s) override;
  caf::error delete_skill(const std::string& name) override;
  caf::expected<api::keyset_page<api::skill_binding>>
  bindings(const std::string& agent_name, const api::page_request& p) override;
  caf::expected<api::skill_binding>
  get_binding(const std::string& agent_name, const std::string& skill) override;
  caf::expected<api::skill_binding>
  put_binding(const api::skill_binding& b) override;
  caf::error delete_binding(const std::string& agent_name,
                            const std::string& skill) override;

private:
  /// Runs f(store) under the mutex; on a postgres_error reconnects and
  /// tries once more (other errors are answers, returned as is).
  template <class F>
  auto with_store(F&& f) -> decltype(f(std::declval<storage::analytics_store&>()));

  std::string url_;
  std::mutex mtx_;
  std::unique_ptr<storage::analytics_store> store_;
};

} // namespace agentmem::pipeline
