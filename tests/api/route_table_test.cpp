#include "api/routes.hpp"

#include <set>
#include <string>
#include <utility>

#include <boost/test/unit_test.hpp>

using namespace agentmem::api;

BOOST_AUTO_TEST_SUITE(route_table)

BOOST_AUTO_TEST_CASE(every_operation_is_served_once) {
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& r : served_routes()) {
    BOOST_TEST(r.path.front() == '/');
    BOOST_TEST(seen.emplace(r.path, r.method).second, r.method << ' ' << r.path);
  }
  BOOST_TEST(seen.count({"/v1/memories/search", "POST"}) == 1u);
}

BOOST_AUTO_TEST_CASE(matching_picks_pattern_then_method) {
  auto m = match_route("/v1/users/a%2Fb/facts?limit=1", "GET");
  BOOST_REQUIRE(m.row);
  BOOST_TEST(std::string{m.pattern} == "/v1/users/{user_id}/facts");
  BOOST_REQUIRE_EQUAL(m.params.size(), 1u);
  BOOST_TEST(std::string{m.params[0].first} == "user_id");
  BOOST_TEST(std::string{m.params[0].second} == "a%2Fb");
  // A literal pattern wins over a parametric one of the same shape.
  m = match_route("/v1/memories/search", "GET");
  BOOST_TEST(std::string{m.pattern} == "/v1/memories/search");
  BOOST_TEST(!m.row);
  BOOST_TEST(method_list(m.allowed) == "POST");
  m = match_route("/v1/users/u/entities/e/neighbors", "HEAD");
  BOOST_REQUIRE(m.row);
  BOOST_TEST(m.params.size() == 2u);
  BOOST_TEST(!match_route("/v1/users/u/facts/extra", "GET").pattern);
  BOOST_TEST(!match_route("/v1/users", "GET").pattern);
  BOOST_TEST(!match_route("relative", "GET").pattern);
  BOOST_TEST((match_route("/metrics", "GET").served_by == listener::ops));
}

BOOST_AUTO_TEST_SUITE_END()
