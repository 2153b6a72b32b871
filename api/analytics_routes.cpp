#include "api/analytics_routes.hpp"

#include <charconv>

#include "api/analytics_codec.hpp"
#include "api/codec.hpp"
#include "api/status_page.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::api::analytics_routes {

namespace {

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 86'400'000;
/// Longest ranges: hourly rows for 31 days, daily rows and summaries for
/// 366 days.
constexpr int64_t max_hourly_range_ms = 31 * day_ms;
constexpr int64_t max_range_ms = 366 * day_ms;
constexpr int max_limit = 10000;

reply error(int status, const char* code, std::string detail) {
  reply r;
  r.status = status;
  r.error_code = code;
  r.detail = std::move(detail);
  return r;
}

reply bad(std::string detail) {
  return error(400, "bad_request", std::move(detail));
}

// The detail text of an errc error (without the code's name).
std::string detail_of(const caf::error& err) {
  if (err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return describe(err);
}

reply ok(nlohmann::ordered_json j, int status = 200) {
  reply r;
  r.status = status;
  r.json = std::move(j);
  return r;
}

reply from_error(const caf::error& err, int ok_status = 204) {
  reply r;
  if (err)
    r.backend_error = err;
  else
    r.status = ok_status;
  return r;
}

// RFC 3339 or integer epoch ms.
std::optional<int64_t> parse_instant(const std::string& s) {
  if (auto t = domain::parse_rfc3339_ms(s))
    return t;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc{} && p == s.data() + s.size() && !s.empty())
    return v;
  return std::nullopt;
}

// Rejects query keys outside `allowed`.
std::optional<reply> only(const query_params& q,
                          std::initializer_list<std::string_view> allowed) {
  for (auto& [k, v] : q) {
    bool known = false;
    for (auto a : allowed)
      known = known || k == a;
    if (!known)
      return bad("query parameter '" + k + "' does not apply here");
  }
  return std::nullopt;
}

// from/to (default: the 24 hours before now), bounded; the token's scope
// and the optional user_id (which it must allow).
std::optional<reply> read_range(const query_params& q, const token_entry& tok,
                                int64_t now_ms, int64_t max_ms,
                                analytics_range& r) {
  r.to_ms = now_ms;
  if (auto it = q.find("to"); it != q.end()) {
    auto t = parse_instant(it->second);
    if (!t)
      return bad("to must be an RFC 3339 timestamp or epoch ms");
    r.to_ms = *t;
  }
  r.from_ms = r.to_ms - day_ms;
  if (auto it = q.find("from"); it != q.end()) {
    auto t = parse_instant(it->second);
    if (!t)
      return bad("from must be an RFC 3339 timestamp or epoch ms");
    r.from_ms = *t;
  }
  if (r.from_ms >= r.to_ms)
    return bad("from must be before to");
  if (r.to_ms - r.from_ms > max_ms)
    return bad("the range from..to may span at most "
               + std::to_string(max_ms / day_ms) + " days");
  r.scope = scope_of(tok);
  if (auto it = q.find("user_id"); it != q.end()) {
    if (auto err = check_id("user_id", it->second))
      return bad(detail_of(err));
    if (!tok.allows(it->second))
      return error(403, "forbidden", "the token may not access this user_id");
    r.user_id = it->second;
  }
  return std::nullopt;
}

} // namespace

user_scope scope_of(const token_entry& tok) {
  user_scope s;
  switch (tok.kind) {
    case token_scope_kind::admin:
      s.all = true;
      break;
    case token_scope_kind::users:
      s.users = tok.users;
      break;
    case token_scope_kind::prefix:
      s.prefix = tok.prefix;
      break;
  }
  return s;
}

reply analytics(analytics_backend* be, std::string_view report,
                const query_params& q, const token_entry& tok,
                int64_t now_ms) {
  if (!be)
    return error(503, "unavailable", "analytics are not configured");
  if (report == "usage") {
    if (auto e = only(q, {"from", "to", "granularity", "group_by", "user_id",
                          "cursor", "limit"}))
      return *e;
    usage_query uq;
    if (auto it = q.find("granularity"); it != q.end())
      uq.granularity = it->second;
    if (uq.granularity != "hour" && uq.granularity != "day")
      return bad("granularity must be hour or day");
    if (auto it = q.find("group_by"); it != q.end())
      uq.group_by = it->second;
    if (uq.group_by != "user" && uq.group_by != "agent_type"
        && uq.group_by != "agent_name" && uq.group_by != "model"
        && uq.group_by != "tool")
      return bad("group_by must be user, agent_type, agent_name, model or "
                 "tool");
    if (auto e = read_range(q, tok, now_ms,
                            uq.granularity == "hour" ? max_hourly_range_ms
                                                     : max_range_ms,
                            uq.range))
      return *e;
    if (auto it = q.find("limit"); it != q.end()) {
      int v = 0;
      auto& s = it->second;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size() || v < 1
          || v > max_limit)
        return bad("limit must be an integer in 1.." + std::to_string(max_limit));
      uq.limit = v;
    }
    if (auto it = q.find("cursor"); it != q.end())
      uq.cursor = it->second;
    auto page = be->usage(uq);
    if (!page)
      return from_error(page.error());
    return ok(usage_json(uq, *page));
  }
  if (auto e = only(q, {"from", "to", "user_id"}))
    return *e;
  analytics_range r;
  if (auto e = read_range(q, tok, now_ms, max_range_ms, r))
    return *e;
  auto with_range = [&](nlohmann::ordered_json j) {
    j["from"] = domain::format_rfc3339_ms(r.from_ms);
    j["to"] = domain::format_rfc3339_ms(r.to_ms);
    return ok(std::move(j));
  };
  if (report == "agents") {
    auto x = be->agents(r);
    return x ? with_range(agents_json(*x)) : from_error(x.error());
  }
  if (report == "tools") {
    auto x = be->tools(r);
    return x ? with_range(tools_json(*x)) : from_error(x.error());
  }
  if (report == "costs") {
    auto x = be->costs(r);
    return x ? with_range(costs_json(*x)) : from_error(x.error());
  }
  if (report == "skills") {
    auto x = be->skill_usage_summary(r);
    return x ? with_range(skill_usage_json(*x)) : from_error(x.error());
  }
  return error(404, "not_found",
               "no such report; one of usage, agents, tools, costs, skills");
}

namespace {

caf::expected<nlohmann::json> parse_body(const std::string& body) {
  if (json_nesting_depth(body, 16) > 16)
    return make_error(errc::invalid_request, "the body is nested too deeply");
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded())
    return make_error(errc::invalid_request, "the body is not valid JSON");
  return j;
}

std::optional<reply> need_admin(const token_entry& tok) {
  if (!tok.is_admin())
    return error(403, "forbidden",
                 "token " + tok.name + " is not an admin token");
  return std::nullopt;
}

} // namespace

reply skills(analytics_backend* be, const std::string& method,
             const std::string& name, const std::string& body,
             const query_params& q, const token_entry& tok) {
  if (!be)
    return error(503, "unavailable", "analytics are not configured");
  if (auto e = only(q, {}))
    return *e;
  if (name.empty()) {
    if (method != "GET" && method != "HEAD")
      return error(405, "method_not_allowed", "GET only on /v1/skills");
    auto xs = be->skills();
    if (!xs)
      return from_error(xs.error());
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (auto& s : *xs)
      arr.push_back(skill_json(s));
    return ok({{"skills", std::move(arr)}});
  }
  if (method == "GET" || method == "HEAD") {
    auto s = be->get_skill(name);
    return s ? ok(skill_json(*s)) : from_error(s.error());
  }
  if (auto e = need_admin(tok))
    return *e;
  if (method == "DELETE")
    return from_error(be->delete_skill(name));
  auto j = parse_body(body);
  if (!j)
    return bad(detail_of(j.error()));
  auto s = parse_skill(*j, name);
  if (!s)
    return bad(detail_of(s.error()));
  auto stored = be->put_skill(*s);
  return stored ? ok(skill_json(*stored)) : from_error(stored.error());
}

reply agent_skills(analytics_backend* be, const std::string& method,
                   const std::string& agent_name, const std::string& skill,
                   const std::string& body, const query_params& q,
                   const token_entry& tok) {
  if (!be)
    return error(503, "unavailable", "analytics are not configured");
  if (auto e = only(q, {}))
    return *e;
  if (method == "GET" || method == "HEAD") {
    auto xs = be->bindings(agent_name);
    if (!xs)
      return from_error(xs.error());
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (auto& b : *xs)
      if (skill.empty() || b.skill == skill)
        arr.push_back(binding_json(b));
    if (!skill.empty()) {
      if (arr.empty())
        return error(404, "not_found",
                     "no binding of skill " + skill + " to " + agent_name);
      return ok(arr[0]);
    }
    return ok({{"agent_name", agent_name}, {"skills", std::move(arr)}});
  }
  if (skill.empty())
    return error(405, "method_not_allowed",
                 "PUT and DELETE need /v1/agents/{agent_name}/skills/{skill}");
  if (auto e = need_admin(tok))
    return *e;
  if (method == "DELETE")
    return from_error(be->delete_binding(agent_name, skill));
  auto j = parse_body(body);
  if (!j)
    return bad(detail_of(j.error()));
  auto b = parse_binding(*j, agent_name, skill);
  if (!b)
    return bad(detail_of(b.error()));
  auto stored = be->put_binding(*b);
  return stored ? ok(binding_json(*stored)) : from_error(stored.error());
}

reply ui_file(std::string_view name) {
  auto f = find_ui_asset(name);
  if (!f)
    return error(404, "not_found", "no such file of the status page");
  reply r;
  r.file = f->body;
  r.content_type = f->content_type;
  return r;
}

reply ui_today(analytics_backend* be, int64_t now_ms) {
  if (!be)
    return error(503, "unavailable", "analytics are not configured");
  auto j = today_analytics(*be, now_ms);
  if (!j)
    return from_error(j.error());
  return ok(std::move(*j));
}

} // namespace agentmem::api::analytics_routes
