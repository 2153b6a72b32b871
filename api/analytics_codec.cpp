#include "api/analytics_codec.hpp"

#include <limits>

#include "api/codec.hpp"
#include "api/cursor.hpp"
#include "domain/strict_input.hpp"
#include "domain/strict_json.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::api {

using ojson = nlohmann::ordered_json;

namespace {

ojson opt(const std::optional<double>& v) {
  return v ? ojson(*v) : ojson(nullptr);
}

caf::error bad(const std::string& what) {
  return make_error(errc::invalid_request, what);
}

// A string field: absent -> `out` unchanged; else 0..max code points (min
// 1 when `required`), no NUL or control characters
// (domain::strict::check_text).
caf::error read_text(const nlohmann::json& j, const char* field, size_t max,
                     bool required, std::string& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) {
    if (required && out.empty())
      return bad(std::string{field} + " is required");
    return caf::none;
  }
  if (!it->is_string())
    return bad(std::string{field} + " must be a string");
  auto s = it->get<std::string>();
  if (auto err = domain::strict::check_text(field, s, required ? 1 : 0, max,
                                            false))
    return err;
  out = std::move(s);
  return caf::none;
}

caf::error read_name(const nlohmann::json& j, const char* field,
                     const std::string& from_url, std::string& out) {
  if (!from_url.empty()) {
    auto it = j.find(field);
    if (it != j.end() && !it->is_null()
        && !(it->is_string() && it->get<std::string>() == from_url))
      return bad(std::string{field} + " in the body differs from the URL");
    out = from_url;
  } else if (auto err = read_text(j, field, max_id_chars, true, out)) {
    return err;
  }
  return check_id(field, out);
}

caf::error read_object(const nlohmann::json& j, const char* field,
                       std::string& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null())
    return caf::none;
  if (!it->is_object())
    return bad(std::string{field} + " must be a JSON object");
  out = it->dump();
  return caf::none;
}

caf::error read_bool(const nlohmann::json& j, const char* field, bool& out) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null())
    return caf::none;
  if (!it->is_boolean())
    return bad(std::string{field} + " must be true or false");
  out = it->get<bool>();
  return caf::none;
}

} // namespace

ojson measures_json(const analytics_measures& m) {
  ojson out = ojson::object();
  out["events"] = m.events;
  out["errors"] = m.errors;
  out["success_rate"] = opt(m.success_rate);
  out["processing_time_ms"] = m.processing_time_ms;
  out["latency_ms"] = ojson{{"p50", opt(m.p50_ms)},
                            {"p90", opt(m.p90_ms)},
                            {"p95", opt(m.p95_ms)},
                            {"p99", opt(m.p99_ms)}};
  out["tokens"] = m.tokens;
  out["files"] = m.files;
  out["sessions_started"] = m.sessions_started;
  out["sessions_ended"] = m.sessions_ended;
  out["cost_usd"] = std::stod(m.cost_usd.empty() ? "0" : m.cost_usd);
  out["priced_events"] = m.priced_events;
  out["unpriced_events"] = m.unpriced_events;
  out["last_event_at"] = m.last_event_ms > 0
                           ? ojson(domain::format_rfc3339_ms(m.last_event_ms))
                           : ojson(nullptr);
  return out;
}

ojson usage_json(const usage_query& q, const usage_page& p) {
  ojson rows = ojson::array();
  for (auto& b : p.items) {
    ojson r = ojson::object();
    r["bucket_start"] = domain::format_rfc3339_ms(b.bucket_start_ms);
    if (q.group_by == "tool") {
      r["tool_name"] = b.group;
      r["tool_category"] = b.tool_category;
    } else {
      r[q.group_by == "user" ? "user_id" : q.group_by] = b.group;
    }
    auto m = measures_json(b.m);
    for (auto& [k, v] : m.items())
      r[k] = v;
    rows.push_back(std::move(r));
  }
  ojson out = ojson::object();
  out["from"] = domain::format_rfc3339_ms(q.range.from_ms);
  out["to"] = domain::format_rfc3339_ms(q.range.to_ms);
  out["granularity"] = q.granularity;
  out["group_by"] = q.group_by;
  out["rows"] = std::move(rows);
  out["next_cursor"] = next_cursor_json(usage_cursor_kind, p.next);
  return out;
}

namespace {

template <class T, class F>
ojson rows_json(const std::vector<T>& xs, F&& head) {
  ojson rows = ojson::array();
  for (auto& x : xs) {
    ojson r = head(x);
    auto m = measures_json(x.m);
    for (auto& [k, v] : m.items())
      r[k] = v;
    rows.push_back(std::move(r));
  }
  return rows;
}

} // namespace

ojson agents_json(const std::vector<agent_summary>& xs) {
  return ojson{{"agents", rows_json(xs, [](const agent_summary& a) {
    ojson r = ojson::object();
    r["agent_type"] = a.agent_type;
    r["agent_name"] = a.agent_name;
    r["mean_events_per_session"] = opt(a.mean_events_per_session);
    return r;
  })}};
}

ojson tools_json(const std::vector<tool_summary>& xs) {
  return ojson{{"tools", rows_json(xs, [](const tool_summary& t) {
    ojson r = ojson::object();
    r["tool_name"] = t.tool_name;
    r["tool_category"] = t.tool_category;
    r["agents"] = t.agents;
    return r;
  })}};
}

ojson costs_json(const std::vector<model_cost>& xs) {
  return ojson{{"models", rows_json(xs, [](const model_cost& m) {
    ojson r = ojson::object();
    r["model"] = m.model;
    return r;
  })}};
}

ojson skill_usage_json(const std::vector<skill_usage>& xs) {
  return ojson{{"skills", rows_json(xs, [](const skill_usage& u) {
    ojson r = ojson::object();
    r["skill"] = u.skill;
    r["category"] = u.category;
    r["active"] = u.active;
    r["bound_agents"] = u.bound_agents;
    return r;
  })}};
}

ojson skill_json(const skill& s) {
  ojson out = ojson::object();
  out["name"] = s.name;
  out["description"] = s.description;
  out["category"] = s.category;
  out["version"] = s.version;
  out["spec"] = ojson::parse(s.spec_json, nullptr, false);
  out["dependencies"] = s.dependencies;
  out["active"] = s.active;
  out["updated_at"] = domain::format_rfc3339_ms(s.updated_ms);
  return out;
}

ojson binding_json(const skill_binding& b) {
  ojson out = ojson::object();
  out["agent_name"] = b.agent_name;
  out["skill"] = b.skill;
  out["enabled"] = b.enabled;
  out["priority"] = b.priority;
  out["config"] = ojson::parse(b.config_json, nullptr, false);
  out["updated_at"] = domain::format_rfc3339_ms(b.updated_ms);
  return out;
}

caf::expected<skill> parse_skill(const nlohmann::json& body,
                                 const std::string& name) {
  if (!body.is_object())
    return bad("the body must be a JSON object");
  skill s;
  caf::error err;
  if ((err = read_name(body, "name", name, s.name))
      || (err = read_text(body, "description", 4096, false, s.description))
      || (err = read_text(body, "category", 128, false, s.category))
      || (err = read_text(body, "version", 64, true, s.version))
      || (err = read_object(body, "spec", s.spec_json))
      || (err = read_bool(body, "active", s.active)))
    return err;
  if (auto it = body.find("dependencies"); it != body.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > 64)
      return bad("dependencies must be an array of at most 64 skill names");
    for (auto& d : *it) {
      if (!d.is_string())
        return bad("dependencies must hold strings");
      auto dep = d.get<std::string>();
      if (auto e = check_id("dependencies[]", dep))
        return e;
      s.dependencies.push_back(std::move(dep));
    }
  }
  return s;
}

caf::expected<skill_binding> parse_binding(const nlohmann::json& body,
                                           const std::string& agent_name,
                                           const std::string& skill_name) {
  if (!body.is_object())
    return bad("the body must be a JSON object");
  skill_binding b;
  caf::error err;
  if ((err = read_name(body, "agent_name", agent_name, b.agent_name))
      || (err = read_name(body, "skill", skill_name, b.skill))
      || (err = read_bool(body, "enabled", b.enabled))
      || (err = read_object(body, "config", b.config_json)))
    return err;
  if (auto it = body.find("priority"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < -1'000'000
        || it->get<int64_t>() > 1'000'000)
      return bad("priority must be an integer in -1000000..1000000");
    b.priority = static_cast<int32_t>(it->get<int64_t>());
  }
  return b;
}

caf::expected<skills_seed> parse_skills_seed(const std::string& text) {
  auto parsed = domain::strict::parse_json(text, 16, "skills file");
  if (!parsed)
    return parsed.error();
  auto& j = *parsed;
  if (!j.is_object())
    return bad("skills file: not a JSON object");
  skills_seed out;
  if (auto it = j.find("skills"); it != j.end()) {
    if (!it->is_array())
      return bad("skills file: skills must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      auto s = parse_skill((*it)[i], "");
      if (!s)
        return bad("skills file: skills[" + std::to_string(i)
                   + "]: " + describe(s.error()));
      out.skills.push_back(std::move(*s));
    }
  }
  if (auto it = j.find("bindings"); it != j.end()) {
    if (!it->is_array())
      return bad("skills file: bindings must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      auto b = parse_binding((*it)[i], "", "");
      if (!b)
        return bad("skills file: bindings[" + std::to_string(i)
                   + "]: " + describe(b.error()));
      out.bindings.push_back(std::move(*b));
    }
  }
  return out;
}

} // namespace agentmem::api
