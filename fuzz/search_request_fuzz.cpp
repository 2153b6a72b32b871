// libFuzzer target for api::parse_search_request (the body of
// POST /v1/memories/search, docs/api.md). Input: the request body bytes.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//   - the parser never throws, crashes, leaks or hits ASan/UBSan/libstdc++
//     assertions, whatever the bytes;
//   - failure: always errc::invalid_request (category agentmem) with a
//     non-empty detail;
//   - success: top_k in 1..100; mode vector, keyword or hybrid; user_id 1-128 code points of valid UTF-8
//     without control characters; query valid UTF-8, 1-8192 code points, no
//     NUL, not only white space; filter.memory_types at most 16 known,
//     distinct names; filter.session_id empty or like user_id; since/until
//     within years 0000-9999 and since <= until; filter.tags at most 16
//     distinct ids; neighbors in 0..10;
//   - success agrees with an independent parser (simdjson DOM): the body is
//     valid UTF-8 JSON, an object with only the allowed keys and no
//     duplicates (also inside `filter`), and the same values;
//   - round trip: the parsed request, written back as canonical JSON,
//     parses to the same request.
//
// AGENTMEM_FUZZ_VERBOSE=1 prints each input's outcome (for triage).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "api/search_request.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

using agentmem::api::parse_search_request;
using agentmem::api::search_request;

namespace {

using json = nlohmann::json;

[[noreturn]] void violated(const char* what, int line) {
  std::fprintf(stderr,
               "\n*** invariant violated (search_request_fuzz.cpp:%d): %s\n",
               line, what);
  std::abort();
}

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      violated(#cond, __LINE__);                                              \
  } while (0)

bool is_utf8(std::string_view s) {
  return simdjson::validate_utf8(s.data(), s.size());
}

size_t chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

bool id_ok(std::string_view s) {
  if (!is_utf8(s))
    return false;
  size_t n = chars(s);
  if (n < 1 || n > 128)
    return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F)
      return false;
  return true;
}

bool known_type(std::string_view t) {
  return t == "conversation" || t == "episodic" || t == "document"
         || t == "session_summary";
}

void check_valid(const search_request& r) {
  CHECK(r.top_k >= 1 && r.top_k <= 100);
  CHECK(r.mode == "vector" || r.mode == "keyword" || r.mode == "hybrid");
  CHECK(id_ok(r.user_id));
  CHECK(is_utf8(r.query));
  CHECK(chars(r.query) >= 1 && chars(r.query) <= 8192);
  CHECK(r.query.find('\0') == std::string::npos);
  CHECK(r.query.find_first_not_of(" \t\r\n\f\v") != std::string::npos);
  const auto& f = r.filter;
  CHECK(f.memory_types.size() <= 16);
  std::set<std::string> distinct;
  for (auto& t : f.memory_types) {
    CHECK(known_type(t));
    CHECK(distinct.insert(t).second);
  }
  CHECK(f.session_id.empty() || id_ok(f.session_id));
  for (auto& t : {f.since_ms, f.until_ms})
    if (t)
      CHECK(*t >= agentmem::domain::min_rfc3339_ms
            && *t <= agentmem::domain::max_rfc3339_ms);
  if (f.since_ms && f.until_ms)
    CHECK(*f.since_ms <= *f.until_ms);
  CHECK(f.tags.size() <= 16);
  std::set<std::string> distinct_tags;
  for (auto& t : f.tags) {
    CHECK(id_ok(t));
    CHECK(distinct_tags.insert(t).second);
  }
  CHECK(r.neighbors >= 0 && r.neighbors <= 10);
}

// No key of `o` repeats; all are in `allowed`.
void check_keys(simdjson::dom::object o,
                std::initializer_list<std::string_view> allowed) {
  std::set<std::string_view> seen;
  for (auto [k, v] : o) {
    CHECK(seen.insert(k).second);
    bool ok = false;
    for (auto a : allowed)
      ok = ok || k == a;
    CHECK(ok);
  }
}

// An RFC 3339 string or an integer, as the parser reads it.
std::optional<int64_t> time_of(simdjson::dom::element e) {
  if (e.is_null())
    return std::nullopt;
  if (e.is_string())
    return agentmem::domain::parse_rfc3339_ms(std::string_view(e));
  if (e.is_int64())
    return int64_t(e);
  // `-0` is an integer to nlohmann (the parser) but a double to simdjson.
  if (e.is_double() && double(e) == 0.0)
    return 0;
  violated("filter.since/until accepted but neither a string, an int64 "
           "nor null", __LINE__);
}

// The accepted body, read by simdjson's DOM parser, says the same.
void compare_with_simdjson(const search_request& r, std::string_view body) {
  CHECK(is_utf8(body));
  static simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  auto err = parser.parse(padded).get(doc);
  CHECK(!err);
  simdjson::dom::object o;
  CHECK(!doc.get_object().get(o));
  check_keys(o, {"user_id", "query", "top_k", "mode", "filter", "neighbors"});
  CHECK(std::string_view(o["user_id"]) == r.user_id);
  CHECK(std::string_view(o["query"]) == r.query);
  simdjson::dom::element k;
  if (!o["top_k"].get(k) && !k.is_null())
    CHECK(int64_t(k) == r.top_k);
  else
    CHECK(r.top_k == 10);
  simdjson::dom::element md;
  if (!o["mode"].get(md) && !md.is_null())
    CHECK(std::string_view(md) == r.mode);
  else
    CHECK(r.mode == "hybrid");
  simdjson::dom::element nb;
  if (!o["neighbors"].get(nb) && !nb.is_null())
    // `-0` is an integer to nlohmann (the parser) but a double to simdjson.
    CHECK(nb.is_double() ? double(nb) == r.neighbors
                         : int64_t(nb) == r.neighbors);
  else
    CHECK(r.neighbors == 0);
  simdjson::dom::element f;
  if (o["filter"].get(f) || f.is_null()) {
    CHECK(r.filter.memory_types.empty() && r.filter.session_id.empty()
          && !r.filter.since_ms && !r.filter.until_ms
          && r.filter.tags.empty() && !r.filter.tags_all);
    return;
  }
  simdjson::dom::object fo;
  CHECK(!f.get_object().get(fo));
  check_keys(fo, {"memory_types", "session_id", "since", "until", "tags",
                  "tags_match"});
  simdjson::dom::element e;
  std::set<std::string> types;
  if (!fo["memory_types"].get(e) && !e.is_null())
    for (auto t : simdjson::dom::array(e))
      types.insert(std::string(std::string_view(t)));
  CHECK(types == std::set<std::string>(r.filter.memory_types.begin(),
                                       r.filter.memory_types.end()));
  std::string sid;
  if (!fo["session_id"].get(e) && !e.is_null())
    sid = std::string(std::string_view(e));
  CHECK(sid == r.filter.session_id);
  std::optional<int64_t> since, until;
  if (!fo["since"].get(e))
    since = time_of(e);
  if (!fo["until"].get(e))
    until = time_of(e);
  CHECK(since == r.filter.since_ms);
  CHECK(until == r.filter.until_ms);
  std::set<std::string> tags;
  if (!fo["tags"].get(e) && !e.is_null())
    for (auto t : simdjson::dom::array(e))
      tags.insert(std::string(std::string_view(t)));
  CHECK(tags == std::set<std::string>(r.filter.tags.begin(),
                                      r.filter.tags.end()));
  bool all = false;
  if (!fo["tags_match"].get(e) && !e.is_null())
    all = std::string_view(e) == "all";
  CHECK(all == r.filter.tags_all);
}

// Writes the request back as canonical JSON and parses it again.
void check_round_trip(const search_request& r) {
  json j{{"user_id", r.user_id}, {"query", r.query}, {"top_k", r.top_k},
         {"mode", r.mode}};
  json f = json::object();
  if (!r.filter.memory_types.empty())
    f["memory_types"] = r.filter.memory_types;
  if (!r.filter.session_id.empty())
    f["session_id"] = r.filter.session_id;
  if (r.filter.since_ms)
    f["since"] = *r.filter.since_ms;
  if (r.filter.until_ms)
    f["until"] = *r.filter.until_ms;
  if (!r.filter.tags.empty())
    f["tags"] = r.filter.tags;
  if (r.filter.tags_all)
    f["tags_match"] = "all";
  if (!f.empty())
    j["filter"] = f;
  if (r.neighbors != 0)
    j["neighbors"] = r.neighbors;
  auto again = parse_search_request(j.dump());
  CHECK(static_cast<bool>(again));
  CHECK(again->user_id == r.user_id);
  CHECK(again->query == r.query);
  CHECK(again->top_k == r.top_k);
  CHECK(again->mode == r.mode);
  CHECK(again->filter.memory_types == r.filter.memory_types);
  CHECK(again->filter.session_id == r.filter.session_id);
  CHECK(again->filter.since_ms == r.filter.since_ms);
  CHECK(again->filter.until_ms == r.filter.until_ms);
  CHECK(again->filter.tags == r.filter.tags);
  CHECK(again->filter.tags_all == r.filter.tags_all);
  CHECK(again->neighbors == r.neighbors);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  caf::expected<search_request> r{search_request{}};
  try {
    r = parse_search_request(body);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\n*** parse_search_request threw: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "\n*** parse_search_request threw\n");
    std::abort();
  }
  static const bool verbose = std::getenv("AGENTMEM_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "%s\n",
                 r ? ("ok: top_k " + std::to_string(r->top_k)).c_str()
                   : agentmem::describe(r.error()).c_str());
  if (!r) {
    CHECK(r.error().category() == agentmem::errc_category);
    CHECK(r.error().code()
          == static_cast<uint8_t>(agentmem::errc::invalid_request));
    auto& c = r.error().context();
    CHECK(c.match_elements<std::string>());
    CHECK(!c.get_as<std::string>(0).empty());
    return 0;
  }
  check_valid(*r);
  compare_with_simdjson(*r, body);
  check_round_trip(*r);
  return 0;
}
