// HTTP layer of DELETE /v1/users/{user_id} and GET /v1/users/{user_id}/export
// over a scripted backend (the storage side is tested against Postgres in
// tests/storage/governance_test.cpp and end to end in tests/integration).

#include <atomic>
#include <mutex>
#include <sstream>
#include <string>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/server.hpp"
#include "tests/api/route_fixture.hpp"
#include "messages/errc.hpp"

using nlohmann::json;
using namespace agentmem;

namespace {

class governance_backend : public test::empty_backend {
public:
  std::atomic<bool> fail_midway{false};
  std::atomic<int> export_lines{3};
  std::mutex mtx;
  std::string deleted, exported;

  caf::expected<api::deletion_report>
  delete_user(const std::string& user_id) override {
    if (user_id == "down")
      return make_error(errc::postgres_error, "connection refused");
    std::lock_guard<std::mutex> g{mtx};
    deleted = user_id;
    api::deletion_report r;
    r.user_id = user_id;
    r.deleted_at_ms = 1'683'554'160'000;
    r.cutoff_ms = 1'683'554'160'500;
    r.deletion_seq = 7;
    r.postgres = {{"memory_history", 2}, {"memories", 2}, {"user_activities", 3}};
    r.vectors = 2;
    r.keyword_docs = 2;
    r.hot_messages = 3;
    r.hot_sessions = 1;
    r.hot_docs = 2;
    return r;
  }
  caf::expected<api::export_stream>
  open_export(const std::string& user_id) override {
    if (user_id == "down")
      return make_error(errc::postgres_error, "connection refused");
    {
      std::lock_guard<std::mutex> g{mtx};
      exported = user_id;
    }
    int n = export_lines;
    bool fail = fail_midway;
    return api::export_stream{[n, fail](const api::line_writer& w)
                                -> caf::error {
      for (int i = 0; i < n; ++i)
        if (!w(R"({"source":"postgres","table":"memories","row":{"i":)"
               + std::to_string(i) + "}}\n"))
          return caf::none;
      if (fail)
        return make_error(errc::postgres_error, "server closed the connection");
      return caf::none;
    }};
  }
};

using fixture = test::route_fixture<governance_backend>;

std::vector<json> lines_of(const std::string& body) {
  std::vector<json> out;
  std::istringstream in{body};
  std::string line;
  while (std::getline(in, line))
    out.push_back(json::parse(line));
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(governance_routes, fixture)

BOOST_AUTO_TEST_CASE(delete_user_answers_with_a_report_per_store) {
  auto r = cli.Delete("/v1/users/al%2Fice");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
  {
    std::lock_guard<std::mutex> g{be.mtx};
    BOOST_TEST(be.deleted == "al/ice");
  }
  auto j = json::parse(r->body);
  BOOST_TEST(j["user_id"] == "al/ice");
  BOOST_TEST(j["deleted_at"] == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(j["tombstone_cutoff"] == "2023-05-08T13:56:00.500Z");
  BOOST_TEST(j["deletion_seq"] == 7);
  BOOST_TEST(j["postgres"]["rows"] == 7);
  BOOST_TEST(j["postgres"]["tables"]["user_activities"] == 3);
  BOOST_TEST(j["vector_index"]["points"] == 2);
  BOOST_TEST(j["keyword_index"]["documents"] == 2);
  BOOST_TEST(j["rocksdb"]["buffered_messages"] == 3);
  BOOST_TEST(j["rocksdb"]["sessions"] == 1);
  BOOST_TEST(j["rocksdb"]["memory_docs"] == 2);
}

BOOST_AUTO_TEST_CASE(governance_routes_check_methods_ids_and_backend_errors) {
  auto r = cli.Get("/v1/users/alice");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 405);
  BOOST_TEST(r->get_header_value("Allow") == "DELETE");
  r = cli.Delete("/v1/users/alice/export");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 405);
  BOOST_TEST(r->get_header_value("Allow") == "GET");
  r = cli.Delete("/v1/users/%ZZ");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 400);
  r = cli.Delete("/v1/users/down");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 503);
  r = cli.Get("/v1/users/down/export");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 503);
  BOOST_TEST(json::parse(r->body)["error"] == "unavailable");
}

BOOST_AUTO_TEST_CASE(export_streams_json_lines_in_chunks) {
  be.export_lines = 2000;
  auto r = cli.Get("/v1/users/alice/export");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
  BOOST_TEST(r->get_header_value("Content-Type") == "application/x-ndjson");
  BOOST_TEST(r->get_header_value("Transfer-Encoding") == "chunked");
  auto lines = lines_of(r->body);
  BOOST_REQUIRE(lines.size() == 2000u);
  BOOST_TEST(lines[1999]["row"]["i"] == 1999);
}

BOOST_AUTO_TEST_CASE(an_export_failing_part_way_ends_with_an_error_line) {
  be.fail_midway = true;
  auto r = cli.Get("/v1/users/alice/export");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 200);
  auto lines = lines_of(r->body);
  BOOST_REQUIRE(lines.size() == 4u);
  BOOST_TEST(lines[3]["error"] == "unavailable");
  BOOST_TEST(lines[3]["detail"].get<std::string>().find("part-way")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
