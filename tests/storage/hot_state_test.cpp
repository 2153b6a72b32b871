#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <tuple>

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

// pipeline_bench's memory breakdown reads RocksDB's own memory from its
// properties: the memtable holds what was written.
BOOST_AUTO_TEST_CASE(rocksdb_memory_counts_the_memtable) {
  temp_dir d;
  auto hs = hot_state::open(d.path.string());
  BOOST_REQUIRE(hs);
  size_t before = (*hs)->rocksdb_memory_bytes();
  std::vector<memory> docs;
  for (uint64_t i = 0; i < 2000; ++i) {
    memory m;
    m.memory_id = "m" + std::to_string(i);
    m.point_id = i;
    m.user_id = "u1";
    m.text = std::string(500, 'x');
    docs.push_back(m);
  }
  BOOST_REQUIRE(!(*hs)->put_docs(docs));
  size_t after = (*hs)->rocksdb_memory_bytes();
  BOOST_TEST_MESSAGE("RocksDB memory " << before << " -> " << after);
  BOOST_CHECK_GE(after, before + 2000 * 500);
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

// The conversation-buffer cache (write-through, LRU by bytes) in front of
// RocksDB: whatever it holds or evicts, reads and the stored keys are the
// same as without it, and the same after a restart.
BOOST_AUTO_TEST_SUITE(hot_state_buffer_cache)

namespace {

using entry_key = std::pair<int64_t, std::string>; // (ts, event id)
using model_buffer = std::map<entry_key, buffer_entry>;

std::vector<std::string> contents(const std::vector<buffer_entry>& v) {
  std::vector<std::string> out;
  for (auto& e : v)
    out.push_back(e.event_id + "@" + std::to_string(e.ts_ms) + "=" + e.content);
  return out;
}

std::vector<std::string> contents(const model_buffer& m) {
  std::vector<buffer_entry> v;
  for (auto& kv : m)
    v.push_back(kv.second);
  return contents(v);
}

// Every "m|" key and value stored (the durable buffers).
std::map<std::string, std::string> stored_buffers(hot_state& hs) {
  std::map<std::string, std::string> out;
  BOOST_REQUIRE(!hs.scan([&](const std::string& k, const std::string& v) {
    if (k.rfind("m|", 0) == 0)
      out[k] = v;
  }));
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(eviction_and_invalidation_keep_results_identical) {
  constexpr size_t limit = 4;
  temp_dir d0, d1, d2;
  // No cache, a cache of about one session (evicts all the time), and the
  // default cache (never evicts here).
  std::vector<std::unique_ptr<hot_state>> hs;
  hs.push_back(std::move(*hot_state::open(d0.path.string(), limit, 0)));
  hs.push_back(std::move(*hot_state::open(d1.path.string(), limit, 900)));
  hs.push_back(std::move(*hot_state::open(d2.path.string(), limit)));
  const std::vector<std::string> users{"u1", "u2"};
  const std::vector<std::string> sessions{"a", "b", "c"};
  std::map<std::pair<std::string, std::string>, model_buffer> model;
  std::mt19937 rng{7};
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(rng);
  };
  for (int step = 0; step < 400; ++step) {
    auto op = pick(100);
    auto& user = users[pick(users.size())];
    auto& session = sessions[pick(sessions.size())];
    if (op < 80) {
      // A batch of messages (some replayed: event ids repeat), sometimes a
      // catch-up that keeps what is buffered.
      bool keep = pick(5) == 0;
      std::vector<hot_state::message_write> ws;
      std::set<std::tuple<std::string, std::string, entry_key>> in_batch;
      std::set<std::pair<std::string, std::string>> touched;
      for (size_t i = 0, n = 1 + pick(6); i < n; ++i) {
        auto& s = pick(2) == 0 ? session : sessions[pick(sessions.size())];
        auto id = "e" + std::to_string(pick(12));
        int64_t ts = static_cast<int64_t>(pick(12)) * 10;
        if (!in_batch.insert({user, s, {ts, id}}).second)
          continue;
        ws.push_back({user, s,
                      {id, ts, "user", "Ann",
                       "c" + std::to_string(step) + "." + std::to_string(i)
                         + std::string(pick(200), 'x')}});
        auto& m = model[{user, s}];
        if (!(keep && m.count({ts, id})))
          m[{ts, id}] = ws.back().entry;
        touched.insert({user, s});
      }
      for (auto& t : touched) {
        auto& m = model[t];
        while (m.size() > limit)
          m.erase(m.begin());
      }
      for (auto& h : hs)
        BOOST_REQUIRE(!h->append_messages(ws, keep));
    } else if (op < 87) {
      model.erase({user, session});
      for (auto& h : hs)
        BOOST_REQUIRE(h->erase_session(user, session));
    } else if (op < 95) {
      int64_t cutoff = static_cast<int64_t>(pick(12)) * 10;
      for (auto& [k, m] : model)
        if (k.first == user)
          for (auto i = m.begin(); i != m.end();)
            i = i->first.first <= cutoff ? m.erase(i) : std::next(i);
      for (auto& h : hs)
        BOOST_REQUIRE(h->erase_user(user, cutoff, false));
    } else {
      for (auto& [k, m] : model)
        if (k.first == user)
          m.clear();
      for (auto& h : hs)
        BOOST_REQUIRE(!h->erase_buffers({user}));
    }
    for (auto& u : users)
      for (auto& s : sessions) {
        auto want = contents(model[{u, s}]);
        for (auto& h : hs) {
          auto got = h->session_messages(u, s, limit);
          BOOST_REQUIRE(got);
          BOOST_REQUIRE_MESSAGE(contents(*got) == want,
                                "step " << step << " " << u << "/" << s);
        }
      }
    auto stored = stored_buffers(*hs[0]);
    BOOST_REQUIRE(stored_buffers(*hs[1]) == stored);
    BOOST_REQUIRE(stored_buffers(*hs[2]) == stored);
  }
  // The caches stay within their bounds.
  BOOST_CHECK_LE(hs[1]->buffer_cache_usage().first, 900u);
  BOOST_CHECK_EQUAL(hs[0]->buffer_cache_usage().second, 0u);
  BOOST_CHECK_GT(hs[2]->buffer_cache_usage().second, 1u);
}

BOOST_AUTO_TEST_CASE(the_buffer_is_the_same_after_a_restart) {
  temp_dir d, never;
  auto stay = std::move(*hot_state::open(never.path.string(), 5));
  std::vector<hot_state::message_write> first, second;
  for (int i = 0; i < 7; ++i)
    first.push_back(msg("s1", 100 + i, "e" + std::to_string(i),
                        "m" + std::to_string(i)));
  second.push_back(msg("s1", 103, "e3", "replayed"));
  second.push_back(msg("s1", 200, "e9", "after the restart"));
  std::vector<std::string> before;
  {
    auto hs = std::move(*hot_state::open(d.path.string(), 5));
    BOOST_REQUIRE(!hs->append_messages(first));
    before = contents(*hs->session_messages("u1", "s1", 5));
  }
  BOOST_REQUIRE(!stay->append_messages(first));
  auto hs = std::move(*hot_state::open(d.path.string(), 5));
  BOOST_CHECK_EQUAL(hs->buffer_cache_usage().second, 0u); // starts empty
  BOOST_CHECK(contents(*hs->session_messages("u1", "s1", 5)) == before);
  BOOST_REQUIRE(!hs->append_messages(second));
  BOOST_REQUIRE(!stay->append_messages(second));
  BOOST_CHECK(contents(*hs->session_messages("u1", "s1", 5))
              == contents(*stay->session_messages("u1", "s1", 5)));
  BOOST_CHECK(stored_buffers(*hs) == stored_buffers(*stay));
}

BOOST_AUTO_TEST_CASE(a_smaller_limit_after_a_restart_trims_the_older_entries) {
  temp_dir d;
  std::vector<hot_state::message_write> ws;
  for (int i = 0; i < 8; ++i)
    ws.push_back(msg("s1", 100 + i, "e" + std::to_string(i), "m"));
  BOOST_REQUIRE(!(*hot_state::open(d.path.string(), 8))->append_messages(ws));
  auto hs = std::move(*hot_state::open(d.path.string(), 3));
  BOOST_CHECK_EQUAL(hs->session_messages("u1", "s1", 50)->size(), 3u);
  BOOST_REQUIRE(!hs->append_messages({msg("s1", 200, "e9", "m")}));
  auto stored = stored_buffers(*hs);
  BOOST_CHECK_EQUAL(stored.size(), 3u); // e6, e7, e9: the rest deleted
  BOOST_CHECK_EQUAL((*hs->session_messages("u1", "s1", 50))[0].event_id, "e6");
}

BOOST_AUTO_TEST_CASE(a_snapshot_does_not_change_with_later_writes) {
  temp_dir d;
  auto hs = std::move(*hot_state::open(d.path.string(), 2));
  BOOST_REQUIRE(!hs->append_messages({msg("s1", 1, "a", "one"),
                                      msg("s1", 2, "b", "two")}));
  auto snap = hs->session_buffer("u1", "s1");
  BOOST_REQUIRE(snap);
  BOOST_REQUIRE(!hs->append_messages({msg("s1", 3, "c", "three"),
                                      msg("s1", 2, "b", "TWO")}));
  BOOST_CHECK((contents(**snap)
               == std::vector<std::string>{"a@1=one", "b@2=two"}));
  BOOST_CHECK((contents(**hs->session_buffer("u1", "s1"))
               == std::vector<std::string>{"b@2=TWO", "c@3=three"}));
}

BOOST_AUTO_TEST_SUITE_END()
