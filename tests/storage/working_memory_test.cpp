// Working memory with TTL (storage/working_memory.hpp): an injected clock,
// no sleeps.
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "messages/errc.hpp"
#include "storage/working_memory.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using agentmem::storage::working_memory;

namespace {

using agentmem::test::temp_dir;

activity act(const std::string& cls, const std::string& id, int64_t ts,
             const std::string& session = "s1", const std::string& user = "u1") {
  activity a = test::chat_activity(id, user, session, ts, cls);
  a.agent_type = "planner";
  a.agent_name = "Ann";
  a.content = "content of " + id;
  return a;
}

struct fixture {
  temp_dir dir;
  std::shared_ptr<std::atomic<int64_t>> now
    = std::make_shared<std::atomic<int64_t>>(1'000'000);
  std::unique_ptr<working_memory> wm;

  explicit fixture(size_t max_items = 3) {
    storage::working_memory_config cfg;
    cfg.ttl_ms = 60'000;
    cfg.max_items = max_items;
    cfg.max_item_chars = 16;
    auto clock = now;
    auto w = working_memory::open((dir.path / "wm").string(), cfg,
                                  [clock] { return clock->load(); });
    BOOST_REQUIRE(w);
    wm = std::move(*w);
  }

  std::optional<working_memory::view> get(const std::string& s = "s1",
                                          const std::string& u = "u1") {
    auto v = wm->get(u, s);
    BOOST_REQUIRE(v);
    return *v;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(working_memory_suite, fixture)

BOOST_AUTO_TEST_CASE(recent_turns_tool_results_and_tasks_are_kept_in_order) {
  auto tool = act("tool_call", "e2", 200);
  tool.tool_name = "web_search";
  tool.output_json = R"({"hits":3})";
  auto task = act("task", "e3", 300);
  task.success = false;
  task.content.clear();
  task.output_json = "{}";
  task.error_message = "boom";
  BOOST_REQUIRE(!wm->append({act("message", "e1", 100), tool, task,
                             act("session_start", "e0", 50)}));
  auto v = get();
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 3u);
  BOOST_CHECK_EQUAL(v->expires_at_ms, 1'000'000 + 60'000);
  BOOST_CHECK_EQUAL(v->items[0].kind, "message");
  BOOST_CHECK_EQUAL(v->items[0].name, "Ann");
  BOOST_CHECK_EQUAL(v->items[0].content, "content of e1");
  BOOST_CHECK_EQUAL(v->items[1].kind, "tool_result");
  BOOST_CHECK_EQUAL(v->items[1].name, "web_search");
  BOOST_CHECK_EQUAL(v->items[1].content, R"({"hits":3})");
  BOOST_CHECK_EQUAL(v->items[2].kind, "task");
  BOOST_CHECK_EQUAL(v->items[2].name, "planner");
  BOOST_CHECK_EQUAL(v->items[2].content, "Error: boom");
  BOOST_CHECK(!v->items[2].success);
  BOOST_CHECK(!get("s2"));
  BOOST_CHECK(!get("s1", "u2")); // scoped to the user
}

BOOST_AUTO_TEST_CASE(only_the_newest_items_are_kept_and_content_is_cut) {
  auto long_msg = act("message", "e9", 900);
  long_msg.content = "0123456789abcdefXYZ";
  BOOST_REQUIRE(!wm->append({act("message", "e1", 100),
                             act("message", "e2", 200)}));
  BOOST_REQUIRE(!wm->append({act("message", "e3", 300), long_msg,
                             act("message", "e0", 50)}));
  auto v = get();
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 3u);
  BOOST_CHECK_EQUAL(v->items[0].event_id, "e2");
  BOOST_CHECK_EQUAL(v->items[1].event_id, "e3");
  BOOST_CHECK_EQUAL(v->items[2].event_id, "e9");
  BOOST_CHECK_EQUAL(v->items[2].content, "0123456789abcdef…");
  // A replayed event overwrites its own item.
  BOOST_REQUIRE(!wm->append({act("message", "e3", 300)}));
  BOOST_CHECK_EQUAL(get()->items.size(), 3u);
}

// Appends below max_items write without reading the session (the
// header's item bound); replays inflate that bound, which must only send
// the next append to the reading path, never trim a session that fits.
BOOST_AUTO_TEST_CASE(appends_below_the_cap_and_replays_trim_exactly) {
  BOOST_REQUIRE(!wm->append({act("message", "e1", 100)}));
  BOOST_REQUIRE(!wm->append({act("message", "e2", 200)}));
  BOOST_REQUIRE(!wm->append({act("message", "e2", 200)})); // replay
  BOOST_REQUIRE(!wm->append({act("message", "e3", 300)}));
  auto v = get();
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 3u);
  BOOST_CHECK_EQUAL(v->items[0].event_id, "e1");
  BOOST_CHECK_EQUAL(v->items[2].event_id, "e3");
  BOOST_REQUIRE(!wm->append({act("message", "e4", 400)}));
  BOOST_REQUIRE(!wm->append({act("message", "e0", 50)})); // older than all
  v = get();
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 3u);
  BOOST_CHECK_EQUAL(v->items[0].event_id, "e2");
  BOOST_CHECK_EQUAL(v->items[1].event_id, "e3");
  BOOST_CHECK_EQUAL(v->items[2].event_id, "e4");
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 4u); // header + 3 items
  // A second session's appends do not count against the first's bound.
  BOOST_REQUIRE(!wm->append({act("message", "f1", 100, "s2")}));
  BOOST_REQUIRE(!wm->append({act("message", "e5", 500)}));
  BOOST_CHECK_EQUAL(get()->items.front().event_id, "e3");
  BOOST_CHECK_EQUAL(get("s2")->items.size(), 1u);
}

BOOST_AUTO_TEST_CASE(a_session_expires_after_ttl_of_inactivity) {
  BOOST_REQUIRE(!wm->append({act("message", "e1", 100)}));
  *now += 59'999;
  BOOST_REQUIRE(get());
  // Activity refreshes the whole session, old items included.
  BOOST_REQUIRE(!wm->append({act("message", "e2", 200)}));
  *now += 59'999;
  auto v = get();
  BOOST_REQUIRE(v);
  BOOST_CHECK_EQUAL(v->items.size(), 2u);
  *now += 1;
  BOOST_CHECK(!get()); // expired: gone, and deleted by the read
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 0u);
  // New activity after expiry starts a fresh working memory.
  BOOST_REQUIRE(!wm->append({act("message", "e3", 300)}));
  v = get();
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 1u);
  BOOST_CHECK_EQUAL(v->items[0].event_id, "e3");
}

BOOST_AUTO_TEST_CASE(the_sweep_deletes_expired_sessions_only) {
  BOOST_REQUIRE(!wm->append({act("message", "a1", 1, "old"),
                             act("message", "a2", 2, "old")}));
  *now += 30'000;
  BOOST_REQUIRE(!wm->append({act("message", "b1", 1, "young")}));
  *now += 30'000; // "old" is 60 s idle, "young" 30 s
  auto swept = wm->sweep();
  BOOST_REQUIRE(swept);
  BOOST_CHECK_EQUAL(*swept, 1u);
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 2u); // young: header + item
  BOOST_CHECK(get("young"));
  BOOST_CHECK_EQUAL(*wm->sweep(), 0u);
}

BOOST_AUTO_TEST_CASE(compaction_drops_expired_entries) {
  BOOST_REQUIRE(!wm->append({act("message", "a1", 1, "x"),
                             act("message", "a2", 2, "y")}));
  BOOST_REQUIRE(!wm->compact());
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 4u); // live: kept
  *now += 60'000;
  BOOST_REQUIRE(!wm->compact());
  // The headers are gone; the items outlive them by the slack (ttl / 2),
  // invisible to reads, until a later compaction.
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 2u);
  *now += 30'000;
  BOOST_REQUIRE(!wm->compact());
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 0u);
}

namespace {

// The expiry stored in the first 8 bytes of an item's value, by event id.
std::map<std::string, int64_t> item_expiries(working_memory& wm) {
  std::map<std::string, int64_t> out;
  BOOST_REQUIRE(!wm.scan([&](const std::string& k, const std::string& v) {
    if (k.rfind("i|", 0) != 0 || v.size() < 8)
      return;
    int64_t x;
    std::memcpy(&x, v.data(), 8);
    out[k.substr(k.size() - 2)] = x; // event ids here are 2 chars
  }));
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(old_items_are_rewritten_only_when_they_would_expire_first) {
  const int64_t t0 = *now;
  BOOST_REQUIRE(!wm->append({act("message", "e1", 100)}));
  BOOST_CHECK_EQUAL(item_expiries(*wm)["e1"], t0 + 90'000); // ttl + slack
  // Within the slack: the session's expiry moves, e1 is not rewritten.
  *now += 25'000;
  BOOST_REQUIRE(!wm->append({act("message", "e2", 200)}));
  auto exp = item_expiries(*wm);
  BOOST_CHECK_EQUAL(exp["e1"], t0 + 90'000);
  BOOST_CHECK_EQUAL(exp["e2"], t0 + 25'000 + 90'000);
  BOOST_CHECK_EQUAL(get()->expires_at_ms, t0 + 85'000);
  // The newest write is more than ttl - slack after e1's: e1 would expire
  // before the session, so this write carries it on.
  *now = t0 + 50'000;
  BOOST_REQUIRE(!wm->append({act("message", "e3", 300)}));
  exp = item_expiries(*wm);
  BOOST_CHECK_EQUAL(exp["e1"], t0 + 140'000);
  BOOST_CHECK_EQUAL(exp["e2"], t0 + 115'000); // >= the header's: kept
  // Past every item's first expiry, the live session keeps all of them
  // through a compaction and a sweep.
  *now = t0 + 100'000;
  BOOST_REQUIRE(!wm->compact());
  BOOST_CHECK_EQUAL(*wm->sweep(), 0u);
  auto v = get();
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 3u);
  BOOST_CHECK_EQUAL(v->items[0].event_id, "e1");
  BOOST_CHECK_EQUAL(v->expires_at_ms, t0 + 110'000);
}

BOOST_AUTO_TEST_CASE(an_expired_session_is_gone_whole_although_items_outlive_it) {
  BOOST_REQUIRE(!wm->append({act("message", "a1", 1, "old"),
                             act("message", "a2", 2, "old")}));
  BOOST_REQUIRE(!wm->append({act("message", "c1", 1, "read")}));
  *now += 30'000;
  BOOST_REQUIRE(!wm->append({act("message", "b1", 1, "young")}));
  *now += 30'000; // "old" and "read" expired; their items' stored expiry
                  // is 30 s away
  BOOST_CHECK(!get("read")); // invisible (and deleted by the read)
  // A write after expiry starts afresh: the old items do not come back.
  BOOST_REQUIRE(!wm->append({act("message", "a3", 3, "old")}));
  auto v = get("old");
  BOOST_REQUIRE(v);
  BOOST_REQUIRE_EQUAL(v->items.size(), 1u);
  BOOST_CHECK_EQUAL(v->items[0].event_id, "a3");
  // The sweep deletes an expired session's items with its header, although
  // their own expiry has not passed.
  *now += 59'999; // "young" expired (b1's own expiry is 1 ms away)
  BOOST_CHECK_EQUAL(*wm->sweep(), 1u);
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 2u); // old: header + a3
  BOOST_CHECK(get("old"));
}

BOOST_AUTO_TEST_CASE(user_deletion_erases_every_session_also_from_the_files) {
  // Alice has two live sessions and an item after the cutoff (she came
  // back); Bob shares a session id with her.
  auto secret = [](const std::string& id, int64_t ts, const std::string& s,
                   const std::string& u) {
    auto a = act("message", id, ts, s, u);
    a.content = u == "alice" ? "zanzibar" + id : "bobsnote" + id;
    return a;
  };
  BOOST_REQUIRE(!wm->append({secret("a1", 100, "s1", "alice"),
                             secret("a2", 200, "s2", "alice"),
                             secret("b1", 100, "s1", "bob")}));
  BOOST_REQUIRE(!wm->append({secret("a3", 900, "s3", "alice")}));
  BOOST_REQUIRE(!wm->compact()); // the values are in SST files now
  BOOST_REQUIRE(test::dir_contains(dir.path / "wm", "zanzibara1"));
  std::vector<std::string> exported;
  BOOST_REQUIRE(!wm->for_each_user_item(
    "alice", [&](const std::string& s, const working_memory::item& it) {
      exported.push_back(s + "/" + it.event_id);
    }));
  BOOST_CHECK((exported
               == std::vector<std::string>{"s1/a1", "s2/a2", "s3/a3"}));

  auto n = wm->erase_user("alice", 500, true);
  BOOST_REQUIRE(n);
  BOOST_CHECK_EQUAL(n->items, 2u);
  BOOST_CHECK_EQUAL(n->sessions, 2u); // s3 keeps its header and a3
  BOOST_CHECK(!get("s1", "alice"));
  BOOST_CHECK(!get("s2", "alice"));
  auto back = get("s3", "alice");
  BOOST_REQUIRE(back);
  BOOST_CHECK_EQUAL(back->items.size(), 1u);
  auto bob = get("s1", "bob");
  BOOST_REQUIRE(bob);
  BOOST_CHECK_EQUAL(bob->items.at(0).content, "bobsnoteb1");
  // Gone from the memtable, WAL and SST files; Bob's bytes stay.
  BOOST_CHECK(!test::dir_contains(dir.path / "wm", "zanzibara1"));
  BOOST_CHECK(!test::dir_contains(dir.path / "wm", "zanzibara2"));
  BOOST_CHECK(test::dir_contains(dir.path / "wm", "bobsnoteb1"));
  // Idempotent.
  n = wm->erase_user("alice", 500, true);
  BOOST_REQUIRE(n);
  BOOST_CHECK_EQUAL(n->items + n->sessions, 0u);
}

BOOST_AUTO_TEST_CASE(session_deletion_erases_the_session_only) {
  BOOST_REQUIRE(!wm->append({act("message", "e1", 100, "s1"),
                             act("message", "e2", 100, "s2")}));
  auto n = wm->erase_session("u1", "s1");
  BOOST_REQUIRE(n);
  BOOST_CHECK_EQUAL(n->items, 1u);
  BOOST_CHECK_EQUAL(n->sessions, 1u);
  BOOST_CHECK(!get("s1"));
  BOOST_CHECK(get("s2"));
  BOOST_CHECK_EQUAL(wm->raw_key_count(), 2u);
}

BOOST_AUTO_TEST_CASE(bad_settings_are_rejected) {
  storage::working_memory_config cfg;
  cfg.ttl_ms = 0;
  auto w = working_memory::open((dir.path / "bad").string(), cfg);
  BOOST_REQUIRE(!w);
  BOOST_CHECK_EQUAL(w.error().code(),
                    static_cast<uint8_t>(errc::invalid_config));
}

BOOST_AUTO_TEST_SUITE_END()
