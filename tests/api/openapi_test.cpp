// The contract and the server cannot drift: every operation of the route
// table (api/routes.cpp) has an operation in docs/openapi.yaml and every
// operation there is served, with the same token requirement and path
// parameters. The live behaviour against the document is fuzzed by
// Schemathesis (tests/contract/).

#include "api/openapi.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "tests/api/route_fixture.hpp"

using namespace agentmem;
using nlohmann::json;

namespace {

const char* const http_methods[] = {"get",    "put",     "post", "delete",
                                    "options", "head",   "patch", "trace"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const json& spec() {
  static const json doc = json::parse(api::openapi_json());
  return doc;
}

// A parameter object, following a $ref into components/parameters.
const json& resolve(const json& p) {
  if (!p.contains("$ref"))
    return p;
  auto ref = p.at("$ref").get<std::string>();
  const std::string prefix = "#/components/parameters/";
  BOOST_TEST_REQUIRE(ref.rfind(prefix, 0) == 0u, ref);
  return spec().at("components").at("parameters").at(ref.substr(prefix.size()));
}

// Names of the path parameters declared for `op` under `item`.
std::set<std::string> declared_path_params(const json& item, const json& op) {
  std::set<std::string> out;
  for (auto* where : {&item, &op})
    if (where->contains("parameters"))
      for (auto& p : where->at("parameters")) {
        auto& r = resolve(p);
        if (r.at("in") == "path")
          out.insert(r.at("name").get<std::string>());
      }
  return out;
}

// The {name} segments of a path template.
std::set<std::string> template_params(const std::string& path) {
  std::set<std::string> out;
  for (size_t open = path.find('{'); open != std::string::npos;
       open = path.find('{', open + 1))
    out.insert(path.substr(open + 1, path.find('}', open) - open - 1));
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(openapi)

BOOST_AUTO_TEST_CASE(the_document_is_openapi_3_1_json) {
  auto& doc = spec();
  BOOST_TEST(doc.at("openapi").get<std::string>().rfind("3.1", 0) == 0u);
  BOOST_TEST(doc.at("paths").size() > 10u);
  // Dates stay strings (no YAML timestamps in the JSON).
  BOOST_TEST(doc.dump().find("\"2024-05-01\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_served_route_has_an_operation) {
  auto& paths = spec().at("paths");
  for (auto& r : api::served_routes()) {
    BOOST_TEST_CONTEXT(r.method << ' ' << r.path) {
      auto item = paths.find(r.path);
      auto op = item == paths.end() ? paths.end() : item->find(lower(r.method));
      if (item == paths.end() || op == item->end()) {
        // Every missing one is named, not only the first.
        BOOST_ERROR(r.method << ' ' << r.path
                             << " is served (api/routes.cpp) but "
                                "docs/openapi.yaml has no such operation");
        continue;
      }
      // Open routes say `security: []`; the others inherit the bearer one.
      bool open = op->contains("security") && op->at("security").empty();
      BOOST_TEST(open == !r.needs_token,
                 r.method << ' ' << r.path << ": the route "
                          << (r.needs_token ? "needs" : "needs no")
                          << " token; docs/openapi.yaml says otherwise");
      BOOST_TEST(declared_path_params(*item, *op) == template_params(r.path),
                 r.method << ' ' << r.path
                          << ": path parameters in docs/openapi.yaml differ "
                             "from the template");
      bool success = false;
      for (auto& [status, resp] : op->at("responses").items())
        success = success || status.front() == '2';
      BOOST_TEST(success, r.method << ' ' << r.path
                                   << " documents no 2xx response");
    }
  }
}

BOOST_AUTO_TEST_CASE(every_operation_is_served) {
  std::set<std::pair<std::string, std::string>> served;
  for (auto& r : api::served_routes())
    served.emplace(r.path, lower(r.method));
  for (auto& [path, item] : spec().at("paths").items())
    for (auto* m : http_methods)
      if (item.contains(m))
        BOOST_TEST(served.count({path, m}) == 1u,
                   "docs/openapi.yaml has " << m << ' ' << path
                                            << " but api/routes.cpp serves "
                                               "no such route");
}

BOOST_AUTO_TEST_CASE(every_reference_resolves) {
  // A $ref to a missing component would make generators and Schemathesis
  // fail on the whole document; find it here first.
  auto& doc = spec();
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_object()) {
      if (auto ref = j.find("$ref"); ref != j.end() && ref->is_string()) {
        auto s = ref->get<std::string>();
        BOOST_TEST_REQUIRE(s.rfind("#/", 0) == 0u, s);
        BOOST_TEST(doc.contains(json::json_pointer{s.substr(1)}),
                   "unresolved $ref " << s);
      }
      for (auto& [k, v] : j.items())
        walk(v);
    } else if (j.is_array()) {
      for (auto& v : j)
        walk(v);
    }
  };
  walk(doc);
}

BOOST_FIXTURE_TEST_CASE(served_at_openapi_json_without_a_token,
                        test::route_fixture<test::empty_backend>) {
  httplib::Client anonymous{"127.0.0.1", port};
  auto r = anonymous.Get("/openapi.json");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/json");
  BOOST_TEST(r->body == std::string{api::openapi_json()});
  BOOST_TEST(json::parse(r->body).at("info").at("title") == "agentmem");
  BOOST_TEST(cli.Head("/openapi.json")->status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
