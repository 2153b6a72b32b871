// Knowledge routes: facts and graph memory (docs/api.md).

#include <algorithm>
#include <iterator>

#include "api/codec.hpp"
#include "api/routes.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::api::handlers {

namespace {

using namespace http;

/// Most facts, entities or neighbours one request may ask for.
constexpr int max_knowledge_limit = 1000;

const char* const entity_type_names[] = {
  "person", "organization", "place", "email", "url", "date",
  "tool",   "agent",        "user",  "other"};

ojson entity_json(const entity_row& e) {
  ojson j = ojson::object();
  j["entity_id"] = e.entity_id;
  j["name"] = e.name;
  j["type"] = e.type;
  j["mention_count"] = e.mention_count;
  j["first_seen"] = domain::format_rfc3339_ms(e.first_seen_ms);
  j["last_seen"] = domain::format_rfc3339_ms(e.last_seen_ms);
  return j;
}

} // namespace

void facts(call& c) {
  auto user_id = c.user();
  if (!user_id)
    return;
  auto q = parse_query(c.req.target,
                       {"as_of", "subject", "predicate", "limit"});
  if (!q)
    return send_bad_request(c.res, q.error());
  fact_query fq;
  fq.user_id = *user_id;
  if (auto a = q->find("as_of"); a != q->end()) {
    auto ms = parse_instant("as_of", a->second);
    if (!ms)
      return send_bad_request(c.res, ms.error());
    fq.as_of_ms = *ms;
  }
  for (auto [key, field] : {std::pair{"subject", &fq.subject},
                            std::pair{"predicate", &fq.predicate}}) {
    if (auto v = q->find(key); v != q->end()) {
      if (auto err = check_id(key, v->second))
        return send_bad_request(c.res, err);
      *field = v->second;
    }
  }
  auto limit = int_param(*q, "limit", 1, max_knowledge_limit, 100);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  fq.limit = *limit;
  auto rows = c.be().facts(fq);
  if (!rows)
    return send_backend_error(c.res, rows.error());
  ojson list = ojson::array();
  for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(fq.limit);
       ++i) {
    auto& f = (*rows)[i];
    ojson j = ojson::object();
    j["fact_id"] = f.fact_id;
    j["subject"] = f.subject;
    j["predicate"] = f.predicate;
    j["object"] = f.object;
    j["kind"] = f.kind;
    j["confidence"] = f.confidence;
    j["valid_at"] = domain::format_rfc3339_ms(f.valid_at_ms);
    j["invalid_at"] = time_or_null(f.invalid_at_ms);
    j["invalidated_by"] = f.invalidated_by.empty() ? ojson(nullptr)
                                                   : ojson(f.invalidated_by);
    j["recorded_at"] = domain::format_rfc3339_ms(f.recorded_at_ms);
    j["event_id"] = f.event_id;
    j["session_id"] = f.session_id;
    j["source_text"] = f.source_text;
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["as_of"] = time_or_null(fq.as_of_ms);
  out["facts"] = std::move(list);
  send_json(c.res, 200, out);
}

void entities(call& c) {
  auto user_id = c.user();
  if (!user_id)
    return;
  auto q = parse_query(c.req.target, {"type", "limit"});
  if (!q)
    return send_bad_request(c.res, q.error());
  std::string type;
  if (auto t = q->find("type"); t != q->end()) {
    auto known = std::find_if(std::begin(entity_type_names),
                              std::end(entity_type_names),
                              [&](const char* n) { return t->second == n; });
    if (known == std::end(entity_type_names)) {
      std::string names;
      for (auto* n : entity_type_names)
        names += (names.empty() ? "" : ", ") + std::string{n};
      return send_error(c.res, 400, "bad_request",
                        "type must be one of " + names + ", got \""
                          + clip(t->second, 40) + "\"");
    }
    type = t->second;
  }
  auto limit = int_param(*q, "limit", 1, max_knowledge_limit, 100);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  auto rows = c.be().entities(*user_id, type, *limit);
  if (!rows)
    return send_backend_error(c.res, rows.error());
  ojson list = ojson::array();
  for (size_t i = 0; i < rows->size() && i < static_cast<size_t>(*limit); ++i)
    list.push_back(entity_json((*rows)[i]));
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["entities"] = std::move(list);
  send_json(c.res, 200, out);
}

void entity_neighbors(call& c) {
  auto user_id = c.user();
  if (!user_id)
    return;
  auto entity_id = c.path_id("entity_id");
  if (!entity_id)
    return send_bad_request(c.res, entity_id.error());
  auto q = parse_query(c.req.target, {"limit"});
  if (!q)
    return send_bad_request(c.res, q.error());
  auto limit = int_param(*q, "limit", 1, max_knowledge_limit, 50);
  if (!limit)
    return send_bad_request(c.res, limit.error());
  auto nb = c.be().neighbors(*user_id, *entity_id, *limit);
  if (!nb)
    return send_backend_error(c.res, nb.error());
  ojson list = ojson::array();
  for (size_t i = 0;
       i < nb->neighbors.size() && i < static_cast<size_t>(*limit); ++i) {
    auto& n = nb->neighbors[i];
    ojson j = entity_json(n.entity);
    j["relation"] = n.relation;
    j["direction"] = n.direction;
    j["weight"] = n.weight;
    j["edge_first_seen"] = domain::format_rfc3339_ms(n.first_seen_ms);
    j["edge_last_seen"] = domain::format_rfc3339_ms(n.last_seen_ms);
    list.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *user_id;
  out["entity"] = entity_json(nb->entity);
  out["neighbors"] = std::move(list);
  send_json(c.res, 200, out);
}

} // namespace agentmem::api::handlers
