#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "storage/hot_state.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using namespace agentmem::storage;

namespace {

using agentmem::test::temp_dir;

hot_state::message_write msg(const std::string& session, int64_t ts,
                             const std::string& id,
                             const std::string& content) {
  return {"u1", session, {id, ts, "user", "Ann", content}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(hot_state_suite)

BOOST_AUTO_TEST_CASE(the_buffer_keeps_the_newest_messages_oldest_first) {
  temp_dir d;
  auto hs = hot_state::open(d.path.string(), 5);
  BOOST_REQUIRE(hs);
  std::vector<hot_state::message_write> ws;
  for (int i = 0; i < 8; ++i)
    ws.push_back(msg("s1", 1000 + i, "e" + std::to_string(i),
                     "m" + std::to_string(i)));
  ws.push_back(msg("s2", 50, "x", "other session"));
  BOOST_REQUIRE(!(*hs)->append_messages(ws));
  auto got = (*hs)->session_messages("u1", "s1", 50);
  BOOST_REQUIRE(got);
  BOOST_REQUIRE_EQUAL(got->size(), 5u);
  BOOST_CHECK_EQUAL(got->front().content, "m3");
  BOOST_CHECK_EQUAL(got->back().content, "m7");
  auto two = (*hs)->session_messages("u1", "s1", 2);
  BOOST_REQUIRE_EQUAL(two->size(), 2u);
  BOOST_CHECK_EQUAL((*two)[0].content, "m6");
  auto other = (*hs)->session_messages("u1", "s2", 50);
  BOOST_REQUIRE_EQUAL(other->size(), 1u);
  BOOST_CHECK_EQUAL((*hs)->session_messages("u2", "s1", 50)->size(), 0u);
}

BOOST_AUTO_TEST_CASE(replaying_messages_does_not_duplicate_buffer_entries) {
  temp_dir d;
  auto hs = hot_state::open(d.path.string(), 50);
  BOOST_REQUIRE(hs);
  std::vector<hot_state::message_write> ws{msg("s1", 10, "a", "one"),
                                           msg("s1", 20, "b", "two")};
  BOOST_REQUIRE(!(*hs)->append_messages(ws));
  BOOST_REQUIRE(!(*hs)->append_messages(ws));
  auto got = (*hs)->session_messages("u1", "s1", 50);
  BOOST_REQUIRE_EQUAL(got->size(), 2u);
  auto st = (*hs)->session("u1", "s1");
  BOOST_REQUIRE(st && *st);
  BOOST_CHECK_EQUAL((*st)->started_at_ms, 10);
  BOOST_CHECK_EQUAL((*st)->last_activity_ms, 20);
  BOOST_CHECK_EQUAL((*st)->ended_at_ms, -1);
  BOOST_REQUIRE(!(*hs)->merge_session("u1", "s1", {30, 30, 30}));
  st = (*hs)->session("u1", "s1");
  BOOST_CHECK_EQUAL((*st)->ended_at_ms, 30);
  BOOST_CHECK_EQUAL((*st)->started_at_ms, 10);
}

BOOST_AUTO_TEST_CASE(docs_and_watermarks_survive_a_reopen) {
  temp_dir d;
  memory m;
  m.memory_id = "abc";
  m.point_id = 42;
  m.memory_type = "conversation";
  m.user_id = "u1";
  m.session_id = "s1";
  m.event_id = "e1";
  m.ts_ms = 123;
  m.text = "hello";
  m.metadata_json = R"({"k":1})";
  {
    auto hs = hot_state::open(d.path.string());
    BOOST_REQUIRE(hs);
    BOOST_CHECK_EQUAL(*(*hs)->watermark("memory_seq", -7), -7);
    BOOST_REQUIRE(!(*hs)->put_docs({m}, "memory_seq", 99));
  }
  auto hs = hot_state::open(d.path.string());
  BOOST_REQUIRE(hs);
  BOOST_CHECK_EQUAL(*(*hs)->watermark("memory_seq", 0), 99);
  auto docs = (*hs)->get_docs({42, 43});
  BOOST_REQUIRE(docs);
  BOOST_REQUIRE(docs->at(0));
  BOOST_CHECK(!docs->at(1));
  BOOST_CHECK_EQUAL(docs->at(0)->text, "hello");
  BOOST_CHECK_EQUAL(docs->at(0)->metadata_json, R"({"k":1})");
  BOOST_CHECK_EQUAL(docs->at(0)->ts_ms, 123);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hot_state_catch_up)

BOOST_AUTO_TEST_CASE(catch_up_writes_fill_gaps_but_never_overwrite_entries) {
  char tmpl[] = "/tmp/agentmem-hot-XXXXXX";
  std::filesystem::path dir = mkdtemp(tmpl);
  {
    auto hs = agentmem::storage::hot_state::open(dir.string(), 50);
    BOOST_REQUIRE(hs);
    using mw = agentmem::storage::hot_state::message_write;
    std::vector<mw> exact{{"u1", "s1", {"a", 10, "user", "Ann", "  hi  "}}};
    BOOST_REQUIRE(!(*hs)->append_messages(exact));
    std::vector<mw> rebuilt{{"u1", "s1", {"a", 10, "user", "Ann", "hi"}},
                            {"u1", "s1", {"b", 20, "user", "Ann", "new"}}};
    BOOST_REQUIRE(!(*hs)->append_messages(rebuilt, true));
    auto got = (*hs)->session_messages("u1", "s1", 50);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE_EQUAL(got->size(), 2u);
    BOOST_CHECK_EQUAL((*got)[0].content, "  hi  ");
    BOOST_CHECK_EQUAL((*got)[1].content, "new");
  }
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
