// Single memories and listings (storage::memory_catalog) against a real
// server (pg_fixture.hpp): get, change in place, delete, keyset pages that
// stay stable while new memories are committed.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "domain/embedding.hpp"
#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/governance_store.hpp"
#include "storage/memory_catalog.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::memory_catalog;
using agentmem::storage::postgres_store;
using agentmem::test::open_migrated;
using agentmem::test::why;

namespace {

constexpr int64_t t0 = 1'714'557'600'000; // 2024-05-01T10:00:00Z

domain::hashing_embedder embedder{8};

memory mem(const std::string& id, uint64_t point, int64_t ts,
           const std::string& user = "u1",
           std::vector<std::string> tags = {}) {
  memory m = test::s1_memory(id, point, "episodic", user, "text of " + id);
  m.ts_ms = m.turn_ts_ms = ts;
  m.importance = 0.1 * static_cast<double>(point % 10);
  m.tags = std::move(tags);
  std::vector<std::string_view> in{m.text};
  std::vector<std::vector<float>> out;
  BOOST_REQUIRE(!embedder.embed(in, out));
  m.vector = out[0];
  return m;
}

void commit(postgres_store& s, std::vector<memory> ms) {
  batch b;
  b.memories = std::move(ms);
  auto r = s.commit_batch(b, "g", embedder.model());
  BOOST_REQUIRE_MESSAGE(r, why(r));
}

std::unique_ptr<memory_catalog> catalog(const std::string& url) {
  auto c = memory_catalog::connect(url);
  BOOST_REQUIRE_MESSAGE(c, why(c));
  return std::move(*c);
}

bool is_not_found(const caf::error& e) {
  return e.category() == errc_category
         && static_cast<errc>(e.code()) == errc::not_found;
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_catalog_suite)

BOOST_FIXTURE_TEST_CASE(a_patch_changes_the_memory_in_place_with_history,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, {mem("a", 1, t0, "u1", {"x"})});
  auto c = catalog(url);
  auto got = c->get("u1", "a");
  BOOST_REQUIRE_MESSAGE(got, why(got));
  BOOST_TEST(got->text == "text of a");
  BOOST_TEST(got->version == 1);
  BOOST_TEST((got->tags == std::vector<std::string>{"x"}));
  BOOST_TEST(is_not_found(c->get("u2", "a").error())); // other user
  auto seq_before = *s->scalar("SELECT seq FROM memories");
  memory_patch p;
  p.text = "corrected text";
  p.importance = 0.9;
  p.tags = std::vector<std::string>{"y", "z"};
  memory stored;
  auto upd = c->update("u1", "a", p, embedder, stored);
  BOOST_REQUIRE_MESSAGE(upd, why(upd));
  BOOST_TEST(upd->version == 2);
  BOOST_TEST(upd->text == "corrected text");
  BOOST_TEST(upd->importance == 0.9, boost::test_tools::tolerance(1e-6));
  BOOST_TEST((upd->tags == std::vector<std::string>{"y", "z"}));
  BOOST_TEST(upd->updated_at_ms.has_value());
  // Re-embedded, with a new seq so every node's index_sync re-indexes it.
  BOOST_TEST(stored.point_id == 1u);
  BOOST_TEST(stored.vector.size() == 8u);
  BOOST_TEST(*s->scalar("SELECT seq FROM memories") > seq_before);
  auto tail = s->memories_after(seq_before, 10);
  BOOST_REQUIRE(tail);
  BOOST_REQUIRE_EQUAL(tail->size(), 1u);
  BOOST_TEST((*tail)[0].m.text == "corrected text");
  BOOST_TEST((*tail)[0].m.vector == stored.vector);
  BOOST_TEST(((*tail)[0].m.tags == std::vector<std::string>{"y", "z"}));
  auto hist = s->memory_history("u1", "a");
  BOOST_REQUIRE(hist);
  BOOST_REQUIRE_EQUAL(hist->size(), 2u);
  BOOST_TEST((*hist)[1].event == "UPDATE");
  BOOST_TEST(*(*hist)[1].old_text == "text of a");
  BOOST_TEST(*(*hist)[1].new_text == "corrected text");
  // Importance only: no re-embedding, version 3.
  memory_patch imp;
  imp.importance = 0.2;
  upd = c->update("u1", "a", imp, embedder, stored);
  BOOST_REQUIRE(upd);
  BOOST_TEST(upd->version == 3);
  BOOST_TEST(stored.vector.empty());
  // A patch that changes nothing keeps the version.
  upd = c->update("u1", "a", imp, embedder, stored);
  BOOST_REQUIRE(upd);
  BOOST_TEST(upd->version == 3);
  BOOST_TEST(is_not_found(c->update("u1", "nope", imp, embedder, stored).error()));
}

// importance is a `real` column: a double in 0..1 that float cannot hold
// (below its normal range) was sent as text PostgreSQL refuses, and the
// API answered 503 (found by Schemathesis, tests/contract/).
BOOST_FIXTURE_TEST_CASE(importance_values_below_float_range_are_stored_as_zero,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, {mem("a", 5, t0), mem("b", 0, t0 + 1)});
  auto c = catalog(url);
  memory stored;
  memory_patch p;
  p.importance = 2.225073858507e-311;
  auto upd = c->update("u1", "a", p, embedder, stored);
  BOOST_REQUIRE_MESSAGE(upd, why(upd));
  BOOST_TEST(upd->importance == 0.0);
  BOOST_TEST(upd->version == 2);
  p.importance = 1e-40; // a float subnormal
  upd = c->update("u1", "a", p, embedder, stored);
  BOOST_REQUIRE_MESSAGE(upd, why(upd));
  BOOST_TEST(upd->version == 2); // still 0: nothing changed
  // The filter compares at the column's precision: 0.7 finds 0.7f.
  p.importance = 0.7;
  BOOST_REQUIRE(c->update("u1", "a", p, embedder, stored));
  for (double lo : {2.225073858507e-311, 1e-40, 0.7}) {
    memory_list_query f;
    f.user_id = "u1";
    f.min_importance = lo;
    f.limit = 10;
    auto page = c->list(f);
    BOOST_REQUIRE_MESSAGE(page, why(page));
    BOOST_TEST_CONTEXT(lo) {
      // Below float's range the bound is 0, so b (importance 0) counts.
      BOOST_TEST(page->items.size() == (lo < 0.5 ? 2u : 1u));
      BOOST_TEST(page->items.back().memory_id == "a"); // newest first
    }
  }
}

BOOST_FIXTURE_TEST_CASE(a_delete_removes_the_row_and_logs_it_for_every_node,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  commit(*s, {mem("a", 11, t0), mem("b", 12, t0 + 1)});
  auto c = catalog(url);
  uint64_t point = 0;
  auto d = c->remove("u1", "a", point);
  BOOST_REQUIRE_MESSAGE(d, why(d));
  BOOST_TEST(point == 11u);
  BOOST_TEST(d->version == 2);
  BOOST_TEST(is_not_found(c->get("u1", "a").error()));
  BOOST_TEST(*s->scalar("SELECT count(*) FROM memory_links"
                        " WHERE memory_id = 'a'") == 0);
  BOOST_TEST(*s->scalar("SELECT count(*) FROM memory_history"
                        " WHERE memory_id = 'a' AND event = 'DELETE'"
                        " AND new_text IS NULL") == 1);
  auto gov = storage::governance_store::connect(url);
  BOOST_REQUIRE(gov);
  auto log = (*gov)->deletions_after(0, 10);
  BOOST_REQUIRE(log);
  BOOST_REQUIRE_EQUAL(log->size(), 1u);
  BOOST_TEST((*log)[0].kind == "memories");
  BOOST_TEST(((*log)[0].point_ids == std::vector<uint64_t>{11}));
  BOOST_TEST((*log)[0].seq == d->deletion_seq);
  BOOST_TEST(is_not_found(c->remove("u1", "a", point).error()));
}

BOOST_FIXTURE_TEST_CASE(pages_stay_stable_while_memories_are_committed,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  std::vector<memory> first;
  for (int i = 0; i < 40; ++i)
    first.push_back(mem("m" + std::to_string(100 + i), 100 + i,
                        t0 + (i / 2) * 1000)); // pairs share a ts
  commit(*s, first);
  auto c = catalog(url);
  // A writer commits newer and older memories of the same user while the
  // reader pages through.
  std::thread writer([&] {
    auto w = open_migrated(url);
    for (int i = 0; i < 20; ++i) {
      batch b;
      b.memories = {mem("n" + std::to_string(i), 500 + i,
                        i % 2 ? t0 + 100'000 + i : t0 - 100'000 - i)};
      BOOST_CHECK(w->commit_batch(b, "g", embedder.model()));
    }
  });
  std::vector<std::string> seen;
  memory_list_query q;
  q.user_id = "u1";
  q.limit = 7;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = c->list(q);
    BOOST_REQUIRE_MESSAGE(page, why(page));
    for (auto& m : page->items)
      seen.push_back(m.memory_id);
    if (!page->next)
      break;
    q.after = page->next;
  }
  writer.join();
  std::set<std::string> unique(seen.begin(), seen.end());
  BOOST_TEST(unique.size() == seen.size()); // nothing twice
  for (auto& m : first)                     // nothing that existed skipped
    BOOST_TEST(unique.count(m.memory_id) == 1u, m.memory_id);
  // Filters: min_importance, tags.
  memory_list_query f;
  f.user_id = "u1";
  f.min_importance = 0.85;
  f.limit = 1000;
  auto hi = c->list(f);
  BOOST_REQUIRE(hi);
  for (auto& m : hi->items)
    BOOST_TEST(m.importance >= 0.85 - 1e-6);
  BOOST_TEST(!hi->items.empty());
}

BOOST_FIXTURE_TEST_CASE(sessions_are_listed_newest_first_in_pages,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  batch b;
  for (int i = 0; i < 5; ++i) {
    auto a = test::chat_activity("e" + std::to_string(i), "u1",
                                 "s" + std::to_string(i), t0 + i * 1000,
                                 "message");
    a.raw_json = "{}";
    b.activities.push_back(a);
  }
  b.sessions = domain::session_deltas(b.activities);
  auto r = s->commit_batch(b, "g", embedder.model());
  BOOST_REQUIRE_MESSAGE(r, why(r));
  auto c = catalog(url);
  session_list_query q;
  q.user_id = "u1";
  q.limit = 2;
  std::vector<std::string> ids;
  for (;;) {
    auto page = c->sessions(q);
    BOOST_REQUIRE_MESSAGE(page, why(page));
    for (auto& x : page->items)
      ids.push_back(x.session_id);
    if (!page->next)
      break;
    q.after = page->next;
  }
  BOOST_TEST((ids == std::vector<std::string>{"s4", "s3", "s2", "s1", "s0"}));
}

BOOST_FIXTURE_TEST_CASE(projects_and_agents_scope_sessions_memories_and_lists,
                        agentmem::test::pg_database) {
  auto s = open_migrated(url);
  // Session s0 in project "alpha" (agent "coach"); s1 first without a
  // project, then in "beta"; s2 never names one. An upload in "alpha".
  batch b;
  auto ev = [&](const std::string& id, const std::string& session,
                int64_t ts, const std::string& project,
                const std::string& agent) {
    auto a = test::chat_activity(id, "u1", session, ts, "message");
    a.raw_json = "{}";
    a.project_id = project;
    a.agent_name = agent;
    b.activities.push_back(a);
    auto m = mem(id, 100 + b.activities.size(), ts);
    m.session_id = session;
    m.event_id = id;
    m.agent_type = a.agent_type;
    m.agent_name = agent;
    m.project_id = project;
    b.memories.push_back(std::move(m));
  };
  ev("e0", "s0", t0, "alpha", "coach");
  ev("e1", "s0", t0 + 1000, "alpha", "coach");
  ev("e2", "s1", t0 + 2000, "", "doc");
  ev("e3", "s1", t0 + 3000, "beta", "doc");
  ev("e4", "s2", t0 + 4000, "", "doc");
  auto up = test::chat_activity("up", "u1", "s0", t0 + 5000, "file_upload");
  up.activity_class = "file_upload";
  up.raw_json = "{}";
  up.project_id = "alpha";
  up.has_file = true;
  up.file.filename = "plan.txt";
  b.activities.push_back(up);
  b.sessions = domain::session_deltas(b.activities);
  auto r = s->commit_batch(b, "g", embedder.model());
  BOOST_REQUIRE_MESSAGE(r, why(r));
  auto c = catalog(url);

  project_list_query pq;
  pq.user_id = "u1";
  auto page = c->projects(pq);
  BOOST_REQUIRE_MESSAGE(page, why(page));
  BOOST_REQUIRE(page->items.size() == 2u);
  auto& alpha = page->items[0];
  BOOST_TEST(alpha.project_id == "alpha");
  BOOST_TEST(alpha.sessions == 1);
  BOOST_TEST(alpha.memories == 2);
  BOOST_TEST(alpha.uploads == 1);
  BOOST_TEST(alpha.last_activity_ms == t0 + 5000);
  BOOST_TEST(page->items[1].project_id == "beta");
  BOOST_TEST(page->items[1].sessions == 1); // s1 took its latest project
  BOOST_TEST(page->items[1].memories == 1);
  BOOST_TEST(!page->next);
  pq.limit = 1; // keyset pages
  page = c->projects(pq);
  BOOST_REQUIRE(page && page->next);
  pq.after = page->next;
  page = c->projects(pq);
  BOOST_REQUIRE(page && page->items.size() == 1u);
  BOOST_TEST(page->items[0].project_id == "beta");
  BOOST_TEST(!page->next);

  session_list_query sq;
  sq.user_id = "u1";
  sq.project_id = "alpha";
  auto sessions = c->sessions(sq);
  BOOST_REQUIRE(sessions && sessions->items.size() == 1u);
  BOOST_TEST(sessions->items[0].session_id == "s0");
  BOOST_TEST(sessions->items[0].project_id == "alpha");

  memory_list_query lq;
  lq.user_id = "u1";
  lq.agent_name = "doc";
  auto mems = c->list(lq);
  BOOST_REQUIRE(mems && mems->items.size() == 3u);
  for (auto& m : mems->items)
    BOOST_TEST(m.agent_name == "doc");
  lq.project_id = "beta";
  mems = c->list(lq);
  BOOST_REQUIRE(mems && mems->items.size() == 1u);
  BOOST_TEST(mems->items[0].memory_id == "e3");
  BOOST_TEST(mems->items[0].project_id == "beta");
  auto one = c->get("u1", "e0");
  BOOST_REQUIRE(one);
  BOOST_TEST(one->project_id == "alpha");
  BOOST_TEST(one->agent_name == "coach");
  // The index rebuild reads the scope back from Postgres.
  auto stored = s->memories_after(0, 100);
  BOOST_REQUIRE(stored);
  bool seen = false;
  for (auto& sm : *stored)
    if (sm.m.memory_id == "e0") {
      seen = true;
      BOOST_TEST(sm.m.project_id == "alpha");
      BOOST_TEST(sm.m.agent_name == "coach");
    }
  BOOST_TEST(seen);
}

BOOST_AUTO_TEST_SUITE_END()
