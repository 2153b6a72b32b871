#include "api/search_request.hpp"

#include <random>
#include <string>

#include <boost/test/unit_test.hpp>

#include "messages/errc.hpp"

using agentmem::api::parse_search_request;
using agentmem::api::search_request;

namespace {

// The error detail of a rejected body ("" when it was accepted).
std::string rejection(std::string_view body) {
  auto r = parse_search_request(body);
  if (r)
    return "";
  BOOST_TEST(r.error().category() == agentmem::errc_category);
  BOOST_TEST(r.error().code()
             == static_cast<uint8_t>(agentmem::errc::invalid_request));
  return agentmem::describe(r.error());
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Asserts `body` is rejected with a detail containing `needle`.
void expect_rejected(std::string_view body, const std::string& needle) {
  auto why = rejection(body);
  BOOST_TEST_CONTEXT("body: " << std::string{body.substr(0, 120)}) {
    BOOST_TEST(!why.empty());
    BOOST_TEST(contains(why, needle), "detail '" << why << "' lacks '"
                                                 << needle << "'");
  }
}

std::string with_top_k(const std::string& v) {
  return R"({"user_id":"u1","query":"hello","top_k":)" + v + "}";
}

std::string with_filter(const std::string& f) {
  return R"({"user_id":"u1","query":"hello","filter":)" + f + "}";
}

} // namespace

BOOST_AUTO_TEST_SUITE(search_request_parsing)

BOOST_AUTO_TEST_CASE(a_minimal_body_gets_the_defaults) {
  auto r = parse_search_request(R"({"user_id":"u1","query":"where is it?"})");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->user_id == "u1");
  BOOST_TEST(r->query == "where is it?");
  BOOST_TEST(r->top_k == 10);
  BOOST_TEST(r->filter.memory_types.empty());
  BOOST_TEST(r->filter.session_id.empty());
  BOOST_TEST(!r->filter.since_ms.has_value());
  BOOST_TEST(!r->filter.until_ms.has_value());
}

BOOST_AUTO_TEST_CASE(a_full_body_fills_every_field) {
  auto r = parse_search_request(R"({
    "user_id": "user-7", "query": "trip to Paris", "top_k": 100,
    "filter": {"memory_types": ["episodic", "conversation", "episodic"],
               "session_id": "s-1",
               "since": "2023-05-08T15:56:00.250+02:00",
               "until": 1683554160999}})");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->top_k == 100);
  BOOST_TEST(r->filter.memory_types.size() == 2u); // duplicates dropped
  BOOST_TEST(r->filter.memory_types[0] == "episodic");
  BOOST_TEST(r->filter.memory_types[1] == "conversation");
  BOOST_TEST(r->filter.session_id == "s-1");
  BOOST_TEST(*r->filter.since_ms == 1683554160250);
  BOOST_TEST(*r->filter.until_ms == 1683554160999);
}

BOOST_AUTO_TEST_CASE(optional_fields_may_be_null) {
  auto r = parse_search_request(
    R"({"user_id":"u","query":"q","top_k":null,"filter":{"memory_types":null,
        "session_id":null,"since":null,"until":null}})");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->top_k == 10);
  r = parse_search_request(R"({"user_id":"u","query":"q","filter":null})");
  BOOST_TEST(static_cast<bool>(r));
}

BOOST_AUTO_TEST_CASE(limits_are_inclusive_and_counted_in_characters) {
  // 8192 two-byte characters are 8192 characters, not 16384.
  std::string q;
  for (int i = 0; i < 8192; ++i)
    q += "\xC3\xA9"; // é
  auto r = parse_search_request(R"({"user_id":")" + std::string(128, 'u')
                                + R"(","query":")" + q + R"(","top_k":1})");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->top_k == 1);
  BOOST_TEST(r->query.size() == 16384u);
  expect_rejected(R"({"user_id":"u","query":")" + q + "x\"}",
                  "query must be 1-8192 characters");
}

BOOST_AUTO_TEST_CASE(malformed_json_is_rejected_with_the_parse_position) {
  expect_rejected("", "body is empty");
  expect_rejected("{", "malformed JSON");
  expect_rejected(R"({"user_id": })", "malformed JSON");
  expect_rejected(R"({"user_id":"u","query":"q"} trailing)", "malformed JSON");
  expect_rejected(R"({'user_id':'u'})", "malformed JSON");
  expect_rejected(R"({"user_id":"u", /* c */ "query":"q"})", "malformed JSON");
  expect_rejected("{\"user_id\":\"u\xff\",\"query\":\"q\"}", "malformed JSON");
  expect_rejected(R"({"user_id": })", "column");
}

BOOST_AUTO_TEST_CASE(a_body_that_is_not_an_object_is_rejected) {
  expect_rejected("[]", "must be a JSON object, got an array");
  expect_rejected("\"text\"", "must be a JSON object, got a string");
  expect_rejected("42", "must be a JSON object");
  expect_rejected("null", "must be a JSON object");
}

BOOST_AUTO_TEST_CASE(top_k_outside_1_to_100_or_not_an_integer_is_rejected) {
  expect_rejected(with_top_k("0"), "top_k must be an integer between 1 and "
                                   "100, got 0");
  expect_rejected(with_top_k("101"), "got 101");
  expect_rejected(with_top_k("-1"), "got -1");
  expect_rejected(with_top_k("\"5\""), "top_k must be an integer between 1 "
                                       "and 100, got a string");
  expect_rejected(with_top_k("1e30"), "got a non-integer number");
  expect_rejected(with_top_k("5.5"), "got a non-integer number");
  expect_rejected(with_top_k("5.0"), "got a non-integer number");
  expect_rejected(with_top_k("true"), "got a boolean");
  expect_rejected(with_top_k("18446744073709551615"), "top_k");
  expect_rejected(with_top_k("99999999999999999999999999999"), "top_k");
  expect_rejected(with_top_k("-9223372036854775808"), "top_k");
}

BOOST_AUTO_TEST_CASE(user_id_must_be_present_and_a_short_clean_string) {
  expect_rejected(R"({"query":"q"})", "user_id is required");
  expect_rejected(R"({"user_id":null,"query":"q"})", "user_id is required");
  expect_rejected(R"({"user_id":"","query":"q"})",
                  "user_id must be 1-128 characters");
  expect_rejected(R"({"user_id":")" + std::string(129, 'u')
                    + R"(","query":"q"})",
                  "user_id must be 1-128 characters");
  expect_rejected(R"({"user_id":7,"query":"q"})",
                  "user_id must be a string, got an integer");
  expect_rejected(R"({"user_id":"a\nb","query":"q"})", "control characters");
}

BOOST_AUTO_TEST_CASE(query_must_be_present_and_not_blank) {
  expect_rejected(R"({"user_id":"u"})", "query is required");
  expect_rejected(R"({"user_id":"u","query":""})",
                  "query must be 1-8192 characters long, got 0");
  expect_rejected(R"({"user_id":"u","query":" \t\n "})", "non-whitespace");
  expect_rejected(R"({"user_id":"u","query":["q"]})",
                  "query must be a string, got an array");
  expect_rejected(R"({"user_id":"u","query":")" + std::string(8193, 'q')
                    + "\"}",
                  "got 8193");
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_rejected_by_name) {
  expect_rejected(R"({"user_id":"u","query":"q","topk":5})",
                  "unknown field 'topk'");
  expect_rejected(R"({"user_id":"u","query":"q","filter":{"sessionid":"s"}})",
                  "unknown field 'filter.sessionid'");
  expect_rejected(R"({"user_id":"u","query":"q","user":"u"})",
                  "allowed: user_id, query, top_k, mode, filter");
}

BOOST_AUTO_TEST_CASE(duplicate_fields_are_rejected) {
  expect_rejected(R"({"user_id":"u","query":"q","top_k":5,"top_k":50})",
                  "duplicate field 'top_k'");
  expect_rejected(with_filter(R"({"since":1,"since":2})"),
                  "duplicate field 'since'");
  // Same key in different objects is fine.
  BOOST_TEST(rejection(with_filter(R"({"session_id":"user_id"})")).empty());
}

BOOST_AUTO_TEST_CASE(filter_fields_are_type_and_value_checked) {
  expect_rejected(with_filter("[]"), "filter must be an object");
  expect_rejected(with_filter(R"({"memory_types":"episodic"})"),
                  "filter.memory_types must be an array");
  expect_rejected(with_filter(R"({"memory_types":[1]})"),
                  "entries must be strings");
  expect_rejected(with_filter(R"({"memory_types":["episodc"]})"),
                  "unknown memory type \"episodc\"");
  expect_rejected(with_filter(R"({"session_id":""})"),
                  "filter.session_id must be 1-128 characters");
  expect_rejected(with_filter(R"({"session_id":5})"),
                  "filter.session_id must be a string");
}

BOOST_AUTO_TEST_CASE(bad_since_and_until_values_are_rejected) {
  expect_rejected(with_filter(R"({"since":"yesterday"})"),
                  "filter.since must be an RFC 3339 timestamp");
  expect_rejected(with_filter(R"({"since":"2023-02-30T00:00:00Z"})"),
                  "filter.since");
  expect_rejected(with_filter(R"({"since":"2023-05-08T13:56:00"})"),
                  "filter.since"); // offset is mandatory
  expect_rejected(with_filter(R"({"since":"2023-05-08"})"), "filter.since");
  expect_rejected(with_filter(R"({"until":1.5})"),
                  "filter.until must be an RFC 3339 timestamp");
  expect_rejected(with_filter(R"({"until":true})"), "filter.until");
  expect_rejected(with_filter(R"({"since":1e300})"), "filter.since");
  expect_rejected(with_filter(R"({"since":9223372036854775807})"),
                  "filter.since is out of range");
  expect_rejected(with_filter(R"({"since":"2023-05-09T00:00:00Z",
                                  "until":"2023-05-08T00:00:00Z"})"),
                  "filter.since must not be after filter.until");
  // Equal bounds are a valid (one-instant) window.
  BOOST_TEST(rejection(with_filter(R"({"since":5,"until":5})")).empty());
}

BOOST_AUTO_TEST_CASE(nul_bytes_are_rejected_raw_or_escaped) {
  using namespace std::string_literals;
  expect_rejected("{\"user_id\":\"u\",\"query\":\"q\"}\0{\"top_k\":500}"s,
                  "NUL byte");
  expect_rejected("{\"user_id\":\"u\",\"query\":\"a\0b\"}"s, "NUL byte");
  expect_rejected(R"({"user_id":"u","query":"a\u0000b"})",
                  "query must not contain NUL");
  expect_rejected(R"({"user_id":"u\u0000","query":"q"})",
                  "user_id must not contain control characters");
}

BOOST_AUTO_TEST_CASE(ten_thousand_levels_of_nesting_are_rejected_cheaply) {
  std::string arrays = std::string(10000, '[') + std::string(10000, ']');
  expect_rejected(arrays, "nested deeper than 16 levels");
  std::string objects;
  for (int i = 0; i < 10000; ++i)
    objects += "{\"a\":";
  objects += "1" + std::string(10000, '}');
  expect_rejected(R"({"user_id":"u","query":"q","filter":)" + objects + "}",
                  "nested deeper");
  // Unbalanced, so also malformed: still a clean rejection.
  expect_rejected(std::string(100000, '['), "nested deeper");
  // Brackets inside strings do not count.
  BOOST_TEST(rejection(R"({"user_id":"u","query":")" + std::string(5000, '[')
                       + "\"}")
               .empty());
}

BOOST_AUTO_TEST_CASE(arbitrary_bytes_never_throw_and_always_yield_a_value) {
  std::mt19937 rng{42};
  const std::string seed =
    R"({"user_id":"u1","query":"q","top_k":5,"filter":{"memory_types":)"
    R"(["episodic"],"session_id":"s","since":"2023-05-08T13:56:00Z",)"
    R"("until":1683554160000}})";
  using namespace std::string_literals;
  const std::string alphabet = "{}[]\":,0123456789.eE+-truefalsnl\\u \x00\xff"s;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seed;
    auto edits = 1 + rng() % 4;
    for (unsigned e = 0; e < edits; ++e) {
      auto pos = rng() % (body.size() + 1);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: body.insert(body.begin() + pos, c); break;
        case 1:
          if (pos < body.size())
            body.erase(pos, 1);
          break;
        default:
          if (pos < body.size())
            body[pos] = c;
      }
    }
    if (i % 5 == 0) { // sometimes pure noise
      body.resize(rng() % 64);
      for (auto& ch : body)
        ch = static_cast<char>(rng());
    }
    caf::expected<search_request> r{search_request{}};
    BOOST_REQUIRE_NO_THROW(r = parse_search_request(body));
    if (r) {
      ++accepted;
      BOOST_TEST(r->top_k >= 1);
      BOOST_TEST(r->top_k <= 100);
    } else {
      BOOST_TEST(r.error().code()
                 == static_cast<uint8_t>(agentmem::errc::invalid_request));
    }
  }
  BOOST_TEST_MESSAGE(accepted << " of 20000 mutated bodies were valid");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(search_request_mode)

BOOST_AUTO_TEST_CASE(mode_defaults_to_hybrid_and_accepts_the_three_modes) {
  auto r = agentmem::api::parse_search_request(R"({"user_id":"u","query":"q"})");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->mode == "hybrid");
  for (std::string m : {"vector", "keyword", "hybrid"}) {
    auto x = agentmem::api::parse_search_request(
      R"({"user_id":"u","query":"q","mode":")" + m + R"("})");
    BOOST_REQUIRE(x);
    BOOST_TEST(x->mode == m);
  }
}

BOOST_AUTO_TEST_CASE(unknown_or_mistyped_modes_are_rejected_with_the_choices) {
  auto r = agentmem::api::parse_search_request(
    R"({"user_id":"u","query":"q","mode":"semantic"})");
  BOOST_REQUIRE(!r);
  BOOST_TEST(agentmem::describe(r.error()).find("vector, keyword, hybrid")
             != std::string::npos);
  BOOST_TEST(!agentmem::api::parse_search_request(
    R"({"user_id":"u","query":"q","mode":1})"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(search_request_tags_and_neighbors)

BOOST_AUTO_TEST_CASE(tags_default_to_any_and_accept_all) {
  auto r = parse_search_request(
    with_filter(R"({"tags":["travel","work","travel"]})"));
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST((r->filter.tags == std::vector<std::string>{"travel", "work"}));
  BOOST_TEST(!r->filter.tags_all);
  r = parse_search_request(
    with_filter(R"({"tags":["travel"],"tags_match":"all"})"));
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->filter.tags_all);
  r = parse_search_request(
    with_filter(R"({"tags":null,"tags_match":"any"})"));
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->filter.tags.empty());
  BOOST_TEST(!r->filter.tags_all);
}

BOOST_AUTO_TEST_CASE(bad_tags_are_rejected_with_the_field_named) {
  expect_rejected(with_filter(R"({"tags":"travel"})"),
                  "filter.tags must be an array");
  expect_rejected(with_filter(R"({"tags":[1]})"),
                  "filter.tags entries must be strings");
  expect_rejected(with_filter(R"({"tags":[""]})"), "filter.tags entry");
  expect_rejected(with_filter(R"({"tags":["a"],"tags_match":"some"})"),
                  "allowed: any, all");
  expect_rejected(with_filter(R"({"tags_match":true})"),
                  "filter.tags_match must be a string");
  std::string many = "[";
  for (int i = 0; i < 17; ++i)
    many += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
  many += "]";
  expect_rejected(with_filter(R"({"tags":)" + many + "}"),
                  "more than 16 entries");
  expect_rejected(with_filter(R"({"tag":["a"]})"), "tags, tags_match");
}

BOOST_AUTO_TEST_CASE(neighbors_is_an_integer_from_0_to_10) {
  auto body = [](const std::string& v) {
    return R"({"user_id":"u1","query":"q","neighbors":)" + v + "}";
  };
  auto r = parse_search_request(R"({"user_id":"u1","query":"q"})");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->neighbors == 0);
  for (int n : {0, 3, 10}) {
    r = parse_search_request(body(std::to_string(n)));
    BOOST_TEST_REQUIRE(static_cast<bool>(r));
    BOOST_TEST(r->neighbors == n);
  }
  expect_rejected(body("11"), "neighbors must be an integer between 0 and 10");
  expect_rejected(body("-1"), "neighbors must be an integer between 0 and 10");
  expect_rejected(body("2.5"), "neighbors must be an integer");
  expect_rejected(body("\"2\""), "neighbors must be an integer");
}

BOOST_AUTO_TEST_SUITE_END()
