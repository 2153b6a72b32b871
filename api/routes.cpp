#include "api/routes.hpp"

#include "api/codec.hpp"
#include "domain/strict_json.hpp"

namespace agentmem::api {

namespace {

constexpr uint8_t get_head = m_get | m_head;

// The API (docs/api.md, docs/openapi.yaml). Literal patterns come before
// parametric ones of the same shape ("/v1/memories/search" before
// "/v1/memories/{memory_id}").
const std::vector<route> table = {
  // pattern, methods, access, user_id from, listener, handler, JSON body,
  // routed read
  // memory
  {"/v1/memories/search", m_post, access::user, user_source::body,
   listener::main, handlers::search, true, routed_read::search},
  {"/v1/sessions/{session_id}/messages", get_head, access::user,
   user_source::query, listener::main, handlers::session_messages, false,
   routed_read::session_messages},
  {"/v1/sessions/{session_id}/working-memory", get_head, access::user,
   user_source::query, listener::main, handlers::working_memory, false,
   routed_read::working_memory},
  {"/v1/memories/{memory_id}/history", get_head, access::user,
   user_source::query, listener::main, handlers::memory_history},
  {"/v1/memories/{memory_id}", get_head, access::user, user_source::query,
   listener::main, handlers::get_memory},
  {"/v1/memories/{memory_id}", m_patch, access::user, user_source::query,
   listener::main, handlers::patch_memory, true},
  {"/v1/memories/{memory_id}", m_delete, access::user, user_source::query,
   listener::main, handlers::delete_memory},
  {"/v1/users/{user_id}/memories", get_head, access::user, user_source::path,
   listener::main, handlers::list_memories},
  {"/v1/users/{user_id}/sessions", get_head, access::user, user_source::path,
   listener::main, handlers::list_sessions},
  {"/v1/users/{user_id}/projects", get_head, access::user, user_source::path,
   listener::main, handlers::list_projects},
  // analytics
  {"/v1/users/{user_id}/usage", get_head, access::user, user_source::path,
   listener::main, handlers::usage},
  // Any valid token: reads are scoped to the token's users (and an
  // optional user_id query parameter it must allow); the skills registry
  // is managed with an admin token.
  {"/v1/analytics/usage", get_head, access::user, user_source::none,
   listener::main, handlers::analytics_usage},
  {"/v1/analytics/agents", get_head, access::user, user_source::none,
   listener::main, handlers::analytics_agents},
  {"/v1/analytics/tools", get_head, access::user, user_source::none,
   listener::main, handlers::analytics_tools},
  {"/v1/analytics/costs", get_head, access::user, user_source::none,
   listener::main, handlers::analytics_costs},
  {"/v1/analytics/skills", get_head, access::user, user_source::none,
   listener::main, handlers::analytics_skills},
  {"/v1/skills", get_head, access::user, user_source::none, listener::main,
   handlers::list_skills},
  {"/v1/skills/{name}", get_head, access::user, user_source::none,
   listener::main, handlers::get_skill},
  {"/v1/skills/{name}", m_put, access::admin, user_source::none,
   listener::main, handlers::put_skill, true},
  {"/v1/skills/{name}", m_delete, access::admin, user_source::none,
   listener::main, handlers::delete_skill},
  {"/v1/agents/{agent_name}/skills", get_head, access::user,
   user_source::none, listener::main, handlers::list_agent_skills},
  {"/v1/agents/{agent_name}/skills/{skill}", get_head, access::user,
   user_source::none, listener::main, handlers::get_agent_skill},
  {"/v1/agents/{agent_name}/skills/{skill}", m_put, access::admin,
   user_source::none, listener::main, handlers::put_agent_skill, true},
  {"/v1/agents/{agent_name}/skills/{skill}", m_delete, access::admin,
   user_source::none, listener::main, handlers::delete_agent_skill},
  // knowledge
  {"/v1/users/{user_id}/facts", get_head, access::user, user_source::path,
   listener::main, handlers::facts},
  {"/v1/users/{user_id}/entities", get_head, access::user, user_source::path,
   listener::main, handlers::entities},
  {"/v1/users/{user_id}/entities/{entity_id}/neighbors", get_head,
   access::user, user_source::path, listener::main,
   handlers::entity_neighbors},
  // governance
  {"/v1/users/{user_id}", m_delete, access::user, user_source::path,
   listener::main, handlers::delete_user},
  {"/v1/users/{user_id}/export", m_get, access::user, user_source::path,
   listener::main, handlers::export_user},
  // ops
  {"/healthz", get_head, access::open, user_source::none, listener::ops,
   handlers::healthz},
  {"/readyz", get_head, access::open, user_source::none, listener::ops,
   handlers::readyz},
  {"/metrics", get_head, access::open, user_source::none, listener::ops,
   handlers::metrics},
  // the API contract (docs/openapi.yaml): open, on the main listener
  {"/openapi.json", get_head, access::open, user_source::none, listener::main,
   handlers::openapi},
  // the status page: its files are open (aggregates only come from
  // /ui/api/today, which needs an admin token entered on the page)
  {"/ui", get_head, access::open, user_source::none, listener::ops,
   handlers::ui_file},
  {"/ui/api/today", m_get, access::admin, user_source::none, listener::ops,
   handlers::ui_today},
  {"/ui/{file}", get_head, access::open, user_source::none, listener::ops,
   handlers::ui_file},
};

// Calls f(segment) for each '/'-separated segment of `path` after the
// leading '/'; stops (returning false) when f returns false.
template <class F>
bool each_segment(std::string_view path, F&& f) {
  size_t pos = 1;
  for (;;) {
    auto next = path.find('/', pos);
    auto seg = path.substr(pos, next == std::string_view::npos
                                  ? std::string_view::npos
                                  : next - pos);
    if (!f(seg))
      return false;
    if (next == std::string_view::npos)
      return true;
    pos = next + 1;
  }
}

// Matches `path` against `pattern`, collecting parameters.
bool matches(std::string_view pattern, std::string_view path,
             path_params& params) {
  params.clear();
  std::vector<std::string_view> pat;
  each_segment(pattern, [&](std::string_view s) {
    pat.push_back(s);
    return true;
  });
  size_t i = 0;
  bool ok = each_segment(path, [&](std::string_view seg) {
    if (i >= pat.size())
      return false;
    auto p = pat[i++];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      params.emplace_back(p.substr(1, p.size() - 2), seg);
      return true;
    }
    return p == seg;
  });
  return ok && i == pat.size();
}

} // namespace

const std::vector<route>& route_table() {
  return table;
}

uint8_t method_bit(std::string_view m) {
  if (m == "GET")
    return m_get;
  if (m == "HEAD")
    return m_head;
  if (m == "POST")
    return m_post;
  if (m == "PUT")
    return m_put;
  if (m == "PATCH")
    return m_patch;
  if (m == "DELETE")
    return m_delete;
  return 0;
}

std::string method_list(uint8_t bits) {
  static const std::pair<uint8_t, const char*> order[] = {
    {m_get, "GET"},     {m_head, "HEAD"},   {m_post, "POST"},
    {m_put, "PUT"},     {m_patch, "PATCH"}, {m_delete, "DELETE"}};
  std::string out;
  for (auto& [bit, name] : order)
    if (bits & bit)
      out += (out.empty() ? "" : ", ") + std::string{name};
  return out;
}

route_match match_route(std::string_view target, std::string_view method) {
  route_match m;
  auto path = http::path_of(target);
  if (path.empty() || path.front() != '/')
    return m;
  auto bit = method_bit(method);
  for (auto& r : table) {
    if (m.pattern) {
      if (std::string_view{r.pattern} != m.pattern)
        continue;
    } else if (!matches(r.pattern, path, m.params)) {
      continue;
    } else {
      m.pattern = r.pattern;
      m.served_by = r.served_by;
    }
    m.allowed |= r.methods;
    if (!m.row && (r.methods & bit))
      m.row = &r;
  }
  if (!m.pattern)
    m.params.clear();
  return m;
}

std::vector<route_info> served_routes() {
  std::vector<route_info> out;
  for (auto& r : table) {
    static const std::pair<uint8_t, const char*> order[] = {
      {m_get, "GET"},     {m_post, "POST"},    {m_put, "PUT"},
      {m_patch, "PATCH"}, {m_delete, "DELETE"}};
    for (auto& [bit, name] : order)
      if (r.methods & bit)
        out.push_back({r.pattern, name, r.served_by == listener::ops,
                       r.acc != access::open});
  }
  return out;
}

bool server_context::fits(size_t& used, const http::ojson& item) const {
  auto n = http::json_size(item);
  if (used + n > cfg.max_response_bytes)
    return false;
  used += n;
  return true;
}

const caf::expected<nlohmann::json>& json_body::get() {
  if (!parsed_)
    parsed_ = domain::strict::parse_json(raw_, max_body_depth,
                                         "request body");
  return *parsed_;
}

read_context call::routing() const {
  read_context ctx;
  ctx.hops = grant.hops;
  ctx.partitions = grant.partitions;
  ctx.scope = grant.token ? scope_text(*grant.token) : std::string{"admin"};
  ctx.method = req.method;
  ctx.target = req.target;
  ctx.body = body.raw();
  return ctx;
}

std::string_view call::raw_param(std::string_view name) const {
  for (auto& [k, v] : match.params)
    if (k == name)
      return v;
  return {};
}

caf::expected<std::string> call::path_id(const char* name) const {
  return http::decode_id(name, raw_param(name));
}

caf::expected<std::string> call::user_id() {
  caf::expected<std::string> uid{std::string{}};
  switch (match.row ? match.row->user_from : user_source::none) {
    case user_source::path:
      uid = path_id("user_id");
      break;
    case user_source::query:
      uid = http::query_param(req.target, "user_id");
      if (uid)
        if (auto err = check_id("user_id", *uid))
          uid = std::move(err);
      break;
    case user_source::body: {
      auto& doc = body.get();
      if (!doc) {
        uid = doc.error();
      } else if (!doc->is_object()) {
        uid = http::bad("request body must be a JSON object");
      } else if (auto it = doc->find("user_id");
                 it == doc->end() || !it->is_string()) {
        uid = http::bad("user_id is required and must be a string");
      } else {
        uid = it->get<std::string>();
        if (auto err = check_id("user_id", *uid))
          uid = std::move(err);
      }
      break;
    }
    case user_source::none:
      uid = http::bad("this route has no user_id");
      break;
  }
  return uid;
}

std::optional<std::string> call::user() {
  return permitted_user(user_id(), grant, res);
}

} // namespace agentmem::api
