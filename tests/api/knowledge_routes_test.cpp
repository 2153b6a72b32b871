// The facts and graph-memory routes of api::http_server over a recording
// backend: parameters reach the backend decoded and validated, responses
// have the documented shape, errors map to 400/404/503.

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "tests/api/route_fixture.hpp"
#include "messages/errc.hpp"

using nlohmann::json;
using namespace agentmem;

namespace {

// 2023-05-08T13:56:00Z
constexpr int64_t may8 = 1'683'554'160'000;

/// Serves canned facts/entities; records the last request.
class knowledge_backend : public test::empty_backend {
public:
  caf::expected<std::vector<api::fact_row>>
  facts(const api::fact_query& q) override {
    std::lock_guard<std::mutex> guard{mtx};
    last_facts = q;
    if (fail)
      return make_error(errc::postgres_error, "connection refused");
    api::fact_row open;
    open.fact_id = "f2";
    open.subject = "user";
    open.predicate = "lives_in";
    open.object = "Berlin";
    open.kind = "fact";
    open.confidence = 0.85;
    open.event_id = "e2";
    open.session_id = "s1";
    open.valid_at_ms = may8;
    open.recorded_at_ms = may8 + 5;
    open.source_text = "I moved to Berlin.";
    api::fact_row closed = open;
    closed.fact_id = "f1";
    closed.object = "Paris";
    closed.valid_at_ms = may8 - 1000;
    closed.invalid_at_ms = may8;
    closed.invalidated_by = "f2";
    return std::vector<api::fact_row>{open, closed};
  }

  caf::expected<std::vector<api::entity_row>>
  entities(const std::string& user_id, const std::string& type,
           int limit) override {
    std::lock_guard<std::mutex> guard{mtx};
    last_user = user_id;
    last_type = type;
    last_limit = limit;
    return std::vector<api::entity_row>{
      {"id-tom", "Tom", "person", may8, may8 + 1000, 3},
      {"id-lisbon", "Lisbon", "place", may8, may8, 1}};
  }

  caf::expected<api::entity_neighbors>
  neighbors(const std::string& user_id, const std::string& entity_id,
            int limit) override {
    std::lock_guard<std::mutex> guard{mtx};
    last_user = user_id;
    last_entity = entity_id;
    last_limit = limit;
    if (entity_id == "missing")
      return make_error(errc::not_found, "user u1 has no entity missing");
    api::entity_neighbors out;
    out.entity = {entity_id, "Tom", "person", may8, may8 + 1000, 3};
    api::neighbor_row n;
    n.entity = {"id-acme", "Acme", "organization", may8, may8, 1};
    n.relation = "works_at";
    n.direction = "out";
    n.weight = 2;
    n.first_seen_ms = may8;
    n.last_seen_ms = may8 + 1000;
    out.neighbors.push_back(n);
    return out;
  }

  std::mutex mtx;
  bool fail = false;
  api::fact_query last_facts;
  std::string last_user, last_type, last_entity;
  int last_limit = 0;
};

using fixture = test::route_fixture<knowledge_backend>;

json get_json(httplib::Client& cli, const std::string& path, int status) {
  auto r = cli.Get(path.c_str());
  BOOST_REQUIRE_MESSAGE(r, "no response for " << path);
  BOOST_CHECK_MESSAGE(r->status == status, path << ": status " << r->status
                                                << " body " << r->body);
  return json::parse(r->body);
}

void expect_400(httplib::Client& cli, const std::string& path,
                const std::string& detail_part) {
  auto j = get_json(cli, path, 400);
  BOOST_CHECK_EQUAL(j.at("error"), "bad_request");
  auto detail = j.at("detail").get<std::string>();
  BOOST_CHECK_MESSAGE(detail.find(detail_part) != std::string::npos,
                      path << ": detail '" << detail << "' lacks '"
                           << detail_part << "'");
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(knowledge_routes, fixture)

BOOST_AUTO_TEST_CASE(facts_are_current_by_default) {
  auto j = get_json(cli, "/v1/users/u1/facts", 200);
  BOOST_CHECK_EQUAL(be.last_facts.user_id, "u1");
  BOOST_CHECK(!be.last_facts.as_of_ms);
  BOOST_CHECK_EQUAL(be.last_facts.limit, 100);
  BOOST_CHECK(j.at("as_of").is_null());
  BOOST_REQUIRE_EQUAL(j.at("facts").size(), 2u);
  BOOST_CHECK_EQUAL(j.at("facts")[0],
                    json({{"fact_id", "f2"},
                          {"subject", "user"},
                          {"predicate", "lives_in"},
                          {"object", "Berlin"},
                          {"kind", "fact"},
                          {"confidence", 0.85},
                          {"valid_at", "2023-05-08T13:56:00.000Z"},
                          {"invalid_at", nullptr},
                          {"invalidated_by", nullptr},
                          {"recorded_at", "2023-05-08T13:56:00.005Z"},
                          {"event_id", "e2"},
                          {"session_id", "s1"},
                          {"source_text", "I moved to Berlin."}}));
  BOOST_CHECK_EQUAL(j.at("facts")[1].at("invalid_at"),
                    "2023-05-08T13:56:00.000Z");
  BOOST_CHECK_EQUAL(j.at("facts")[1].at("invalidated_by"), "f2");
}

BOOST_AUTO_TEST_CASE(facts_take_as_of_subject_predicate_and_limit) {
  get_json(cli,
           "/v1/users/u%2F1/facts?as_of=2023-05-08T15:56:00%2B02:00"
           "&subject=Tom%20Smith&predicate=works_at&limit=7",
           200);
  BOOST_CHECK_EQUAL(be.last_facts.user_id, "u/1");
  BOOST_REQUIRE(be.last_facts.as_of_ms);
  BOOST_CHECK_EQUAL(*be.last_facts.as_of_ms, may8);
  BOOST_CHECK_EQUAL(be.last_facts.subject, "Tom Smith");
  BOOST_CHECK_EQUAL(be.last_facts.predicate, "works_at");
  BOOST_CHECK_EQUAL(be.last_facts.limit, 7);
  auto j = get_json(cli, "/v1/users/u1/facts?as_of=1683554160000", 200);
  BOOST_REQUIRE(be.last_facts.as_of_ms);
  BOOST_CHECK_EQUAL(*be.last_facts.as_of_ms, may8);
  BOOST_CHECK_EQUAL(j.at("as_of"), "2023-05-08T13:56:00.000Z");
}

BOOST_AUTO_TEST_CASE(facts_reject_bad_parameters) {
  expect_400(cli, "/v1/users/u1/facts?as_of=yesterday", "as_of");
  expect_400(cli, "/v1/users/u1/facts?as_of=2023-05-08", "as_of");
  expect_400(cli, "/v1/users/u1/facts?as_of=99999999999999999", "as_of");
  expect_400(cli, "/v1/users/u1/facts?limit=0", "limit");
  expect_400(cli, "/v1/users/u1/facts?limit=1001", "limit");
  expect_400(cli, "/v1/users/u1/facts?object=x", "unknown query parameter");
  expect_400(cli, "/v1/users/u1/facts?subject=", "subject");
  expect_400(cli, "/v1/users/%00/facts", "user_id");
}

BOOST_AUTO_TEST_CASE(backend_failures_are_503) {
  be.fail = true;
  auto j = get_json(cli, "/v1/users/u1/facts", 503);
  BOOST_CHECK_EQUAL(j.at("error"), "unavailable");
}

BOOST_AUTO_TEST_CASE(entities_list_with_type_and_limit) {
  auto j = get_json(cli, "/v1/users/u1/entities?type=person&limit=5", 200);
  BOOST_CHECK_EQUAL(be.last_user, "u1");
  BOOST_CHECK_EQUAL(be.last_type, "person");
  BOOST_CHECK_EQUAL(be.last_limit, 5);
  BOOST_CHECK_EQUAL(j.at("user_id"), "u1");
  BOOST_REQUIRE_EQUAL(j.at("entities").size(), 2u);
  BOOST_CHECK_EQUAL(j.at("entities")[0],
                    json({{"entity_id", "id-tom"},
                          {"name", "Tom"},
                          {"type", "person"},
                          {"mention_count", 3},
                          {"first_seen", "2023-05-08T13:56:00.000Z"},
                          {"last_seen", "2023-05-08T13:56:01.000Z"}}));
  get_json(cli, "/v1/users/u1/entities", 200);
  BOOST_CHECK_EQUAL(be.last_type, "");
  BOOST_CHECK_EQUAL(be.last_limit, 100);
  expect_400(cli, "/v1/users/u1/entities?type=planet", "type must be one of");
  expect_400(cli, "/v1/users/u1/entities?limit=x", "limit");
}

BOOST_AUTO_TEST_CASE(neighbors_of_an_entity) {
  auto j = get_json(cli, "/v1/users/u1/entities/id-tom/neighbors?limit=3", 200);
  BOOST_CHECK_EQUAL(be.last_entity, "id-tom");
  BOOST_CHECK_EQUAL(be.last_limit, 3);
  BOOST_CHECK_EQUAL(j.at("entity").at("name"), "Tom");
  BOOST_REQUIRE_EQUAL(j.at("neighbors").size(), 1u);
  auto& n = j.at("neighbors")[0];
  BOOST_CHECK_EQUAL(n.at("entity_id"), "id-acme");
  BOOST_CHECK_EQUAL(n.at("type"), "organization");
  BOOST_CHECK_EQUAL(n.at("relation"), "works_at");
  BOOST_CHECK_EQUAL(n.at("direction"), "out");
  BOOST_CHECK_EQUAL(n.at("weight"), 2);
  BOOST_CHECK_EQUAL(n.at("edge_last_seen"), "2023-05-08T13:56:01.000Z");
  get_json(cli, "/v1/users/u1/entities/id-tom/neighbors", 200);
  BOOST_CHECK_EQUAL(be.last_limit, 50);
  auto nf = get_json(cli, "/v1/users/u1/entities/missing/neighbors", 404);
  BOOST_CHECK_EQUAL(nf.at("error"), "not_found");
  get_json(cli, "/v1/users/u1/entities/id-tom/friends", 404);
  get_json(cli, "/v1/users/u1/entities/id-tom", 404);
  auto r = cli.Post("/v1/users/u1/entities", "{}", "application/json");
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->status, 405);
}

BOOST_AUTO_TEST_CASE(requests_are_counted_under_their_route_template) {
  get_json(cli, "/v1/users/u1/entities/id-tom/neighbors", 200);
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    seen = reg.render().find(
             "agentmem_http_requests_total{route=\"/v1/users/{user_id}/"
             "entities/{entity_id}/neighbors\",code=\"200\"} 1")
           != std::string::npos;
    if (!seen)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_CHECK(seen);
}

BOOST_AUTO_TEST_SUITE_END()
