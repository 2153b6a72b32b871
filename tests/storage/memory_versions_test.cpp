// Versioned memories in postgres_store::commit_batch (mem0-style
// ADD/UPDATE/NOOP, rolling session summaries, memory_history) against a
// real server (pg_fixture.hpp).
#include <filesystem>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/derived_sync.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::memory_event;
using agentmem::storage::postgres_store;
using agentmem::test::open_migrated;
using agentmem::test::why;

namespace {

constexpr int64_t t0 = 1'714'557'600'000; // 2024-05-01T10:00:00Z

memory mem(const std::string& id, uint64_t point, const std::string& type,
           const std::string& text, int64_t ts, const std::string& user = "u1",
           float x = 1.0f) {
  memory m = test::s1_memory(id, point, type, user, text);
  m.ts_ms = ts;
  m.turn_ts_ms = ts;
  m.importance = 0.4;
  m.vector = {x, 0.0f, 0.0f, 0.0f};
  return m;
}

batch of(std::vector<memory> ms) {
  batch b;
  b.memories = std::move(ms);
  return b;
}

storage::commit_result commit(postgres_store& s, const batch& b) {
  auto r = s.commit_batch(b, "g", "hash-4");
  BOOST_REQUIRE_MESSAGE(r, why(r));
  return *r;
}

int64_t q(postgres_store& s, const std::string& sql) {
  auto v = s.scalar(sql);
  BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
  return *v;
}

std::string text_of(postgres_store& s, const std::string& id) {
  auto rows = s.memories_after(0, 1000);
  BOOST_REQUIRE(rows);
  for (auto& r : *rows)
    if (r.m.memory_id == id)
      return r.m.text;
  return "<absent>";
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_versions)

BOOST_FIXTURE_TEST_CASE(a_near_duplicate_updates_the_existing_memory_in_place,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  auto a = mem("a", 1, "episodic", "Tool call search succeeded. q=paris", t0);
  auto first = commit(*s, of({a}));
  BOOST_TEST(first.memories_written == 1u);
  BOOST_TEST(first.changes.empty()); // a plain ADD
  auto seq_before = q(*s, "SELECT seq FROM memories WHERE memory_id = 'a'");
  auto b = mem("b", 2, "episodic", "Tool call search succeeded. q=Paris!",
               t0 + 1000, "u1", 0.9f);
  b.update_of = "a";
  b.importance = 0.7;
  auto r = commit(*s, of({b}));
  BOOST_REQUIRE_EQUAL(r.changes.size(), 1u);
  auto& ch = r.changes[0];
  BOOST_TEST((ch.event == memory_event::update));
  BOOST_TEST(ch.version == 2);
  BOOST_TEST(ch.index == 0u);
  BOOST_TEST(ch.stored.memory_id == "a");
  BOOST_TEST(ch.stored.point_id == 1u);
  BOOST_TEST(ch.stored.event_id == "ev-a"); // the memory keeps its source
  BOOST_TEST(ch.stored.text == b.text);
  BOOST_TEST(ch.stored.ts_ms == t0 + 1000);
  BOOST_TEST(ch.stored.vector == b.vector);
  BOOST_TEST(r.memories_written == 0u);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memories") == 1);
  BOOST_TEST(text_of(*s, "a") == b.text);
  BOOST_TEST(q(*s, "SELECT version FROM memories WHERE memory_id = 'a'") == 2);
  BOOST_TEST(q(*s, "SELECT round(importance * 10) FROM memories") == 7);
  // A new seq: derived state (index, RocksDB docs) re-applies the row.
  BOOST_TEST(q(*s, "SELECT seq FROM memories WHERE memory_id = 'a'")
             > seq_before);
  auto h = s->memory_history("u1", "a");
  BOOST_REQUIRE_MESSAGE(h, why(h));
  BOOST_REQUIRE_EQUAL(h->size(), 2u);
  BOOST_TEST((*h)[0].event == "ADD");
  BOOST_TEST((*h)[0].version == 1);
  BOOST_TEST(!(*h)[0].old_text.has_value());
  BOOST_TEST(*(*h)[0].new_text == a.text);
  BOOST_TEST((*h)[1].event == "UPDATE");
  BOOST_TEST((*h)[1].version == 2);
  BOOST_TEST(*(*h)[1].old_text == a.text);
  BOOST_TEST(*(*h)[1].new_text == b.text);
  BOOST_TEST((*h)[1].event_id == "ev-b");
  BOOST_TEST((*h)[1].source_memory_id == "b");
  BOOST_TEST((*h)[1].changed_at_ms > 0);
}

BOOST_FIXTURE_TEST_CASE(replaying_an_update_changes_nothing,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, of({mem("a", 1, "document", "old words", t0)}));
  auto b = mem("b", 2, "document", "new words", t0 + 5);
  b.update_of = "a";
  auto batch_b = of({b});
  commit(*s, batch_b);
  auto seq = q(*s, "SELECT seq FROM memories WHERE memory_id = 'a'");
  // A later update by another memory, then the replay of the first one.
  auto c = mem("c", 3, "document", "newest words", t0 + 10);
  c.update_of = "a";
  commit(*s, of({c}));
  auto again = commit(*s, batch_b);
  BOOST_REQUIRE_EQUAL(again.changes.size(), 1u);
  BOOST_TEST((again.changes[0].event == memory_event::noop));
  BOOST_TEST(again.changes[0].stored.vector.empty());
  BOOST_TEST(text_of(*s, "a") == "newest words");
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history") == 3);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memories") == 1);
  BOOST_TEST(q(*s, "SELECT seq FROM memories WHERE memory_id = 'a'") > seq);
}

BOOST_FIXTURE_TEST_CASE(an_update_stored_with_its_event_is_a_noop_when_the_event_is_redelivered,
                        agentmem::test::pg_database) {
  // The pipeline's shape: each memory beside the activity it came from.
  // The first commit of ev-b applies the update without looking it up in
  // memory_history (its event is new); the redelivery of ev-b must still
  // find it there.
  auto s = open_migrated(url);
  auto with_event = [](memory m) {
    auto b = of({m});
    b.activities.push_back(
      test::chat_activity(m.event_id, m.user_id, "s1", m.ts_ms, "message"));
    return b;
  };
  commit(*s, with_event(mem("a", 1, "document", "old words", t0)));
  auto b = mem("b", 2, "document", "new words", t0 + 5);
  b.update_of = "a";
  auto batch_b = with_event(b);
  auto first = commit(*s, batch_b);
  BOOST_REQUIRE_EQUAL(first.changes.size(), 1u);
  BOOST_TEST((first.changes[0].event == memory_event::update));
  // A correction of the text that keeps the memory's time (as an edit
  // through the API does): only memory_history tells the redelivered
  // update from a new one.
  {
    pqxx::connection c{url};
    pqxx::work w{c};
    w.exec("UPDATE memories SET text = 'corrected words' WHERE memory_id = 'a'");
    w.commit();
  }
  auto seq = q(*s, "SELECT seq FROM memories WHERE memory_id = 'a'");
  auto again = commit(*s, batch_b);
  BOOST_TEST(again.new_activities == 0u);
  BOOST_REQUIRE_EQUAL(again.changes.size(), 1u);
  BOOST_TEST((again.changes[0].event == memory_event::noop));
  BOOST_TEST(text_of(*s, "a") == "corrected words");
  BOOST_TEST(q(*s, "SELECT version FROM memories WHERE memory_id = 'a'") == 2);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history") == 2);
  BOOST_TEST(q(*s, "SELECT seq FROM memories WHERE memory_id = 'a'") == seq);
}

BOOST_FIXTURE_TEST_CASE(equal_text_or_older_news_is_a_noop,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, of({mem("a", 1, "episodic", "same", t0)}));
  auto seq = q(*s, "SELECT seq FROM memories");
  auto same = mem("b", 2, "episodic", "same", t0 + 1);
  same.update_of = "a";
  auto older = mem("c", 3, "episodic", "different", t0 - 1);
  older.update_of = "a";
  auto r = commit(*s, of({same, older}));
  BOOST_REQUIRE_EQUAL(r.changes.size(), 2u);
  BOOST_TEST((r.changes[0].event == memory_event::noop));
  BOOST_TEST((r.changes[1].event == memory_event::noop));
  BOOST_TEST(r.changes[1].index == 1u);
  BOOST_TEST(q(*s, "SELECT seq FROM memories") == seq);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history") == 1);
}

BOOST_FIXTURE_TEST_CASE(a_target_of_another_user_or_type_is_never_touched,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, of({mem("a", 1, "episodic", "alice's", t0, "alice")}));
  auto b = mem("b", 2, "episodic", "bob's", t0 + 1, "bob");
  b.update_of = "a";
  auto c = mem("c", 3, "document", "a document", t0 + 1, "alice");
  c.update_of = "a";
  auto r = commit(*s, of({b, c}));
  BOOST_REQUIRE_EQUAL(r.changes.size(), 2u);
  BOOST_TEST((r.changes[0].event == memory_event::add));
  BOOST_TEST(r.changes[0].stored.memory_id == "b");
  BOOST_TEST(r.changes[0].stored.update_of.empty());
  BOOST_TEST((r.changes[1].event == memory_event::add));
  BOOST_TEST(text_of(*s, "a") == "alice's");
  BOOST_TEST(q(*s, "SELECT count(*) FROM memories") == 3);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_links") == 3);
  auto other = s->memory_history("bob", "a");
  BOOST_TEST(!other);
  BOOST_TEST(other.error().code() == static_cast<uint8_t>(errc::not_found));
  auto own = s->memory_history("bob", "b");
  BOOST_REQUIRE(own);
  BOOST_TEST(own->size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(duplicates_inside_one_batch_chain_in_order,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  auto a = mem("a", 1, "document", "chunk one", t0);
  auto b = mem("b", 2, "document", "chunk one!", t0);
  b.update_of = "a";
  auto c = mem("c", 3, "document", "chunk one!!", t0);
  c.update_of = "a";
  auto r = commit(*s, of({a, b, c}));
  BOOST_REQUIRE_EQUAL(r.changes.size(), 2u);
  BOOST_TEST(r.changes[0].version == 2);
  BOOST_TEST(r.changes[1].version == 3);
  BOOST_TEST(text_of(*s, "a") == "chunk one!!");
  BOOST_TEST(q(*s, "SELECT version FROM memories") == 3);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history") == 3);
  // Replaying the whole batch adds nothing.
  auto again = commit(*s, of({a, b, c}));
  for (auto& ch : again.changes)
    BOOST_TEST((ch.event == memory_event::noop));
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history") == 3);
}

BOOST_FIXTURE_TEST_CASE(a_session_summary_is_one_memory_updated_in_place,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  auto v1 = mem("sum", 9, "session_summary", "Session summary (10 messages): a",
                t0);
  auto v2 = mem("sum", 9, "session_summary", "Session summary (20 messages): b",
                t0 + 60'000);
  auto r1 = commit(*s, of({v1}));
  BOOST_REQUIRE_EQUAL(r1.changes.size(), 1u);
  BOOST_TEST((r1.changes[0].event == memory_event::add));
  BOOST_TEST(r1.memories_written == 1u);
  auto r2 = commit(*s, of({v2}));
  BOOST_REQUIRE_EQUAL(r2.changes.size(), 1u);
  BOOST_TEST((r2.changes[0].event == memory_event::update));
  BOOST_TEST(r2.changes[0].version == 2);
  // Replays of either version change nothing (same text / older).
  BOOST_TEST((commit(*s, of({v2})).changes[0].event == memory_event::noop));
  BOOST_TEST((commit(*s, of({v1})).changes[0].event == memory_event::noop));
  BOOST_TEST(q(*s, "SELECT count(*) FROM memories") == 1);
  BOOST_TEST(text_of(*s, "sum") == v2.text);
  auto h = s->memory_history("u1", "sum");
  BOOST_REQUIRE(h);
  BOOST_REQUIRE_EQUAL(h->size(), 2u);
  BOOST_TEST(*(*h)[1].old_text == v1.text);
  BOOST_TEST(*(*h)[1].new_text == v2.text);
}

// A versioned add (here a new session summary) goes to the server as
// array parameters, a plain memory of a batch without its event as COPY
// rows into the staging table: every field shape stores the same way.
BOOST_FIXTURE_TEST_CASE(a_versioned_add_stores_every_field_like_a_plain_one,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  auto fill = [](memory m) {
    m.text = "quote \" backslash \\ comma, {braces} NULL\nline \t tab é";
    m.tags = {"a\"b", "c,d", "e\\f", "{x}", "NULL", ""};
    m.metadata_json = R"({"k":"v\"w\\","n":[1,2.5],"u":"é"})";
    m.speaker = "Ann \"A\"";
    m.agent_type = "chat";
    m.agent_name = "bot, the";
    m.project_id = "p\\1";
    m.partition = 7;
    m.chunk_index = 3;
    m.importance = 0.1f;
    m.vector = {1e-30f, -0.0f, 3.4e38f, -1.25f};
    return m;
  };
  auto summary = fill(mem("sum", 9, "session_summary", "", t0 + 1));
  auto plain = fill(mem("pln", 10, "episodic", "", t0 + 1));
  plain.event_id = summary.event_id;
  auto r = commit(*s, of({summary, plain}));
  BOOST_REQUIRE_EQUAL(r.changes.size(), 1u);
  BOOST_TEST((r.changes[0].event == memory_event::add));
  const std::string cols =
    "user_id, session_id, event_id, ts, importance, chunk_index, role,"
    " speaker, text, metadata, embedding, embedding_model, dims, version,"
    " tags, source_partition, agent_type, agent_name, project_id";
  BOOST_TEST(q(*s, "SELECT count(DISTINCT (" + cols + ")) FROM memories")
             == 1);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memories WHERE tags[1] = 'a\"b'"
                   " AND cardinality(tags) = 6 AND tags[6] = ''"
                   " AND metadata->>'k' = 'v\"w\\' AND role IS NULL"
                   " AND length(embedding) = 16")
             == 2);
  // Both are linked to nothing (their event is not in this batch).
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_links WHERE activity_id IS"
                   " NULL")
             == 2);
}

BOOST_FIXTURE_TEST_CASE(conversation_memories_keep_no_history,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, of({mem("t1", 1, "conversation", "hi", t0),
                 mem("e1", 2, "episodic", "Task done.", t0)}));
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history") == 1);
  BOOST_TEST(q(*s, "SELECT count(*) FROM memory_history"
                   " WHERE memory_id = 'e1' AND event = 'ADD'")
             == 1);
}

BOOST_FIXTURE_TEST_CASE(the_batch_follows_the_decisions_for_the_derived_state,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, of({mem("a", 1, "episodic", "first", t0),
                 mem("z", 7, "episodic", "same", t0)}));
  auto plain = mem("p", 5, "conversation", "hi", t0);
  auto upd = mem("b", 2, "episodic", "second", t0 + 1, "u1", 0.5f);
  upd.update_of = "a";
  auto nop = mem("c", 3, "episodic", "same", t0 + 1);
  nop.update_of = "z";
  auto b = of({plain, upd, nop});
  auto r = commit(*s, b);
  storage::apply_memory_changes(b, r.changes);
  BOOST_REQUIRE_EQUAL(b.memories.size(), 2u); // the NOOP is dropped
  BOOST_TEST(b.memories[0].memory_id == "p");
  BOOST_TEST(b.memories[1].memory_id == "a"); // re-indexed in place
  BOOST_TEST(b.memories[1].point_id == 1u);
  BOOST_TEST(b.memories[1].text == "second");
  BOOST_TEST(b.memories[1].vector == upd.vector);
  BOOST_TEST(b.memories[1].update_of.empty());
}

BOOST_FIXTURE_TEST_CASE(every_nodes_derived_state_follows_an_update,
                        agentmem::test::pg_database) {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/agentmem-mv-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  auto s = open_migrated(url);
  storage::shard_set_config sc;
  sc.dir = (dir / "idx").string();
  sc.vectors.dims = 4;
  sc.vectors.model = "hash-4";
  storage::shard_set shards{sc};
  auto shard = shards.open(0); // memories without a Kafka partition
  auto hot = storage::hot_state::open((dir / "rocks").string());
  BOOST_REQUIRE(shard && hot);
  auto index = &(*shard)->vectors;
  auto keywords = &(*shard)->keywords;
  commit(*s, of({mem("a", 1, "document", "marathon training plan", t0)}));
  auto r1 = storage::sync_shards(*s, shards, **hot, {0}, 0);
  BOOST_REQUIRE_MESSAGE(r1, why(r1));
  BOOST_TEST(r1->added == 1u);
  // Another node commits an update of the memory ...
  auto b = mem("b", 2, "document", "triathlon training plan", t0 + 1, "u1",
               0.0f);
  b.vector = {0.0f, 1.0f, 0.0f, 0.0f};
  b.update_of = "a";
  commit(*s, of({b}));
  // ... and this node's tailer applies it to the same point.
  auto r2 = storage::sync_shards(*s, shards, **hot, {0}, r1->watermark);
  BOOST_REQUIRE_MESSAGE(r2, why(r2));
  BOOST_TEST(r2->memories == 1u);
  BOOST_TEST(r2->added == 0u);
  BOOST_TEST((*index)->size() == 1u);
  storage::vector_filter f;
  f.user_id = "u1";
  auto hits = (*index)->search(b.vector.data(), 1, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_TEST(hits[0].point_id == 1u);
  BOOST_TEST(hits[0].score > 0.99f);
  BOOST_TEST((*keywords)->search("marathon", 5, f).empty());
  BOOST_TEST((*keywords)->search("triathlon", 5, f).size() == 1u);
  auto docs = (*hot)->get_docs({1});
  BOOST_REQUIRE(docs && (*docs)[0]);
  BOOST_TEST((*docs)[0]->text == "triathlon training plan");
  BOOST_TEST((*docs)[0]->memory_id == "a");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

BOOST_AUTO_TEST_SUITE_END()
