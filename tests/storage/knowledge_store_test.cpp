// Facts with validity time and graph memory in Postgres (pg_fixture.hpp):
// contradictions close older facts, out-of-order arrival and replays
// converge, as-of queries, entity/relationship upserts.

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "domain/entities.hpp"
#include "domain/rollup.hpp"
#include "messages/batch.hpp"
#include "messages/errc.hpp"
#include "storage/knowledge_sql.hpp"
#include "storage/postgres_store.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::postgres_store;
using agentmem::test::open_migrated;
using agentmem::test::why;

namespace {

constexpr int64_t hour_ms = 3'600'000;
constexpr int64_t day_ms = 24 * hour_ms;
// 2024-05-01T10:00:00Z
constexpr int64_t t0 = 1'714'557'600'000;

activity said(const std::string& event_id, int64_t ts_ms,
              const std::string& content, const std::string& user = "u1") {
  activity a;
  a.event_id = event_id;
  a.ts_ms = ts_ms;
  a.user_id = user;
  a.session_id = "s1";
  a.agent_type = "chat";
  a.event_type = a.activity_class = "message";
  a.role = "user";
  a.content = content;
  a.raw_json = "{}";
  return a;
}

// What the pipeline hands the writer: activities, rollups and knowledge.
batch make_batch(std::vector<activity> acts) {
  batch b;
  b.activities = std::move(acts);
  b.usage = domain::usage_deltas(b.activities);
  b.sessions = domain::session_deltas(b.activities);
  for (auto& a : b.activities)
    domain::extract_knowledge(a, b.knowledge);
  return b;
}

void commit(postgres_store& store, const batch& b) {
  auto r = store.commit_batch(b, "g", "m");
  BOOST_REQUIRE_MESSAGE(r, why(r));
}

int64_t count(postgres_store& store, const std::string& sql) {
  auto v = store.scalar(sql);
  BOOST_REQUIRE_MESSAGE(v, sql + ": " + why(v));
  return *v;
}

std::vector<fact_row> facts(postgres_store& store,
                                 std::optional<int64_t> as_of,
                                 const std::string& predicate = "",
                                 const std::string& subject = "",
                                 const std::string& user = "u1") {
  fact_query q;
  q.user_id = user;
  q.as_of_ms = as_of;
  q.predicate = predicate;
  q.subject = subject;
  auto r = store.facts(q);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  return *r;
}

/// "predicate=object" of facts, sorted.
std::vector<std::string> summary(const std::vector<fact_row>& fs) {
  std::vector<std::string> out;
  for (auto& f : fs)
    out.push_back(f.predicate + "=" + f.object);
  std::sort(out.begin(), out.end());
  return out;
}

using strings = std::vector<std::string>;

#define CHECK_SUMMARY(got, ...)                                               \
  do {                                                                        \
    auto g_ = summary(got);                                                   \
    strings w_ = __VA_ARGS__;                                                 \
    BOOST_CHECK_EQUAL_COLLECTIONS(g_.begin(), g_.end(), w_.begin(),           \
                                  w_.end());                                  \
  } while (false)

/// Fingerprint of the validity state of the facts matching `where`:
/// md5 over every (fact_id, valid_at, invalid_at, invalidated_by), in
/// fact_id order, folded to 60 bits.
int64_t validity_state(postgres_store& store,
                       const std::string& where = "true") {
  return count(store,
               "SELECT ('x' || substr(md5(coalesce(string_agg(fact_id || ':'"
               " || valid_at::text || ':' || coalesce(invalid_at::text, '-')"
               " || ':' || coalesce(invalidated_by, '-'), ',' ORDER BY"
               " fact_id), '')), 1, 15))::bit(60)::bigint"
               " FROM knowledge_facts WHERE " + where);
}

} // namespace

BOOST_AUTO_TEST_SUITE(knowledge_store)

BOOST_FIXTURE_TEST_CASE(a_contradicting_fact_closes_the_older_one,
                        test::pg_database) {
  auto store = open_migrated(url);
  commit(*store, make_batch({said("e1", t0, "I live in Paris.")}));
  commit(*store, make_batch({said("e2", t0 + day_ms, "I moved to Berlin.")}));
  // Current: only Berlin, valid since e2.
  auto now = facts(*store, std::nullopt, "lives_in");
  BOOST_REQUIRE_EQUAL(now.size(), 1u);
  BOOST_CHECK_EQUAL(now[0].object, "Berlin");
  BOOST_CHECK_EQUAL(now[0].subject, "user");
  BOOST_CHECK_EQUAL(now[0].valid_at_ms, t0 + day_ms);
  BOOST_CHECK(!now[0].invalid_at_ms);
  BOOST_CHECK_EQUAL(now[0].event_id, "e2");
  BOOST_CHECK_EQUAL(now[0].source_text, "I moved to Berlin.");
  // As of a point in time.
  auto then = facts(*store, t0 + hour_ms, "lives_in");
  BOOST_REQUIRE_EQUAL(then.size(), 1u);
  BOOST_CHECK_EQUAL(then[0].object, "Paris");
  BOOST_REQUIRE(then[0].invalid_at_ms);
  BOOST_CHECK_EQUAL(*then[0].invalid_at_ms, t0 + day_ms);
  BOOST_CHECK_EQUAL(then[0].invalidated_by, now[0].fact_id);
  BOOST_CHECK(facts(*store, t0 - 1, "lives_in").empty());
  CHECK_SUMMARY(facts(*store, t0 + day_ms, "lives_in"), {"lives_in=Berlin"});
  // Both are kept: the history is there, not piled up as current.
  BOOST_CHECK_EQUAL(count(*store, "SELECT count(*) FROM knowledge_facts"), 2);
  // The source activity is linked.
  BOOST_CHECK_EQUAL(count(*store, "SELECT count(*) FROM knowledge_facts f"
                                  " JOIN user_activities a USING (activity_id)"
                                  " WHERE a.event_id = f.event_id"),
                    2);
}

BOOST_FIXTURE_TEST_CASE(out_of_order_arrival_gives_the_same_intervals,
                        test::pg_database) {
  auto store = open_migrated(url);
  // Event time: Paris (t0) -> Rome (t0 + 1d) -> Berlin (t0 + 2d), arriving
  // as Berlin, Paris, Rome.
  commit(*store, make_batch({said("e3", t0 + 2 * day_ms, "I live in Berlin.")}));
  commit(*store, make_batch({said("e1", t0, "I live in Paris.")}));
  CHECK_SUMMARY(facts(*store, t0 + day_ms, "lives_in"), {"lives_in=Paris"});
  commit(*store, make_batch({said("e2", t0 + day_ms, "I moved to Rome.")}));
  CHECK_SUMMARY(facts(*store, std::nullopt, "lives_in"), {"lives_in=Berlin"});
  CHECK_SUMMARY(facts(*store, t0 + 1, "lives_in"), {"lives_in=Paris"});
  CHECK_SUMMARY(facts(*store, t0 + day_ms + 1, "lives_in"), {"lives_in=Rome"});
  CHECK_SUMMARY(facts(*store, t0 + 2 * day_ms, "lives_in"),
                {"lives_in=Berlin"});
  // The same statements in event order, in another database, give the
  // same rows.
  auto out_of_order = validity_state(*store);
  test::pg_database other;
  auto store2 = open_migrated(other.url);
  commit(*store2, make_batch({said("e1", t0, "I live in Paris."),
                              said("e2", t0 + day_ms, "I moved to Rome."),
                              said("e3", t0 + 2 * day_ms,
                                   "I live in Berlin.")}));
  BOOST_CHECK_EQUAL(validity_state(*store2), out_of_order);
  BOOST_CHECK_EQUAL(count(*store2, "SELECT count(*) FROM knowledge_facts"
                                   " WHERE invalid_at IS NOT NULL"),
                    2);
}

BOOST_FIXTURE_TEST_CASE(replays_change_nothing, test::pg_database) {
  auto store = open_migrated(url);
  auto b1 = make_batch({said("e1", t0, "I live in Paris. I went hiking with Tom in Lisbon.")});
  auto b2 = make_batch({said("e2", t0 + day_ms,
                             "I moved to Berlin. Tom and I met Ana in Lisbon.")});
  commit(*store, b1);
  commit(*store, b2);
  auto facts_before = count(*store, "SELECT count(*) FROM knowledge_facts");
  auto state_before = validity_state(*store);
  auto mentions = count(*store, "SELECT sum(mention_count) FROM entities");
  auto weights = count(*store,
                       "SELECT sum(weight) FROM entity_relationships");
  auto tom = domain::make_entity_id("person", "Tom");
  BOOST_CHECK_EQUAL(count(*store, "SELECT mention_count FROM entities WHERE"
                                  " entity_id = '" + tom + "'"),
                    2);
  // Redeliver both batches, and one mixing old and new events.
  commit(*store, b1);
  commit(*store, b2);
  commit(*store, make_batch({said("e1", t0, "I live in Paris. I went hiking with Tom in Lisbon."),
                             said("e4", t0 + 3 * day_ms, "I love jazz.")}));
  BOOST_CHECK_EQUAL(count(*store, "SELECT count(*) FROM knowledge_facts"),
                    facts_before + 1);
  BOOST_CHECK_EQUAL(validity_state(*store, "event_id <> 'e4'"), state_before);
  // Only e4's new mentions count (jazz is not an entity; the user is not
  // mentioned without a typed edge).
  BOOST_CHECK_EQUAL(count(*store, "SELECT sum(mention_count) FROM entities"),
                    mentions);
  BOOST_CHECK_EQUAL(count(*store,
                          "SELECT sum(weight) FROM entity_relationships"),
                    weights);
  BOOST_CHECK_EQUAL(count(*store, "SELECT mention_count FROM entities WHERE"
                                  " entity_id = '" + tom + "'"),
                    2);
  CHECK_SUMMARY(facts(*store, std::nullopt),
                {"likes=jazz", "lives_in=Berlin"});
}

BOOST_FIXTURE_TEST_CASE(retractions_and_opposite_sentiments_close_preferences,
                        test::pg_database) {
  auto store = open_migrated(url);
  commit(*store, make_batch({said("e1", t0, "I love sushi and pizza. I like tea.")}));
  commit(*store,
         make_batch({said("e2", t0 + day_ms, "I don't like sushi anymore."),
                     said("e3", t0 + day_ms, "I hate pizza.")}));
  CHECK_SUMMARY(facts(*store, std::nullopt),
                {"dislikes=pizza", "likes=tea"});
  CHECK_SUMMARY(facts(*store, t0 + hour_ms),
                {"likes=pizza", "likes=sushi", "likes=tea"});
  // The retraction is stored (negative) but never listed as a fact.
  BOOST_CHECK_EQUAL(count(*store, "SELECT count(*) FROM knowledge_facts"
                                  " WHERE NOT polarity"),
                    1);
  // Liking it again reopens the slot.
  commit(*store, make_batch({said("e4", t0 + 2 * day_ms, "I love sushi.")}));
  CHECK_SUMMARY(facts(*store, std::nullopt, "likes"),
                {"likes=sushi", "likes=tea"});
  // A retraction of one place does not close another single-valued value.
  commit(*store, make_batch({said("e5", t0, "I live in Oslo."),
                             said("e6", t0 + day_ms,
                                  "I no longer live in Paris.")}));
  CHECK_SUMMARY(facts(*store, std::nullopt, "lives_in"), {"lives_in=Oslo"});
}

BOOST_FIXTURE_TEST_CASE(facts_filter_by_subject_and_predicate,
                        test::pg_database) {
  auto store = open_migrated(url);
  commit(*store, make_batch({said("e1", t0,
                                  "My name is Ana. Tom works at Acme."),
                             said("e2", t0, "I work at Initech.", "u2")}));
  CHECK_SUMMARY(facts(*store, std::nullopt, "", "user"), {"name=Ana"});
  CHECK_SUMMARY(facts(*store, std::nullopt, "", "Tom"), {"works_at=Acme"});
  CHECK_SUMMARY(facts(*store, std::nullopt, "works_at"), {"works_at=Acme"});
  CHECK_SUMMARY(facts(*store, std::nullopt, "", "", "u2"),
                {"works_at=Initech"});
  CHECK_SUMMARY(facts(*store, std::nullopt, "", "", "nobody"), {});
}

BOOST_FIXTURE_TEST_CASE(entities_and_neighbors, test::pg_database) {
  auto store = open_migrated(url);
  auto a = said("e1", t0, "I went hiking with Tom in Lisbon.");
  a.agent_name = "Caroline";
  auto b = said("e2", t0 + day_ms, "Tom works at Acme Corp. Email tom@acme.io");
  b.agent_name = "Caroline";
  commit(*store, make_batch({a}));
  commit(*store, make_batch({b}));
  auto tom = domain::make_entity_id("person", "Tom");
  auto lisbon = domain::make_entity_id("place", "Lisbon");
  auto acme = domain::make_entity_id("organization", "Acme Corp");
  auto caroline = domain::make_entity_id("person", "Caroline");
  auto all = store->entities("u1", "", 100);
  BOOST_REQUIRE_MESSAGE(all, why(all));
  BOOST_REQUIRE_GE(all->size(), 5u);
  // Most mentioned first: Tom and Caroline (2 events each).
  BOOST_CHECK_EQUAL((*all)[0].mention_count, 2);
  BOOST_CHECK_EQUAL((*all)[1].mention_count, 2);
  for (auto& e : *all)
    if (e.entity_id == tom) {
      BOOST_CHECK_EQUAL(e.name, "Tom");
      BOOST_CHECK_EQUAL(e.type, "person");
      BOOST_CHECK_EQUAL(e.first_seen_ms, t0);
      BOOST_CHECK_EQUAL(e.last_seen_ms, t0 + day_ms);
    }
  auto places = store->entities("u1", "place", 100);
  BOOST_REQUIRE(places);
  BOOST_REQUIRE_EQUAL(places->size(), 1u);
  BOOST_CHECK_EQUAL((*places)[0].name, "Lisbon");
  auto emails = store->entities("u1", "email", 100);
  BOOST_REQUIRE(emails);
  BOOST_REQUIRE_EQUAL(emails->size(), 1u);
  BOOST_CHECK_EQUAL((*emails)[0].name, "tom@acme.io");
  auto limited = store->entities("u1", "", 2);
  BOOST_REQUIRE(limited);
  BOOST_CHECK_EQUAL(limited->size(), 2u);
  // Neighbours of Tom: Caroline mentions him twice (weight 2), he works at
  // Acme Corp (typed edge), co-occurs with Lisbon.
  auto nb = store->neighbors("u1", tom, 50);
  BOOST_REQUIRE_MESSAGE(nb, why(nb));
  BOOST_CHECK_EQUAL(nb->entity.name, "Tom");
  auto find = [&](const std::string& id, const std::string& rel)
    -> const neighbor_row* {
    for (auto& n : nb->neighbors)
      if (n.entity.entity_id == id && n.relation == rel)
        return &n;
    return nullptr;
  };
  auto* by_caroline = find(caroline, "mentions");
  BOOST_REQUIRE(by_caroline);
  BOOST_CHECK_EQUAL(by_caroline->weight, 2);
  BOOST_CHECK_EQUAL(by_caroline->direction, "in");
  BOOST_CHECK_EQUAL(by_caroline->first_seen_ms, t0);
  BOOST_CHECK_EQUAL(by_caroline->last_seen_ms, t0 + day_ms);
  BOOST_CHECK_EQUAL(nb->neighbors.front().weight, 2); // heaviest first
  auto* works = find(acme, "works_at");
  BOOST_REQUIRE(works);
  BOOST_CHECK_EQUAL(works->direction, "out");
  BOOST_CHECK_EQUAL(works->entity.type, "organization");
  auto* co = find(lisbon, "co_occurs");
  BOOST_REQUIRE(co);
  BOOST_CHECK_EQUAL(co->direction, "both");
  auto one = store->neighbors("u1", tom, 1);
  BOOST_REQUIRE(one);
  BOOST_CHECK_EQUAL(one->neighbors.size(), 1u);
  // Unknown entity, or another user's: not found.
  auto missing = store->neighbors("u1", std::string(32, '0'), 10);
  BOOST_REQUIRE(!missing);
  BOOST_CHECK_EQUAL(missing.error().code(),
                    static_cast<uint8_t>(errc::not_found));
  BOOST_CHECK(!store->neighbors("u2", tom, 10));
}

// A batch of many events stores the same entities and edges as one batch
// per event: the writer folds mentions and edges per key before the
// upsert, and the fold must count each event once, keep the least and
// greatest times, and name the first and last event by (time, event id).
BOOST_FIXTURE_TEST_CASE(one_batch_of_many_events_stores_what_one_per_event_does,
                        test::pg_database) {
  auto store = open_migrated(url);
  // Out of time order in the batch; Tom twice in e1; Lisbon in e1-e4.
  struct ev {
    std::string id;
    int64_t ts;
    std::string text;
  };
  const std::vector<ev> events = {
    {"e3", t0 + 2 * hour_ms, "Tom works at Acme Corp. We met in Lisbon."},
    {"e1", t0, "I went hiking with Tom in Lisbon. Tom was happy."},
    {"e2", t0 + hour_ms, "Tom and Ana met in Lisbon."},
    {"e4", t0 + hour_ms + 60'000, "Tom and Ana met in Lisbon again."}};
  std::vector<activity> together;
  for (auto& e : events) {
    together.push_back(said(e.id, e.ts, e.text, "u1"));
    commit(*store, make_batch({said("f" + e.id.substr(1), e.ts, e.text,
                                    "u2")}));
  }
  commit(*store, make_batch(together));
  // u1 again, with one event new and the rest replays: only e5 counts.
  together.push_back(said("e5", t0 + 3 * hour_ms, "Tom left Lisbon.", "u1"));
  commit(*store, make_batch(together));
  commit(*store, make_batch({said("f5", t0 + 3 * hour_ms, "Tom left Lisbon.",
                                  "u2")}));
  // Event ids are unique across users: u2's are u1's with f for e.
  auto rows = [&](const std::string& sql) {
    auto v = store->scalar(
      "SELECT count(*) FROM ((" + sql + " WHERE user_id = 'u1' EXCEPT "
      + sql + " WHERE user_id = 'u2') UNION ALL (" + sql
      + " WHERE user_id = 'u2' EXCEPT " + sql + " WHERE user_id = 'u1')) d");
    BOOST_REQUIRE_MESSAGE(v, why(v));
    return *v;
  };
  BOOST_CHECK_EQUAL(rows("SELECT entity_id, name, type, first_seen,"
                         " last_seen, mention_count FROM entities"),
                    0);
  BOOST_CHECK_EQUAL(rows("SELECT src_id, dst_id, relation, weight,"
                         " first_seen, last_seen, translate(first_event_id,"
                         " 'f', 'e'), translate(last_event_id, 'f', 'e')"
                         " FROM entity_relationships"),
                    0);
  auto tom = domain::make_entity_id("person", "Tom");
  auto lisbon = domain::make_entity_id("place", "Lisbon");
  auto ana = domain::make_entity_id("person", "Ana");
  auto entity = [&](const std::string& id, const std::string& what) {
    return count(*store, "SELECT " + what + " FROM entities WHERE user_id ="
                         " 'u1' AND entity_id = '" + id + "'");
  };
  BOOST_CHECK_EQUAL(entity(tom, "mention_count"), 2); // e1 (twice), e3
  BOOST_CHECK_EQUAL(entity(lisbon, "mention_count"), 4);
  BOOST_CHECK_EQUAL(entity(lisbon, "(extract(epoch FROM first_seen) * 1000)"
                                   "::bigint"),
                    t0);
  BOOST_CHECK_EQUAL(entity(ana, "(extract(epoch FROM last_seen) * 1000)"
                                "::bigint"),
                    t0 + hour_ms + 60'000);
  auto edge = [&](const std::string& x, const std::string& y) {
    return "SELECT count(*) FROM entity_relationships WHERE user_id = 'u1'"
           " AND relation = 'co_occurs' AND src_id = '" + std::min(x, y)
           + "' AND dst_id = '" + std::max(x, y) + "'";
  };
  BOOST_CHECK_EQUAL(count(*store, edge(tom, lisbon) + " AND weight = 2 AND"
                                  " first_event_id = 'e1' AND last_event_id"
                                  " = 'e3'"),
                    1);
  BOOST_CHECK_EQUAL(count(*store, edge(ana, lisbon) + " AND weight = 2 AND"
                                  " first_event_id = 'e2' AND last_event_id"
                                  " = 'e4'"),
                    1);
}

BOOST_AUTO_TEST_CASE(folding_counts_each_event_once_and_names_the_first) {
  auto mention = [](std::string entity, std::string name, std::string event,
                    int64_t ts) {
    entity_mention m;
    m.user_id = "u";
    m.entity_id = std::move(entity);
    m.name = std::move(name);
    m.type = "person";
    m.event_id = std::move(event);
    m.ts_ms = ts;
    return m;
  };
  const std::vector<entity_mention> ms = {
    mention("b", "Bo", "e2", 20), mention("a", "ann", "e9", 10),
    mention("a", "Ann", "e3", 10), mention("a", "ANN", "e3", 10),
    mention("a", "Anne", "e1", 30), mention("a", "x", "old", 1)};
  auto fresh = [](const std::string& e) { return e != "old"; };
  auto got = storage::knowledge_sql::fold_mentions(ms, fresh);
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_CHECK_EQUAL(got[0].entity_id, "a"); // key order
  BOOST_CHECK_EQUAL(got[0].mentions, 3);    // e1, e3 (twice), e9
  BOOST_CHECK_EQUAL(got[0].first_ms, 10);   // not the replayed event's 1
  BOOST_CHECK_EQUAL(got[0].last_ms, 30);
  BOOST_CHECK_EQUAL(got[0].name, "Ann"); // (10, "e3") < (10, "e9")
  BOOST_CHECK_EQUAL(got[1].entity_id, "b");
  BOOST_CHECK_EQUAL(got[1].mentions, 1);
  auto edge = [](std::string rel, std::string event, int64_t ts) {
    entity_relation r;
    r.user_id = "u";
    r.src_id = "a";
    r.dst_id = "b";
    r.relation = std::move(rel);
    r.event_id = std::move(event);
    r.ts_ms = ts;
    return r;
  };
  const std::vector<entity_relation> rs = {
    edge("knows", "e5", 50), edge("knows", "e2", 20), edge("knows", "e7", 50),
    edge("knows", "e2", 20), edge("knows", "old", 99), edge("uses", "e1", 1)};
  auto edges = storage::knowledge_sql::fold_edges(rs, fresh);
  BOOST_REQUIRE_EQUAL(edges.size(), 2u);
  BOOST_CHECK_EQUAL(edges[0].relation, "knows");
  BOOST_CHECK_EQUAL(edges[0].events, 3); // e2 once, e5, e7
  BOOST_CHECK_EQUAL(edges[0].first_ms, 20);
  BOOST_CHECK_EQUAL(edges[0].last_ms, 50);
  BOOST_CHECK_EQUAL(edges[0].first_event_id, "e2");
  BOOST_CHECK_EQUAL(edges[0].last_event_id, "e7"); // (50, "e7") > (50, "e5")
  BOOST_CHECK_EQUAL(edges[1].relation, "uses");
  BOOST_CHECK_EQUAL(edges[1].events, 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(knowledge_store_concurrency)

// Two writers (two nodes around a rebalance) commit contradicting facts of
// one user at the same time: the intervals must still form one chain in
// event time, with exactly one open fact.
BOOST_FIXTURE_TEST_CASE(concurrent_writers_of_one_user_keep_one_chain,
                        test::pg_database) {
  auto setup = open_migrated(url);
  constexpr int per_writer = 150;
  std::vector<std::string> errors(2);
  auto run = [&](int w) {
    auto s = postgres_store::connect(url);
    if (!s) {
      errors[w] = why(s);
      return;
    }
    for (int i = 0; i < per_writer; ++i) {
      int day = 2 * i + w;
      auto ev = said("w" + std::to_string(w) + "-" + std::to_string(i),
                     t0 + day * day_ms,
                     "I live in City" + std::to_string(day) + ".");
      // Own sessions (and days): nothing else serialises the two writers.
      ev.session_id = "s-w" + std::to_string(w) + "-" + std::to_string(i);
      auto b = make_batch({ev});
      if (auto r = (*s)->commit_batch(b, "g", "m"); !r) {
        errors[w] = why(r);
        return;
      }
    }
  };
  std::thread a{run, 0}, b{run, 1};
  a.join();
  b.join();
  BOOST_REQUIRE_MESSAGE(errors[0].empty() && errors[1].empty(),
                        errors[0] << " / " << errors[1]);
  BOOST_CHECK_EQUAL(count(*setup, "SELECT count(*) FROM knowledge_facts"),
                    2 * per_writer);
  BOOST_CHECK_EQUAL(count(*setup, "SELECT count(*) FROM knowledge_facts"
                                  " WHERE invalid_at IS NULL"),
                    1);
  // Every closed fact ends where the next one (in event time) starts.
  BOOST_CHECK_EQUAL(
    count(*setup,
          "SELECT count(*) FROM (SELECT invalid_at, lead(valid_at) OVER"
          " (ORDER BY valid_at, event_id, ordinal) AS next_at"
          " FROM knowledge_facts) x"
          " WHERE invalid_at IS DISTINCT FROM next_at"),
    0);
  auto now = facts(*setup, std::nullopt, "lives_in");
  BOOST_REQUIRE_EQUAL(now.size(), 1u);
  BOOST_CHECK_EQUAL(now[0].object,
                    "City" + std::to_string(2 * per_writer - 1));
}

BOOST_AUTO_TEST_SUITE_END()
