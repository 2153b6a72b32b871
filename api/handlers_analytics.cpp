// Analytics routes (docs/api.md): daily usage rollups per user; the
// event-time analytics reports, the skills registry and the status page.

#include <chrono>

#include "api/analytics_codec.hpp"
#include "api/codec.hpp"
#include "api/cursor.hpp"
#include "api/routes.hpp"
#include "api/status_page.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::api::handlers {

namespace {

using namespace http;

/// Longest usage window, in days, both ends included.
constexpr int64_t max_usage_days = 366;

} // namespace

void usage(call& c) {
  auto user_id = c.path_id("user_id");
  if (!user_id)
    return send_bad_request(c.res, user_id.error());
  auto q = parse_query(c.req.target, {"from", "to"});
  if (!q)
    return send_bad_request(c.res, q.error());
  auto from = q->find("from");
  auto to = q->find("to");
  if (from == q->end() || to == q->end())
    return send_error(c.res, 400, "bad_request",
                      "query parameters from and to (YYYY-MM-DD) are "
                      "required");
  auto from_day = domain::parse_day(from->second);
  if (!from_day)
    return send_error(c.res, 400, "bad_request",
                      "from must be a date YYYY-MM-DD, got \""
                        + clip(from->second, 32) + "\"");
  auto to_day = domain::parse_day(to->second);
  if (!to_day)
    return send_error(c.res, 400, "bad_request",
                      "to must be a date YYYY-MM-DD, got \""
                        + clip(to->second, 32) + "\"");
  if (*from_day > *to_day)
    return send_error(c.res, 400, "bad_request", "from must not be after to");
  if (*to_day - *from_day + 1 > max_usage_days)
    return send_error(c.res, 400, "bad_request",
                      "the range from..to may span at most "
                        + std::to_string(max_usage_days) + " days");
  auto uid = c.user();
  if (!uid)
    return;
  auto rows = c.be().usage(*uid, from->second, to->second);
  if (!rows)
    return send_backend_error(c.res, rows.error());
  ojson days = ojson::array();
  for (auto& r : *rows) {
    ojson j = ojson::object();
    j["day"] = r.day;
    j["agent_type"] = r.agent_type;
    j["activity_count"] = r.activity_count;
    j["error_count"] = r.error_count;
    j["total_processing_time_ms"] = r.total_processing_time_ms;
    j["tokens_used"] = r.tokens_used;
    j["files_uploaded"] = r.files_uploaded;
    days.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *uid;
  out["from"] = from->second;
  out["to"] = to->second;
  out["days"] = std::move(days);
  send_json(c.res, 200, out);
}

// --- event-time analytics, skills, status page -----------------------------
// (docs/api.md "Analytics", "Skills"; docs/operations.md "Status page").
// Answered from server_config::analytics (pipeline/analytics_service);
// without one these routes are 503.

namespace {

constexpr int64_t day_ms = 86'400'000;
/// Longest ranges: hourly rows for 31 days, daily rows and summaries for
/// 366 days.
constexpr int64_t max_hourly_range_ms = 31 * day_ms;
constexpr int64_t max_range_ms = 366 * day_ms;
constexpr int max_usage_limit = 10000;
constexpr int default_usage_limit = 1000;
/// `limit` of the other analytics reports and of the skills listings.
constexpr int max_list_limit = 1000;
constexpr int default_list_limit = 100;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// The analytics backend, or nullptr once the 503 is sent.
analytics_backend* analytics_of(call& c) {
  auto* be = c.srv.cfg.analytics.get();
  if (!be)
    send_error(c.res, 503, "unavailable", "analytics are not configured");
  return be;
}

// The users a token may see (admin: all).
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

// from/to (default: the 24 hours before now), at most `max_ms` apart; the
// token's scope and the optional user_id, which the token must allow.
// False once the 400 or 403 is sent.
bool read_range(call& c, const query_params& q, int64_t max_ms,
                analytics_range& r) {
  r.to_ms = now_ms();
  if (auto it = q.find("to"); it != q.end()) {
    auto t = parse_instant("to", it->second);
    if (!t)
      return send_bad_request(c.res, t.error()), false;
    r.to_ms = *t;
  }
  r.from_ms = r.to_ms - day_ms;
  if (auto it = q.find("from"); it != q.end()) {
    auto t = parse_instant("from", it->second);
    if (!t)
      return send_bad_request(c.res, t.error()), false;
    r.from_ms = *t;
  }
  if (r.from_ms >= r.to_ms)
    return send_error(c.res, 400, "bad_request", "from must be before to"),
           false;
  if (r.to_ms - r.from_ms > max_ms)
    return send_error(c.res, 400, "bad_request",
                      "the range from..to may span at most "
                        + std::to_string(max_ms / day_ms) + " days"),
           false;
  r.scope = scope_of(*c.grant.token);
  if (auto it = q.find("user_id"); it != q.end()) {
    caf::expected<std::string> id{it->second};
    if (auto err = check_id("user_id", it->second))
      id = std::move(err);
    auto uid = permitted_user(std::move(id), c.grant, c.res);
    if (!uid)
      return false;
    r.user_id = std::move(*uid);
  }
  return true;
}

// `limit` (1..max, default `def`) and `cursor` (a cursor of `kind`) into
// `p`. False once the 400 is sent.
bool read_page(call& c, const query_params& q, char kind, cursor_id id,
               int def, int max, page_request& p) {
  auto limit = int_param(q, "limit", 1, max, def);
  if (!limit)
    return send_bad_request(c.res, limit.error()), false;
  p.limit = *limit;
  if (auto err = cursor_param(q, kind, p.after, id))
    return send_bad_request(c.res, err), false;
  return true;
}

// A page of a summary report over a range (cursor kind `kind`, whose
// positions' ids are `id`): `fetch(backend, range, page)` and its JSON
// with from, to and next_cursor.
template <class Fetch, class ToJson>
void summary(call& c, char kind, cursor_id id, Fetch fetch, ToJson to_json) {
  auto q = parse_query(c.req.target,
                       {"from", "to", "user_id", "cursor", "limit"});
  if (!q)
    return send_bad_request(c.res, q.error());
  analytics_range r;
  page_request p;
  if (!read_range(c, *q, max_range_ms, r)
      || !read_page(c, *q, kind, id, default_list_limit, max_list_limit, p))
    return;
  auto* be = analytics_of(c);
  if (!be)
    return;
  auto page = fetch(*be, r, p);
  if (!page)
    return send_backend_error(c.res, page.error());
  ojson out = to_json(page->items);
  out["from"] = domain::format_rfc3339_ms(r.from_ms);
  out["to"] = domain::format_rfc3339_ms(r.to_ms);
  out["next_cursor"] = next_cursor_json(kind, page->next);
  send_json(c.res, 200, out);
}

// A request of the skills registry: its path names decoded as
// identifiers ("" when the route has none), the page it asks for (listings
// only) and the backend.
struct registry_call {
  analytics_backend* be = nullptr;
  std::string first, second;
  page_request page;
};

// Reads path parameters `first` and `second` (either may be nullptr);
// refuses any query parameter, except `limit` and `cursor` (of `kind`)
// when `kind` is not 0; finds the backend. Nullopt once the 400 or 503 is
// sent.
std::optional<registry_call> registry(call& c, const char* first,
                                      const char* second = nullptr,
                                      char kind = 0) {
  registry_call r;
  for (auto [name, out] : {std::pair{first, &r.first},
                           std::pair{second, &r.second}}) {
    if (!name)
      continue;
    auto id = c.path_id(name);
    if (!id)
      return send_bad_request(c.res, id.error()), std::nullopt;
    *out = std::move(*id);
  }
  auto q = kind ? parse_query(c.req.target, {"limit", "cursor"})
                : parse_query(c.req.target, {});
  if (!q)
    return send_bad_request(c.res, q.error()), std::nullopt;
  if (kind
      && !read_page(c, *q, kind, cursor_id::identifier, default_list_limit,
                    max_list_limit, r.page))
    return std::nullopt;
  r.be = analytics_of(c);
  if (!r.be)
    return std::nullopt;
  return r;
}

// The JSON body of a PUT; nullptr once the 400 is sent.
const nlohmann::json* put_body(call& c) {
  auto& doc = c.body.get();
  if (!doc)
    return send_bad_request(c.res, doc.error()), nullptr;
  return &*doc;
}

// 204 or the backend's error.
void send_done(call& c, const caf::error& err) {
  if (err)
    return send_backend_error(c.res, err);
  c.res.status = 204;
}

} // namespace

void analytics_usage(call& c) {
  auto q = parse_query(c.req.target, {"from", "to", "granularity", "group_by",
                                      "user_id", "cursor", "limit"});
  if (!q)
    return send_bad_request(c.res, q.error());
  usage_query uq;
  if (auto it = q->find("granularity"); it != q->end())
    uq.granularity = it->second;
  if (uq.granularity != "hour" && uq.granularity != "day")
    return send_error(c.res, 400, "bad_request",
                      "granularity must be hour or day");
  if (auto it = q->find("group_by"); it != q->end())
    uq.group_by = it->second;
  if (uq.group_by != "user" && uq.group_by != "agent_type"
      && uq.group_by != "agent_name" && uq.group_by != "model"
      && uq.group_by != "tool")
    return send_error(c.res, 400, "bad_request",
                      "group_by must be user, agent_type, agent_name, model "
                      "or tool");
  if (!read_range(c, *q,
                  uq.granularity == "hour" ? max_hourly_range_ms
                                           : max_range_ms,
                  uq.range))
    return;
  if (!read_page(c, *q, usage_cursor_kind, cursor_id::group_key,
                 default_usage_limit, max_usage_limit, uq.page))
    return;
  auto* be = analytics_of(c);
  if (!be)
    return;
  auto page = be->usage(uq);
  if (!page)
    return send_backend_error(c.res, page.error());
  send_json(c.res, 200, usage_json(uq, *page));
}

void analytics_agents(call& c) {
  summary(c, agents_cursor_kind, cursor_id::group_key,
          [](analytics_backend& be, const analytics_range& r,
             const page_request& p) { return be.agents(r, p); },
          agents_json);
}

void analytics_tools(call& c) {
  summary(c, tools_cursor_kind, cursor_id::group_key,
          [](analytics_backend& be, const analytics_range& r,
             const page_request& p) { return be.tools(r, p); },
          tools_json);
}

void analytics_costs(call& c) {
  summary(c, costs_cursor_kind, cursor_id::group_key,
          [](analytics_backend& be, const analytics_range& r,
             const page_request& p) { return be.costs(r, p); },
          costs_json);
}

void analytics_skills(call& c) {
  summary(c, skill_usage_cursor_kind, cursor_id::identifier,
          [](analytics_backend& be, const analytics_range& r,
             const page_request& p) { return be.skill_usage_summary(r, p); },
          skill_usage_json);
}

void list_skills(call& c) {
  auto r = registry(c, nullptr, nullptr, skills_cursor_kind);
  if (!r)
    return;
  auto page = r->be->skills(r->page);
  if (!page)
    return send_backend_error(c.res, page.error());
  ojson arr = ojson::array();
  for (auto& s : page->items)
    arr.push_back(skill_json(s));
  send_json(c.res, 200,
            ojson{{"skills", std::move(arr)},
                  {"next_cursor",
                   next_cursor_json(skills_cursor_kind, page->next)}});
}

void get_skill(call& c) {
  auto r = registry(c, "name");
  if (!r)
    return;
  auto s = r->be->get_skill(r->first);
  if (!s)
    return send_backend_error(c.res, s.error());
  send_json(c.res, 200, skill_json(*s));
}

void put_skill(call& c) {
  auto r = registry(c, "name");
  if (!r)
    return;
  auto* doc = put_body(c);
  if (!doc)
    return;
  auto s = parse_skill(*doc, r->first);
  if (!s)
    return send_bad_request(c.res, s.error());
  auto stored = r->be->put_skill(*s);
  if (!stored)
    return send_backend_error(c.res, stored.error());
  send_json(c.res, 200, skill_json(*stored));
}

void delete_skill(call& c) {
  if (auto r = registry(c, "name"))
    send_done(c, r->be->delete_skill(r->first));
}

void list_agent_skills(call& c) {
  auto r = registry(c, "agent_name", nullptr, bindings_cursor_kind);
  if (!r)
    return;
  auto page = r->be->bindings(r->first, r->page);
  if (!page)
    return send_backend_error(c.res, page.error());
  ojson arr = ojson::array();
  for (auto& b : page->items)
    arr.push_back(binding_json(b));
  send_json(c.res, 200,
            ojson{{"agent_name", r->first},
                  {"skills", std::move(arr)},
                  {"next_cursor",
                   next_cursor_json(bindings_cursor_kind, page->next)}});
}

void get_agent_skill(call& c) {
  auto r = registry(c, "agent_name", "skill");
  if (!r)
    return;
  auto b = r->be->get_binding(r->first, r->second);
  if (!b)
    return send_backend_error(c.res, b.error());
  send_json(c.res, 200, binding_json(*b));
}

void put_agent_skill(call& c) {
  auto r = registry(c, "agent_name", "skill");
  if (!r)
    return;
  auto* doc = put_body(c);
  if (!doc)
    return;
  auto b = parse_binding(*doc, r->first, r->second);
  if (!b)
    return send_bad_request(c.res, b.error());
  auto stored = r->be->put_binding(*b);
  if (!stored)
    return send_backend_error(c.res, stored.error());
  send_json(c.res, 200, binding_json(*stored));
}

void delete_agent_skill(call& c) {
  if (auto r = registry(c, "agent_name", "skill"))
    send_done(c, r->be->delete_binding(r->first, r->second));
}

void ui_file(call& c) {
  // "/ui" has no {file}: the page itself.
  auto name = percent_decode(c.raw_param("file"), false);
  auto f = name ? find_ui_asset(*name) : std::nullopt;
  if (!f)
    return send_error(c.res, 404, "not_found",
                      "no such file of the status page");
  c.res.status = 200;
  c.res.set_content(std::string{f->body}, std::string{f->content_type});
}

void ui_today(call& c) {
  auto r = registry(c, nullptr);
  if (!r)
    return;
  auto j = today_analytics(*r->be, now_ms());
  if (!j)
    return send_backend_error(c.res, j.error());
  send_json(c.res, 200, *j);
}

} // namespace agentmem::api::handlers
