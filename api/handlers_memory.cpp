// Memory routes: search, session messages, working memory, history
// (docs/api.md).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "api/codec.hpp"
#include "api/cursor.hpp"
#include "api/routes.hpp"
#include "api/search_request.hpp"
#include "domain/strict_input.hpp"
#include "domain/strict_json.hpp"
#include "domain/timestamp.hpp"
#include "messages/memory.hpp"

namespace agentmem::api::handlers {

namespace {

using namespace http;
using steady = std::chrono::steady_clock;

/// Longest session history a client may ask for.
constexpr int max_message_limit = 50;
/// Deepest metadata JSON we re-embed in search hits (it comes from events).
constexpr size_t max_metadata_depth = 64;

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

// A hit's metadata as a JSON object; {} when empty, malformed, too deep or
// not an object (the response shape promises an object).
ojson metadata_object(const std::string& text) {
  if (text.empty() || json_nesting_depth(text, max_metadata_depth)
                        > max_metadata_depth)
    return ojson::object();
  auto j = ojson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return ojson::object();
  return j;
}

// Adds "stale" and "lag_ms" to an answer read (partly) from Postgres alone.
void mark_freshness(ojson& out, const read_freshness& f) {
  if (!f.stale)
    return;
  out["stale"] = true;
  out["lag_ms"] = f.lag_ms;
}

ojson turns_json(const std::vector<context_turn>& ts) {
  ojson a = ojson::array();
  for (auto& t : ts) {
    ojson o = ojson::object();
    o["memory_id"] = t.memory_id;
    o["event_id"] = t.event_id;
    o["ts"] = domain::format_rfc3339_ms(t.ts_ms);
    o["text"] = t.text;
    a.push_back(std::move(o));
  }
  return a;
}

// A string that may be absent ("") as JSON: null when absent.
ojson or_null(const std::string& s) {
  return s.empty() ? ojson(nullptr) : ojson(s);
}

ojson hit_json(const search_hit& h, bool with_context) {
  ojson r = ojson::object();
  r["memory_id"] = h.memory_id;
  r["score"] = h.score;
  r["memory_type"] = h.memory_type;
  r["text"] = h.text;
  r["user_id"] = h.user_id;
  r["session_id"] = h.session_id;
  r["event_id"] = h.event_id;
  r["ts"] = domain::format_rfc3339_ms(h.ts_ms);
  r["importance"] = h.importance;
  r["agent_type"] = or_null(h.agent_type);
  r["agent_name"] = or_null(h.agent_name);
  r["project_id"] = or_null(h.project_id);
  r["metadata"] = metadata_object(h.metadata_json);
  if (with_context) {
    ojson ctx = ojson::object();
    ctx["before"] = turns_json(h.context_before);
    ctx["after"] = turns_json(h.context_after);
    r["context"] = std::move(ctx);
  }
  return r;
}

// A buffered session message as the session_messages route shows it.
ojson message_json(const buffered_message& msg) {
  return ojson{{"event_id", msg.event_id},
               {"ts", domain::format_rfc3339_ms(msg.ts_ms)},
               {"role", msg.role},
               {"agent_name", msg.agent_name},
               {"content", msg.content}};
}

// The decoded path id `field` and the permitted user_id of a route whose
// only query parameter is user_id; nullopt once a 400 or 403 is sent.
std::optional<std::pair<std::string, std::string>>
path_id_and_user(call& c, const char* field) {
  auto id = c.path_id(field);
  if (!id) {
    send_bad_request(c.res, id.error());
    return std::nullopt;
  }
  auto q = parse_query(c.req.target, {"user_id"});
  if (!q) {
    send_bad_request(c.res, q.error());
    return std::nullopt;
  }
  auto uid = c.user();
  if (!uid)
    return std::nullopt;
  return std::pair{std::move(*id), std::move(*uid)};
}

/// Most items one list page may ask for, and the default.
constexpr int max_list_limit = 1000;
constexpr int default_list_limit = 50;
/// Longest memory text accepted by PATCH, in code points.
constexpr size_t max_memory_text_chars = 65536;
/// Most tags one memory may carry through PATCH.
constexpr size_t max_memory_tags = 64;

const char* const memory_type_names[] = {
  memory_types::conversation, memory_types::episodic, memory_types::document,
  memory_types::session_summary};

ojson memory_json(const memory_record& m) {
  ojson j = ojson::object();
  j["memory_id"] = m.memory_id;
  j["memory_type"] = m.memory_type;
  j["user_id"] = m.user_id;
  j["session_id"] = m.session_id;
  j["event_id"] = m.event_id;
  j["ts"] = domain::format_rfc3339_ms(m.ts_ms);
  j["importance"] = m.importance;
  j["version"] = m.version;
  j["text"] = m.text;
  j["role"] = m.role.empty() ? ojson(nullptr) : ojson(m.role);
  j["speaker"] = m.speaker.empty() ? ojson(nullptr) : ojson(m.speaker);
  j["tags"] = m.tags;
  j["agent_type"] = or_null(m.agent_type);
  j["agent_name"] = or_null(m.agent_name);
  j["project_id"] = or_null(m.project_id);
  j["metadata"] = metadata_object(m.metadata_json);
  j["created_at"] = domain::format_rfc3339_ms(m.created_at_ms);
  j["updated_at"] = time_or_null(m.updated_at_ms);
  return j;
}

// An optional identifier parameter (1-128 characters) into `dst`.
caf::error id_param(const http::query_params& q, const char* key,
                    std::string& dst) {
  auto v = q.find(key);
  if (v == q.end())
    return {};
  if (auto err = check_id(key, v->second))
    return err;
  dst = v->second;
  return {};
}

// A comma-separated list parameter: non-empty entries, each an identifier,
// duplicates dropped, at most `max` of them.
caf::expected<std::vector<std::string>>
list_param(const query_params& q, const char* name, size_t max) {
  std::vector<std::string> out;
  auto it = q.find(name);
  if (it == q.end())
    return out;
  std::string_view rest = it->second;
  while (true) {
    auto comma = rest.find(',');
    auto item = std::string{rest.substr(0, comma)};
    if (auto err = check_id(name, item))
      return err;
    if (std::find(out.begin(), out.end(), item) == out.end())
      out.push_back(item);
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
  if (out.size() > max)
    return bad(std::string{name} + " has more than " + std::to_string(max)
               + " entries");
  return out;
}

// `since` / `until` of a list route; until must not be before since.
caf::error time_range(const query_params& q, std::optional<int64_t>& since,
                      std::optional<int64_t>& until) {
  for (auto [key, out] : {std::pair{"since", &since}, std::pair{"until", &until}})
    if (auto v = q.find(key); v != q.end()) {
      auto ms = parse_instant(key, v->second);
      if (!ms)
        return ms.error();
      *out = *ms;
    }
  if (since && until && *since > *until)
    return bad("since must not be after until");
  return {};
}

// A number in [0, 1] given as decimal text.
caf::expected<double> unit_interval(const char* field, const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (s.size() > 32 || !domain::strict::json_number_grammar(s)
      || !j.is_number() || j.get<double>() < 0 || j.get<double>() > 1)
    return bad(std::string{field} + " must be a number between 0 and 1, got \""
               + clip(s, 32) + "\"");
  return j.get<double>();
}

// The body of PATCH /v1/memories/{memory_id}.
caf::expected<memory_patch> parse_patch(const nlohmann::json& doc) {
  using domain::strict::describe_json_type;
  if (!doc.is_object())
    return bad("request body must be a JSON object, got "
               + describe_json_type(doc));
  memory_patch p;
  for (auto& [k, v] : doc.items()) {
    if (v.is_null())
      continue;
    if (k == "text") {
      if (!v.is_string())
        return bad("text must be a string, got " + describe_json_type(v));
      auto& t = v.get_ref<const std::string&>();
      if (auto err = domain::strict::check_text("text", t, 1,
                                                max_memory_text_chars, true))
        return err;
      if (t.find_first_not_of(" \t\r\n\f\v") == std::string::npos)
        return bad("text must contain a non-whitespace character");
      p.text = t;
    } else if (k == "importance") {
      if (!v.is_number())
        return bad("importance must be a number between 0 and 1, got "
                   + describe_json_type(v));
      auto x = v.get<double>();
      if (!(x >= 0 && x <= 1))
        return bad("importance must be a number between 0 and 1");
      p.importance = x;
    } else if (k == "tags") {
      if (!v.is_array())
        return bad("tags must be an array of strings, got "
                   + describe_json_type(v));
      if (v.size() > max_memory_tags)
        return bad("tags has more than " + std::to_string(max_memory_tags)
                   + " entries");
      std::vector<std::string> tags;
      for (auto& t : v) {
        if (!t.is_string())
          return bad("tags entries must be strings, got "
                     + describe_json_type(t));
        auto& ts = t.get_ref<const std::string&>();
        if (auto err = check_id("tags entry", ts))
          return err;
        if (std::find(tags.begin(), tags.end(), ts) == tags.end())
          tags.push_back(ts);
      }
      p.tags = std::move(tags);
    } else {
      return bad("unknown field '" + clip(k, 64)
                 + "'; allowed: text, importance, tags");
    }
  }
  if (!p.text && !p.importance && !p.tags)
    return bad("nothing to change: give text, importance or tags");
  return p;
}

} // namespace

void get_memory(call& c) {
  auto target = path_id_and_user(c, "memory_id");
  if (!target)
    return;
  auto m = c.be().get_memory(target->second, target->first);
  if (!m)
    return send_backend_error(c.res, m.error());
  send_json(c.res, 200, memory_json(*m));
}

void patch_memory(call& c) {
  auto target = path_id_and_user(c, "memory_id");
  if (!target)
    return;
  auto& doc = c.body.get();
  if (!doc)
    return send_bad_request(c.res, doc.error());
  auto patch = parse_patch(*doc);
  if (!patch)
    return send_bad_request(c.res, patch.error());
  auto m = c.be().update_memory(target->second, target->first, *patch);
  if (!m)
    return send_backend_error(c.res, m.error());
  send_json(c.res, 200, memory_json(*m));
}

void delete_memory(call& c) {
  auto target = path_id_and_user(c, "memory_id");
  if (!target)
    return;
  auto d = c.be().delete_memory(target->second, target->first);
  if (!d)
    return send_backend_error(c.res, d.error());
  ojson out = ojson::object();
  out["memory_id"] = d->memory_id;
  out["user_id"] = d->user_id;
  out["deleted"] = true;
  out["version"] = d->version;
  out["deletion_seq"] = d->deletion_seq;
  out["deleted_at"] = domain::format_rfc3339_ms(d->deleted_at_ms);
  send_json(c.res, 200, out);
}

void list_memories(call& c) {
  auto uid = c.user();
  if (!uid)
    return;
  auto q = parse_query(c.req.target,
                       {"memory_type", "session_id", "since", "until", "tags",
                        "tags_match", "min_importance", "agent_type",
                        "agent_name", "project_id", "limit", "cursor"});
  if (!q)
    return send_bad_request(c.res, q.error());
  memory_list_query lq;
  lq.user_id = *uid;
  auto types = list_param(*q, "memory_type", 16);
  if (!types)
    return send_bad_request(c.res, types.error());
  for (auto& t : *types)
    if (std::find_if(std::begin(memory_type_names), std::end(memory_type_names),
                     [&](const char* n) { return t == n; })
        == std::end(memory_type_names))
      return send_error(c.res, 400, "bad_request",
                        "unknown memory_type \"" + clip(t, 40)
                          + "\"; allowed: conversation, episodic, document, "
                            "session_summary");
  lq.memory_types = std::move(*types);
  for (auto [key, dst] : {std::pair{"session_id", &lq.session_id},
                          std::pair{"agent_type", &lq.agent_type},
                          std::pair{"agent_name", &lq.agent_name},
                          std::pair{"project_id", &lq.project_id}})
    if (auto err = id_param(*q, key, *dst))
      return send_bad_request(c.res, err);
  if (auto err = time_range(*q, lq.since_ms, lq.until_ms))
    return send_bad_request(c.res, err);
  auto tags = list_param(*q, "tags", 16);
  if (!tags)
    return send_bad_request(c.res, tags.error());
  lq.tags = std::move(*tags);
  if (auto m = q->find("tags_match"); m != q->end()) {
    if (m->second != "any" && m->second != "all")
      return send_error(c.res, 400, "bad_request",
                        "tags_match must be any or all");
    lq.tags_all = m->second == "all";
  }
  if (auto m = q->find("min_importance"); m != q->end()) {
    auto v = unit_interval("min_importance", m->second);
    if (!v)
      return send_bad_request(c.res, v.error());
    lq.min_importance = *v;
  }
  auto limit = int_param(*q, "limit", 1, max_list_limit, default_list_limit);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  lq.limit = *limit;
  if (auto err = cursor_param(*q, 'm', lq.after))
    return send_bad_request(c.res, err);
  auto page = c.be().list_memories(lq);
  if (!page)
    return send_backend_error(c.res, page.error());
  ojson items = ojson::array();
  for (auto& m : page->items)
    items.push_back(memory_json(m));
  ojson out = ojson::object();
  out["user_id"] = *uid;
  out["memories"] = std::move(items);
  out["next_cursor"] = next_cursor_json('m', page->next);
  send_json(c.res, 200, out);
}

void list_sessions(call& c) {
  auto uid = c.user();
  if (!uid)
    return;
  auto q = parse_query(c.req.target,
                       {"agent_type", "project_id", "since", "until",
                        "limit", "cursor"});
  if (!q)
    return send_bad_request(c.res, q.error());
  session_list_query sq;
  sq.user_id = *uid;
  for (auto [key, dst] : {std::pair{"agent_type", &sq.agent_type},
                          std::pair{"project_id", &sq.project_id}})
    if (auto err = id_param(*q, key, *dst))
      return send_bad_request(c.res, err);
  if (auto err = time_range(*q, sq.since_ms, sq.until_ms))
    return send_bad_request(c.res, err);
  auto limit = int_param(*q, "limit", 1, max_list_limit, default_list_limit);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  sq.limit = *limit;
  if (auto err = cursor_param(*q, 's', sq.after))
    return send_bad_request(c.res, err);
  auto page = c.be().list_sessions(sq);
  if (!page)
    return send_backend_error(c.res, page.error());
  ojson items = ojson::array();
  for (auto& s : page->items) {
    ojson j = ojson::object();
    j["session_id"] = s.session_id;
    j["agent_type"] = s.agent_type;
    j["project_id"] = or_null(s.project_id);
    j["started_at"] = domain::format_rfc3339_ms(s.started_at_ms);
    j["last_activity_at"] = domain::format_rfc3339_ms(s.last_activity_at_ms);
    j["ended_at"] = time_or_null(s.ended_at_ms);
    j["total_interactions"] = s.total_interactions;
    j["memory_count"] = s.memory_count;
    items.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *uid;
  out["sessions"] = std::move(items);
  out["next_cursor"] = next_cursor_json('s', page->next);
  send_json(c.res, 200, out);
}

void list_projects(call& c) {
  auto uid = c.user();
  if (!uid)
    return;
  auto q = parse_query(c.req.target, {"limit", "cursor"});
  if (!q)
    return send_bad_request(c.res, q.error());
  project_list_query pq;
  pq.user_id = *uid;
  auto limit = int_param(*q, "limit", 1, max_list_limit, default_list_limit);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  pq.limit = *limit;
  if (auto err = cursor_param(*q, 'p', pq.after))
    return send_bad_request(c.res, err);
  auto page = c.be().list_projects(pq);
  if (!page)
    return send_backend_error(c.res, page.error());
  ojson items = ojson::array();
  for (auto& p : page->items) {
    ojson j = ojson::object();
    j["project_id"] = p.project_id;
    j["sessions"] = p.sessions;
    j["memories"] = p.memories;
    j["uploads"] = p.uploads;
    j["last_activity_at"] = domain::format_rfc3339_ms(p.last_activity_ms);
    items.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *uid;
  out["projects"] = std::move(items);
  out["next_cursor"] = next_cursor_json('p', page->next);
  send_json(c.res, 200, out);
}

void search(call& c) {
  auto& doc = c.body.get();
  if (!doc)
    return send_bad_request(c.res, doc.error());
  auto req = search_request_from_json(*doc);
  if (!req)
    return send_bad_request(c.res, req.error());
  if (!permits(c.grant, req->user_id))
    return send_error(c.res, 403, "forbidden",
                      "the token may not access this user_id");
  auto t0 = steady::now();
  // Observe failed and throwing searches too: slow failures matter most.
  struct observer {
    metrics::histogram& h;
    steady::time_point t0;
    ~observer() {
      h.observe(seconds_since(t0));
    }
  };
  auto answer = [&] {
    observer obs{c.srv.search_latency, t0};
    return c.be().routed_search(*req, c.routing());
  }();
  if (!answer)
    return send_backend_error(c.res, answer.error());
  auto* hits = &answer->hits;
  auto took_ms = std::llround(seconds_since(t0) * 1000.0);
  auto n = std::min(hits->size(), static_cast<size_t>(req->top_k));
  ojson results = ojson::array();
  size_t bytes = 0;
  bool truncated = false;
  for (size_t i = 0; i < n; ++i) {
    auto r = hit_json((*hits)[i], req->neighbors > 0);
    if (!c.srv.fits(bytes, r)) {
      truncated = true;
      break;
    }
    results.push_back(std::move(r));
  }
  ojson out = ojson::object();
  out["results"] = std::move(results);
  out["took_ms"] = took_ms;
  if (truncated)
    out["truncated"] = true;
  mark_freshness(out, answer->freshness);
  send_json(c.res, 200, out);
}

void session_messages(call& c) {
  auto session_id = c.path_id("session_id");
  if (!session_id)
    return send_bad_request(c.res, session_id.error());
  auto q = parse_query(c.req.target, {"user_id", "limit"});
  if (!q)
    return send_bad_request(c.res, q.error());
  if (q->find("user_id") == q->end())
    return send_error(c.res, 400, "bad_request",
                      "query parameter user_id is required");
  if (auto err = check_id("user_id", q->at("user_id")))
    return send_bad_request(c.res, err);
  auto limit = int_param(*q, "limit", 1, max_message_limit, max_message_limit);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  auto uid = c.user();
  if (!uid)
    return;
  auto answer =
    c.be().routed_session_messages(*uid, *session_id, *limit, c.routing());
  if (!answer)
    return send_backend_error(c.res, answer.error());
  auto* msgs = &answer->messages;
  // The most recent `limit`, oldest first, even if the backend sent more.
  auto first = msgs->size() > static_cast<size_t>(*limit)
                 ? msgs->size() - static_cast<size_t>(*limit)
                 : size_t{0};
  // When the newest messages do not all fit max_response_bytes, the
  // oldest of them are left out (they come first in the list).
  size_t bytes = 0;
  std::vector<ojson> newest_first;
  for (size_t i = msgs->size(); i > first; --i) {
    auto j = message_json((*msgs)[i - 1]);
    if (!c.srv.fits(bytes, j))
      break;
    newest_first.push_back(std::move(j));
  }
  bool truncated = newest_first.size() < msgs->size() - first;
  ojson list = ojson::array();
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it)
    list.push_back(std::move(*it));
  ojson out = ojson::object();
  out["session_id"] = *session_id;
  out["user_id"] = *uid;
  out["messages"] = std::move(list);
  if (truncated)
    out["truncated"] = true;
  mark_freshness(out, answer->freshness);
  send_json(c.res, 200, out);
}

void memory_history(call& c) {
  auto target = path_id_and_user(c, "memory_id");
  if (!target)
    return;
  auto& [memory_id, uid] = *target;
  auto versions = c.be().memory_history(uid, memory_id);
  if (!versions)
    return send_backend_error(c.res, versions.error());
  ojson list = ojson::array();
  for (auto& v : *versions) {
    ojson j = ojson::object();
    j["version"] = v.version;
    j["event"] = v.event;
    j["old_text"] = value_or_null(v.old_text);
    j["new_text"] = value_or_null(v.new_text);
    j["old_importance"] = value_or_null(v.old_importance);
    j["new_importance"] = value_or_null(v.new_importance);
    j["event_id"] = v.event_id;
    j["source_memory_id"] = v.source_memory_id;
    j["changed_at"] = domain::format_rfc3339_ms(v.changed_at_ms);
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["memory_id"] = memory_id;
  out["user_id"] = uid;
  out["history"] = std::move(list);
  send_json(c.res, 200, out);
}

void working_memory(call& c) {
  auto target = path_id_and_user(c, "session_id");
  if (!target)
    return;
  auto& [session_id, uid] = *target;
  auto wm = c.be().working_memory(uid, session_id);
  if (!wm)
    return send_backend_error(c.res, wm.error());
  ojson items = ojson::array();
  for (auto& it : wm->items) {
    ojson j = ojson::object();
    j["event_id"] = it.event_id;
    j["ts"] = domain::format_rfc3339_ms(it.ts_ms);
    j["kind"] = it.kind;
    j["name"] = it.name;
    j["content"] = it.content;
    j["success"] = it.success;
    items.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["session_id"] = session_id;
  out["user_id"] = uid;
  out["expires_at"] = domain::format_rfc3339_ms(wm->expires_at_ms);
  out["items"] = std::move(items);
  send_json(c.res, 200, out);
}

} // namespace agentmem::api::handlers
