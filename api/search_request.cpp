#include "api/search_request.hpp"

#include <algorithm>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "api/codec.hpp"
#include "domain/strict_json.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"
#include "messages/memory.hpp"

namespace agentmem::api {

namespace {

using json = nlohmann::json;

caf::error bad(std::string detail) {
  return make_error(errc::invalid_request, std::move(detail));
}

// Field names echoed back in details are user input: keep them short.
std::string clip(std::string_view s, size_t n = 64) {
  if (s.size() <= n)
    return std::string{s};
  return std::string{s.substr(0, n)} + "...";
}

const char* const known_memory_types[] = {
  memory_types::conversation, memory_types::episodic, memory_types::document,
  memory_types::session_summary};

bool is_known_memory_type(const std::string& t) {
  return std::any_of(std::begin(known_memory_types),
                     std::end(known_memory_types),
                     [&](const char* k) { return t == k; });
}

std::string describe_type(const json& j) {
  return domain::strict::describe_json_type(j);
}

// An integer JSON value as int64_t, or nullopt (floats, huge unsigned).
std::optional<int64_t> as_int64(const json& j) {
  if (j.is_number_unsigned()) {
    auto u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX))
      return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (j.is_number_integer())
    return j.get<int64_t>();
  return std::nullopt;
}

caf::expected<int64_t> parse_time(const std::string& field, const json& j) {
  auto shape = field
               + " must be an RFC 3339 timestamp such as "
                 "\"2023-05-08T13:56:00Z\" or integer epoch milliseconds";
  if (j.is_string()) {
    auto& s = j.get_ref<const std::string&>();
    if (auto ms = domain::parse_rfc3339_ms(s))
      return *ms;
    return bad(shape + ", got \"" + clip(s) + "\"");
  }
  if (j.is_number()) {
    auto ms = as_int64(j);
    if (!ms)
      return bad(shape + ", got " + describe_type(j));
    if (*ms < domain::min_rfc3339_ms || *ms > domain::max_rfc3339_ms)
      return bad(field + " is out of range (years 0000-9999)");
    return *ms;
  }
  return bad(shape + ", got " + describe_type(j));
}

// Present and not null.
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null())
    return nullptr;
  return &*it;
}

caf::expected<search_filter> parse_filter(const json& j) {
  search_filter f;
  if (!j.is_object())
    return bad("filter must be an object, got " + describe_type(j));
  for (auto& [k, v] : j.items()) {
    if (k != "memory_types" && k != "session_id" && k != "since"
        && k != "until" && k != "tags" && k != "tags_match"
        && k != "agent_type" && k != "agent_name" && k != "project_id"
        && k != "min_importance")
      return bad("unknown field 'filter." + clip(k)
                 + "'; allowed: memory_types, session_id, since, until, "
                   "tags, tags_match, agent_type, agent_name, project_id, "
                   "min_importance");
  }
  // Scope of the source event: exact identifiers.
  for (auto [key, dst] : {std::pair{"agent_type", &f.agent_type},
                          std::pair{"agent_name", &f.agent_name},
                          std::pair{"project_id", &f.project_id}}) {
    auto* v = member(j, key);
    if (!v)
      continue;
    std::string field = std::string{"filter."} + key;
    if (!v->is_string())
      return bad(field + " must be a string, got " + describe_type(*v));
    auto& s = v->get_ref<const std::string&>();
    if (auto err = check_id(field.c_str(), s))
      return err;
    *dst = s;
  }
  if (auto* mi = member(j, "min_importance")) {
    if (!mi->is_number() || mi->get<double>() < 0 || mi->get<double>() > 1)
      return bad("filter.min_importance must be a number between 0 and 1, "
                 "got " + describe_type(*mi));
    f.min_importance = mi->get<double>();
  }
  if (auto* mt = member(j, "memory_types")) {
    if (!mt->is_array())
      return bad("filter.memory_types must be an array of strings, got "
                 + describe_type(*mt));
    if (mt->size() > max_memory_type_filters)
      return bad("filter.memory_types has more than "
                 + std::to_string(max_memory_type_filters) + " entries");
    for (auto& t : *mt) {
      if (!t.is_string())
        return bad("filter.memory_types entries must be strings, got "
                   + describe_type(t));
      auto& s = t.get_ref<const std::string&>();
      if (!is_known_memory_type(s))
        return bad("unknown memory type \"" + clip(s)
                   + "\" in filter.memory_types; allowed: conversation, "
                     "episodic, document, session_summary");
      if (std::find(f.memory_types.begin(), f.memory_types.end(), s)
          == f.memory_types.end())
        f.memory_types.push_back(s);
    }
  }
  if (auto* sid = member(j, "session_id")) {
    if (!sid->is_string())
      return bad("filter.session_id must be a string, got "
                 + describe_type(*sid));
    auto& s = sid->get_ref<const std::string&>();
    if (auto err = check_id("filter.session_id", s))
      return err;
    f.session_id = s;
  }
  if (auto* since = member(j, "since")) {
    auto ms = parse_time("filter.since", *since);
    if (!ms)
      return ms.error();
    f.since_ms = *ms;
  }
  if (auto* until = member(j, "until")) {
    auto ms = parse_time("filter.until", *until);
    if (!ms)
      return ms.error();
    f.until_ms = *ms;
  }
  if (f.since_ms && f.until_ms && *f.since_ms > *f.until_ms)
    return bad("filter.since must not be after filter.until");
  if (auto* tags = member(j, "tags")) {
    if (!tags->is_array())
      return bad("filter.tags must be an array of strings, got "
                 + describe_type(*tags));
    if (tags->size() > max_tag_filters)
      return bad("filter.tags has more than "
                 + std::to_string(max_tag_filters) + " entries");
    for (auto& t : *tags) {
      if (!t.is_string())
        return bad("filter.tags entries must be strings, got "
                   + describe_type(t));
      auto& s = t.get_ref<const std::string&>();
      if (auto err = check_id("filter.tags entry", s))
        return err;
      if (std::find(f.tags.begin(), f.tags.end(), s) == f.tags.end())
        f.tags.push_back(s);
    }
  }
  if (auto* tm = member(j, "tags_match")) {
    if (!tm->is_string())
      return bad("filter.tags_match must be a string, got "
                 + describe_type(*tm));
    auto& s = tm->get_ref<const std::string&>();
    if (s != "any" && s != "all")
      return bad("unknown filter.tags_match \"" + clip(s)
                 + "\"; allowed: any, all");
    f.tags_all = s == "all";
  }
  return f;
}

caf::expected<search_request> parse_impl(const json& doc) {
  if (!doc.is_object())
    return bad("request body must be a JSON object, got "
               + describe_type(doc));
  for (auto& [k, v] : doc.items()) {
    if (k != "user_id" && k != "query" && k != "top_k" && k != "filter"
        && k != "mode" && k != "neighbors")
      return bad("unknown field '" + clip(k)
                 + "'; allowed: user_id, query, top_k, mode, filter, "
                   "neighbors");
  }
  search_request req;
  // user_id
  auto* uid = member(doc, "user_id");
  if (!uid)
    return bad("user_id is required");
  if (!uid->is_string())
    return bad("user_id must be a string, got " + describe_type(*uid));
  if (auto err = check_id("user_id", uid->get_ref<const std::string&>()))
    return err;
  req.user_id = uid->get_ref<const std::string&>();
  // query
  auto* q = member(doc, "query");
  if (!q)
    return bad("query is required");
  if (!q->is_string())
    return bad("query must be a string, got " + describe_type(*q));
  auto& qs = q->get_ref<const std::string&>();
  auto qlen = utf8_length(qs);
  if (!qlen)
    return bad("query is not valid UTF-8");
  if (*qlen == 0 || *qlen > max_query_chars)
    return bad("query must be 1-" + std::to_string(max_query_chars)
               + " characters long, got " + std::to_string(*qlen));
  if (qs.find('\0') != std::string::npos)
    return bad("query must not contain NUL characters");
  if (qs.find_first_not_of(" \t\r\n\f\v") == std::string::npos)
    return bad("query must contain a non-whitespace character");
  req.query = qs;
  // top_k
  if (auto* k = member(doc, "top_k")) {
    auto range = "top_k must be an integer between 1 and "
                 + std::to_string(max_top_k);
    auto v = as_int64(*k);
    if (!v)
      return bad(range + ", got " + describe_type(*k));
    if (*v < 1 || *v > max_top_k)
      return bad(range + ", got " + std::to_string(*v));
    req.top_k = static_cast<int>(*v);
  } else {
    req.top_k = default_top_k;
  }
  // mode
  if (auto* m = member(doc, "mode")) {
    if (!m->is_string())
      return bad("mode must be a string, got " + describe_type(*m));
    auto& ms = m->get_ref<const std::string&>();
    if (ms != "vector" && ms != "keyword" && ms != "hybrid")
      return bad("unknown mode \"" + clip(ms)
                 + "\"; allowed: vector, keyword, hybrid");
    req.mode = ms;
  }
  // neighbors
  if (auto* nb = member(doc, "neighbors")) {
    auto range = "neighbors must be an integer between 0 and "
                 + std::to_string(max_neighbors);
    auto v = as_int64(*nb);
    if (!v)
      return bad(range + ", got " + describe_type(*nb));
    if (*v < 0 || *v > max_neighbors)
      return bad(range + ", got " + std::to_string(*v));
    req.neighbors = static_cast<int>(*v);
  }
  // filter
  if (auto* f = member(doc, "filter")) {
    auto filter = parse_filter(*f);
    if (!filter)
      return filter.error();
    req.filter = std::move(*filter);
  }
  return req;
}

} // namespace

caf::expected<search_request> parse_search_request(std::string_view body) {
  auto doc = domain::strict::parse_json(body, max_json_depth, "request body");
  if (!doc)
    return doc.error();
  return search_request_from_json(*doc);
}

caf::expected<search_request>
search_request_from_json(const nlohmann::json& doc) {
  try {
    return parse_impl(doc);
  } catch (const std::exception& e) {
    return bad(std::string{"could not process request body: "} + e.what());
  } catch (...) {
    return bad("could not process request body");
  }
}

} // namespace agentmem::api
