// GET /v1/memories/{memory_id}/history and
// GET /v1/sessions/{session_id}/working-memory over a backend with canned
// data (the storage behind them is tested in tests/storage).
#include <mutex>
#include <stdexcept>
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

constexpr int64_t may8 = 1'683'554'160'000; // 2023-05-08T13:56:00Z

class lifecycle_backend : public test::empty_backend {
public:
  caf::expected<std::vector<api::memory_version>>
  memory_history(const std::string& user_id,
                 const std::string& memory_id) override {
    remember(user_id, memory_id);
    if (user_id != "u1" || memory_id != "m/1")
      return make_error(errc::not_found, "no such memory");
    api::memory_version add;
    add.memory_id = memory_id;
    add.version = 1;
    add.event = "ADD";
    add.new_text = "old";
    add.new_importance = 0.5;
    add.event_id = "e1";
    add.source_memory_id = memory_id;
    add.changed_at_ms = may8;
    api::memory_version upd = add;
    upd.version = 2;
    upd.event = "UPDATE";
    upd.old_text = "old";
    upd.new_text = "new";
    upd.old_importance = 0.5;
    upd.new_importance = 0.75;
    upd.event_id = "e2";
    upd.source_memory_id = "m2";
    upd.changed_at_ms = may8 + 1;
    return std::vector<api::memory_version>{add, upd};
  }

  caf::expected<api::working_memory_view>
  working_memory(const std::string& user_id,
                 const std::string& session_id) override {
    remember(user_id, session_id);
    if (session_id == "gone")
      return make_error(errc::not_found, "no working memory");
    api::working_memory_view v;
    v.expires_at_ms = may8 + 60'000;
    v.items.push_back({"e1", may8, "message", "Ann", "hello", true});
    v.items.push_back({"e2", may8 + 5, "tool_result", "calc", "42", false});
    return v;
  }

  std::pair<std::string, std::string> last() {
    std::lock_guard<std::mutex> g{mtx_};
    return last_;
  }

private:
  void remember(const std::string& a, const std::string& b) {
    std::lock_guard<std::mutex> g{mtx_};
    last_ = {a, b};
  }
  std::mutex mtx_;
  std::pair<std::string, std::string> last_;
};

using fixture = test::route_fixture<lifecycle_backend>;

void expect_error(const httplib::Result& r, int status, const char* code) {
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST(r->status == status);
  BOOST_TEST(json::parse(r->body).at("error").get<std::string>() == code);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(lifecycle_routes, fixture)

BOOST_AUTO_TEST_CASE(memory_history_lists_the_versions) {
  auto r = cli.Get("/v1/memories/m%2F1/history?user_id=u1");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST_REQUIRE(r->status == 200, r->body);
  BOOST_TEST((be.last() == std::pair<std::string, std::string>{"u1", "m/1"}));
  auto j = json::parse(r->body);
  BOOST_TEST(j.at("memory_id") == "m/1");
  BOOST_TEST(j.at("user_id") == "u1");
  auto& h = j.at("history");
  BOOST_TEST_REQUIRE(h.size() == 2u);
  BOOST_TEST(h[0].at("version") == 1);
  BOOST_TEST(h[0].at("event") == "ADD");
  BOOST_TEST(h[0].at("old_text").is_null());
  BOOST_TEST(h[0].at("new_text") == "old");
  BOOST_TEST(h[0].at("old_importance").is_null());
  BOOST_TEST(h[0].at("changed_at") == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(h[1].at("event") == "UPDATE");
  BOOST_TEST(h[1].at("old_text") == "old");
  BOOST_TEST(h[1].at("new_text") == "new");
  BOOST_TEST(h[1].at("new_importance").get<double>() == 0.75);
  BOOST_TEST(h[1].at("event_id") == "e2");
  BOOST_TEST(h[1].at("source_memory_id") == "m2");
}

BOOST_AUTO_TEST_CASE(memory_history_validates_and_scopes_by_user) {
  expect_error(cli.Get("/v1/memories/m1/history"), 400, "bad_request");
  expect_error(cli.Get("/v1/memories/m1/history?user_id="), 400,
               "bad_request");
  expect_error(cli.Get("/v1/memories/m1/history?user_id=u1&limit=3"), 400,
               "bad_request");
  expect_error(cli.Get("/v1/memories/m%2F1/history?user_id=u2"), 404,
               "not_found");
  expect_error(cli.Post("/v1/memories/m1/history?user_id=u1", "",
                        "application/json"),
               405, "method_not_allowed");
}

BOOST_AUTO_TEST_CASE(working_memory_lists_the_live_items) {
  auto r = cli.Get("/v1/sessions/s1/working-memory?user_id=u1");
  BOOST_TEST_REQUIRE(static_cast<bool>(r));
  BOOST_TEST_REQUIRE(r->status == 200, r->body);
  auto j = json::parse(r->body);
  BOOST_TEST(j.at("session_id") == "s1");
  BOOST_TEST(j.at("user_id") == "u1");
  BOOST_TEST(j.at("expires_at") == "2023-05-08T13:57:00.000Z");
  auto& items = j.at("items");
  BOOST_TEST_REQUIRE(items.size() == 2u);
  BOOST_TEST(items[0].at("kind") == "message");
  BOOST_TEST(items[0].at("name") == "Ann");
  BOOST_TEST(items[0].at("content") == "hello");
  BOOST_TEST(items[1].at("kind") == "tool_result");
  BOOST_TEST(items[1].at("success") == false);
  BOOST_TEST(items[1].at("ts") == "2023-05-08T13:56:00.005Z");
}

BOOST_AUTO_TEST_CASE(working_memory_answers_404_when_expired) {
  expect_error(cli.Get("/v1/sessions/gone/working-memory?user_id=u1"), 404,
               "not_found");
  expect_error(cli.Get("/v1/sessions/s1/working-memory"), 400, "bad_request");
}

BOOST_AUTO_TEST_SUITE_END()
