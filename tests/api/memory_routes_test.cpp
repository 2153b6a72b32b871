// GET/PATCH/DELETE /v1/memories/{memory_id}, GET /v1/users/{user_id}/memories
// and /sessions over a backend with canned data: request validation, the
// opaque cursor, response shapes (the storage behind them is tested in
// tests/storage/memory_catalog_test.cpp).
#include <mutex>
#include <string>

#include <boost/test/unit_test.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/cursor.hpp"
#include "messages/errc.hpp"
#include "tests/api/route_fixture.hpp"

using nlohmann::json;
using namespace agentmem;

namespace {

constexpr int64_t may8 = 1'683'554'160'000; // 2023-05-08T13:56:00Z

class memory_backend : public test::empty_backend {
public:
  std::mutex mtx;
  api::memory_patch last_patch;
  api::memory_list_query last_list;
  api::session_list_query last_sessions;

  static api::memory_record record(const std::string& user,
                                   const std::string& id) {
    api::memory_record m;
    m.memory_id = id;
    m.memory_type = "episodic";
    m.user_id = user;
    m.session_id = "s1";
    m.event_id = "e1";
    m.ts_ms = may8;
    m.importance = 0.5;
    m.text = "the text";
    m.tags = {"t1"};
    m.metadata_json = R"({"k":1})";
    m.created_at_ms = may8 + 5;
    return m;
  }
  caf::expected<api::memory_record>
  get_memory(const std::string& user, const std::string& id) override {
    if (id != "m1")
      return make_error(errc::not_found, "user " + user + " has no memory");
    return record(user, id);
  }
  caf::expected<api::memory_record>
  update_memory(const std::string& user, const std::string& id,
                const api::memory_patch& p) override {
    std::lock_guard<std::mutex> g{mtx};
    last_patch = p;
    auto m = record(user, id);
    m.version = 2;
    if (p.text)
      m.text = *p.text;
    m.updated_at_ms = may8 + 10;
    return m;
  }
  caf::expected<api::memory_deletion>
  delete_memory(const std::string& user, const std::string& id) override {
    return api::memory_deletion{id, user, 3, 17, may8 + 20};
  }
  caf::expected<api::memory_page>
  list_memories(const api::memory_list_query& q) override {
    std::lock_guard<std::mutex> g{mtx};
    last_list = q;
    api::memory_page p;
    p.items = {record(q.user_id, "m1"), record(q.user_id, "m2")};
    p.next = api::list_position{may8, "m2"};
    return p;
  }
  caf::expected<api::session_page>
  list_sessions(const api::session_list_query& q) override {
    std::lock_guard<std::mutex> g{mtx};
    last_sessions = q;
    api::session_page p;
    api::session_row s;
    s.session_id = "s1";
    s.agent_type = "chat";
    s.started_at_ms = may8;
    s.last_activity_at_ms = may8 + 1;
    s.total_interactions = 4;
    s.memory_count = 2;
    p.items = {s};
    return p;
  }
};

using fixture = test::route_fixture<memory_backend>;

json body_of(const httplib::Result& r) {
  BOOST_REQUIRE(r);
  return json::parse(r->body);
}

void expect_400(const httplib::Result& r, const std::string& part) {
  BOOST_REQUIRE(r);
  BOOST_TEST(r->status == 400, r->body);
  BOOST_TEST(r->body.find(part) != std::string::npos, r->body);
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_routes)

BOOST_FIXTURE_TEST_CASE(one_memory_can_be_read_changed_and_deleted, fixture) {
  auto r = cli.Get("/v1/memories/m1?user_id=u1");
  auto j = body_of(r);
  BOOST_TEST(r->status == 200);
  BOOST_TEST(j["memory_id"] == "m1");
  BOOST_TEST(j["importance"] == 0.5);
  BOOST_TEST(j["tags"] == json::array({"t1"}));
  BOOST_TEST(j["metadata"]["k"] == 1);
  BOOST_TEST(j["updated_at"].is_null());
  BOOST_TEST(j["ts"] == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(cli.Get("/v1/memories/zz?user_id=u1")->status == 404);
  r = cli.Patch("/v1/memories/m1?user_id=u1",
                R"({"text":"fixed","importance":1,"tags":["a","a","b"]})",
                "application/json");
  j = body_of(r);
  BOOST_TEST(r->status == 200, r->body);
  BOOST_TEST(j["version"] == 2);
  BOOST_TEST(j["text"] == "fixed");
  {
    std::lock_guard<std::mutex> g{be.mtx};
    BOOST_TEST(*be.last_patch.importance == 1.0);
    BOOST_TEST((*be.last_patch.tags == std::vector<std::string>{"a", "b"}));
  }
  r = cli.Delete("/v1/memories/m1?user_id=u1");
  j = body_of(r);
  BOOST_TEST(r->status == 200);
  BOOST_TEST(j["deleted"] == true);
  BOOST_TEST(j["deletion_seq"] == 17);
  r = cli.Post("/v1/memories/m1?user_id=u1", "{}", "application/json");
  BOOST_TEST(r->status == 405);
  BOOST_TEST(r->get_header_value("Allow") == "GET, HEAD, PATCH, DELETE");
}

BOOST_FIXTURE_TEST_CASE(patches_are_validated_strictly, fixture) {
  auto patch = [&](const std::string& b) {
    return cli.Patch("/v1/memories/m1?user_id=u1", b, "application/json");
  };
  expect_400(patch("{}"), "nothing to change");
  expect_400(patch(R"({"importance":1.5})"), "between 0 and 1");
  expect_400(patch(R"({"text":""})"), "text must be 1-65536");
  expect_400(patch(R"({"text":"   "})"), "non-whitespace");
  expect_400(patch(R"({"text":"a\u0000b"})"), "NUL");
  expect_400(patch(R"({"txt":"a"})"), "unknown field 'txt'");
  expect_400(patch(R"({"text":"a","text":"b"})"), "duplicate field 'text'");
  expect_400(patch(R"({"tags":[1]})"), "tags entries must be strings");
  expect_400(patch("[1]"), "must be a JSON object");
  expect_400(cli.Patch("/v1/memories/m1", R"({"text":"a"})",
                       "application/json"),
             "user_id is required");
}

BOOST_FIXTURE_TEST_CASE(lists_take_filters_and_return_an_opaque_cursor,
                        fixture) {
  auto r = cli.Get("/v1/users/u1/memories?memory_type=episodic,document"
                   "&tags=a,b&tags_match=all&min_importance=0.25&limit=2"
                   "&since=2023-05-01T00:00:00Z&until=1683554160000");
  auto j = body_of(r);
  BOOST_TEST(r->status == 200, r->body);
  BOOST_TEST(j["memories"].size() == 2u);
  auto cursor = j["next_cursor"].get<std::string>();
  BOOST_TEST(cursor.find_first_not_of(
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
             == std::string::npos);
  {
    std::lock_guard<std::mutex> g{be.mtx};
    BOOST_TEST(be.last_list.memory_types.size() == 2u);
    BOOST_TEST(be.last_list.tags_all);
    BOOST_TEST(*be.last_list.min_importance == 0.25);
    BOOST_TEST(be.last_list.limit == 2);
    BOOST_TEST(*be.last_list.until_ms == may8);
    BOOST_TEST(!be.last_list.after);
  }
  r = cli.Get(("/v1/users/u1/memories?cursor=" + cursor).c_str());
  BOOST_TEST(r->status == 200);
  {
    std::lock_guard<std::mutex> g{be.mtx};
    BOOST_REQUIRE(be.last_list.after);
    BOOST_TEST(be.last_list.after->id == "m2");
    BOOST_TEST(be.last_list.after->ts_ms == may8);
  }
  // A memories cursor is not a sessions cursor, and garbage is refused.
  expect_400(cli.Get(("/v1/users/u1/sessions?cursor=" + cursor).c_str()),
             "cursor");
  expect_400(cli.Get("/v1/users/u1/memories?cursor=%21%21"), "cursor");
  expect_400(cli.Get("/v1/users/u1/memories?memory_type=nope"),
             "unknown memory_type");
  expect_400(cli.Get("/v1/users/u1/memories?limit=0"), "limit");
  expect_400(cli.Get("/v1/users/u1/memories?min_importance=2"),
             "min_importance");
  expect_400(cli.Get("/v1/users/u1/memories?since=2&until=1"),
             "since must not be after until");
  expect_400(cli.Get("/v1/users/u1/memories?colour=red"), "unknown query");
  r = cli.Get("/v1/users/u1/sessions?agent_type=chat&limit=1");
  j = body_of(r);
  BOOST_TEST(r->status == 200);
  BOOST_TEST(j["sessions"][0]["memory_count"] == 2);
  BOOST_TEST(j["sessions"][0]["ended_at"].is_null());
  BOOST_TEST(j["next_cursor"].is_null());
}

BOOST_AUTO_TEST_CASE(cursors_round_trip_and_reject_foreign_input) {
  api::list_position p{-5, "a/b c"};
  auto c = api::encode_cursor('m', p);
  auto back = api::decode_cursor('m', c);
  BOOST_REQUIRE(back);
  BOOST_TEST(back->ts_ms == -5);
  BOOST_TEST(back->id == "a/b c");
  BOOST_TEST(!api::decode_cursor('s', c));
  BOOST_TEST(!api::decode_cursor('m', c + "="));
  BOOST_TEST(!api::decode_cursor('m', "bTox"));  // "m:1" without id
  BOOST_TEST(!api::decode_cursor('m', ""));
}

BOOST_AUTO_TEST_SUITE_END()
