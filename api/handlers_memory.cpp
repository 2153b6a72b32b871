// Memory routes: search, session messages, working memory, history
// (docs/api.md).

#include <chrono>
#include <cmath>
#include <vector>

#include "api/codec.hpp"
#include "api/routes.hpp"
#include "api/search_request.hpp"
#include "domain/timestamp.hpp"

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

} // namespace

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
  auto hits = [&] {
    observer obs{c.srv.search_latency, t0};
    return c.be().search(*req);
  }();
  if (!hits)
    return send_backend_error(c.res, hits.error());
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
  auto msgs = c.be().session_messages(*uid, *session_id, *limit);
  if (!msgs)
    return send_backend_error(c.res, msgs.error());
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
