#include "pipeline/analytics_service.hpp"

#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "api/analytics_codec.hpp"
#include "messages/errc.hpp"

namespace agentmem::pipeline {

namespace {

bool is_postgres_error(const caf::error& err) {
  return err && err.category() == errc_category
         && static_cast<errc>(err.code()) == errc::postgres_error;
}

template <class T>
const caf::error& error_of(const caf::expected<T>& x) {
  return x.error();
}

const caf::error& error_of(const caf::error& x) {
  return x;
}

template <class T>
bool failed(const caf::expected<T>& x) {
  return !x;
}

bool failed(const caf::error& x) {
  return static_cast<bool>(x);
}

} // namespace

analytics_service::analytics_service(std::string postgres_url)
  : url_(std::move(postgres_url)) {
}

template <class F>
auto analytics_service::with_store(F&& f)
  -> decltype(f(std::declval<storage::analytics_store&>())) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (int attempt = 0;; ++attempt) {
    if (!store_) {
      auto s = storage::analytics_store::connect(url_);
      if (!s)
        return s.error();
      store_ = std::move(*s);
    }
    auto r = f(*store_);
    if (!failed(r) || !is_postgres_error(error_of(r)) || attempt == 1)
      return r;
    store_.reset(); // possibly a broken connection: reconnect once
  }
}

caf::error analytics_service::seed_skills(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::io_error, "cannot read skills file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto seed = api::parse_skills_seed(text.str());
  if (!seed)
    return seed.error();
  for (auto& s : seed->skills)
    if (auto r = put_skill(s); !r)
      return r.error();
  for (auto& b : seed->bindings)
    if (auto r = put_binding(b); !r)
      return r.error();
  spdlog::info("[analytics] seeded {} skills and {} bindings from {}",
               seed->skills.size(), seed->bindings.size(), path);
  return caf::none;
}

caf::expected<api::usage_page>
analytics_service::usage(const api::usage_query& q) {
  return with_store([&](storage::analytics_store& s) { return s.usage(q); });
}

caf::expected<api::keyset_page<api::agent_summary>>
analytics_service::agents(const api::analytics_range& r,
                          const api::page_request& p) {
  return with_store(
    [&](storage::analytics_store& s) { return s.agents(r, p); });
}

caf::expected<api::keyset_page<api::tool_summary>>
analytics_service::tools(const api::analytics_range& r,
                         const api::page_request& p) {
  return with_store([&](storage::analytics_store& s) { return s.tools(r, p); });
}

caf::expected<api::keyset_page<api::model_cost>>
analytics_service::costs(const api::analytics_range& r,
                         const api::page_request& p) {
  return with_store([&](storage::analytics_store& s) { return s.costs(r, p); });
}

caf::expected<api::keyset_page<api::skill_usage>>
analytics_service::skill_usage_summary(const api::analytics_range& r,
                                       const api::page_request& p) {
  return with_store(
    [&](storage::analytics_store& s) { return s.skill_usage(r, p); });
}

caf::expected<api::keyset_page<api::skill>>
analytics_service::skills(const api::page_request& p) {
  return with_store([&](storage::analytics_store& s) { return s.skills(p); });
}

caf::expected<api::skill>
analytics_service::get_skill(const std::string& name) {
  return with_store(
    [&](storage::analytics_store& s) { return s.get_skill(name); });
}

caf::expected<api::skill> analytics_service::put_skill(const api::skill& x) {
  return with_store(
    [&](storage::analytics_store& s) { return s.put_skill(x); });
}

caf::error analytics_service::delete_skill(const std::string& name) {
  return with_store(
    [&](storage::analytics_store& s) { return s.delete_skill(name); });
}

caf::expected<api::keyset_page<api::skill_binding>>
analytics_service::bindings(const std::string& agent_name,
                            const api::page_request& p) {
  return with_store(
    [&](storage::analytics_store& s) { return s.bindings(agent_name, p); });
}

caf::expected<api::skill_binding>
analytics_service::get_binding(const std::string& agent_name,
                               const std::string& skill) {
  return with_store([&](storage::analytics_store& s) {
    return s.get_binding(agent_name, skill);
  });
}

caf::expected<api::skill_binding>
analytics_service::put_binding(const api::skill_binding& b) {
  return with_store(
    [&](storage::analytics_store& s) { return s.put_binding(b); });
}

caf::error analytics_service::delete_binding(const std::string& agent_name,
                                             const std::string& skill) {
  return with_store([&](storage::analytics_store& s) {
    return s.delete_binding(agent_name, skill);
  });
}

} // namespace agentmem::pipeline
