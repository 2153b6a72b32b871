#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "storage/keyword_index.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using namespace agentmem::storage;

namespace {

using agentmem::test::temp_dir;

memory doc(uint64_t id, const std::string& user, const std::string& text,
           const std::string& type = "conversation", int64_t ts = 0) {
  memory m;
  m.memory_id = "m" + std::to_string(id);
  m.point_id = id;
  m.user_id = user;
  m.session_id = user + "-s";
  m.memory_type = type;
  m.ts_ms = ts;
  m.text = text;
  return m;
}

std::vector<memory> corpus() {
  return {
    doc(1, "ann", "Ann: I adopted a puppy named Biscuit last week."),
    doc(2, "ann", "Ann: The weather was rainy, so we stayed inside."),
    doc(3, "ann", "Ann: Biscuit chewed my running shoes again!"),
    doc(4, "ann", "Ann: I am training for a marathon in Berlin.", "episodic"),
    doc(5, "bob", "Bob: My puppy Biscuit is a beagle."),
  };
}

} // namespace

BOOST_AUTO_TEST_SUITE(keyword_index_suite)

BOOST_AUTO_TEST_CASE(bm25_ranks_rare_matching_terms_first_within_one_user) {
  temp_dir d;
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  BOOST_CHECK_EQUAL((*idx)->upsert(corpus()), 5u);
  BOOST_CHECK_EQUAL((*idx)->upsert(corpus()), 0u); // replays add nothing
  vector_filter f;
  f.user_id = "ann";
  auto hits = (*idx)->search("what did Biscuit chew?", 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 2u); // docs 1 and 3 mention Biscuit
  BOOST_CHECK_EQUAL(hits[0].point_id, 3u); // ... 3 also matches "chew"
  BOOST_CHECK_EQUAL(hits[1].point_id, 1u);
  BOOST_CHECK_GT(hits[0].score, hits[1].score);
  // Stemming: "trained" finds "training"; stop words alone find nothing.
  auto t = (*idx)->search("trained", 10, f);
  BOOST_REQUIRE_EQUAL(t.size(), 1u);
  BOOST_CHECK_EQUAL(t[0].point_id, 4u);
  BOOST_CHECK((*idx)->search("the and of", 10, f).empty());
}

BOOST_AUTO_TEST_CASE(retrieval_context_is_searchable_at_half_the_weight_of_the_text) {
  temp_dir d;
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  // The answer "Biscuit!" is only findable through the question it answers.
  auto answer = doc(1, "ann", "Bob: Biscuit!");
  answer.context = "Ann: What is the name of your beagle?";
  auto direct = doc(2, "ann", "Ann: My beagle loves the beach.");
  BOOST_CHECK_EQUAL((*idx)->upsert({answer, direct}), 2u);
  vector_filter f;
  f.user_id = "ann";
  auto hits = (*idx)->search("beagle name", 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 2u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 1u); // "name" matches only there
  // A word in the text outweighs the same word in the context.
  auto beach = doc(3, "ann", "Ann: beach day");
  auto ctx_beach = doc(4, "ann", "Ann: day");
  ctx_beach.context = "Bob: beach";
  BOOST_CHECK_EQUAL((*idx)->upsert({beach, ctx_beach}), 2u);
  auto b = (*idx)->search("beach", 10, f);
  BOOST_REQUIRE_GE(b.size(), 2u);
  BOOST_CHECK_EQUAL(b[0].point_id, 3u);
  double in_text = 0, in_context = 0;
  for (auto& h : b) {
    if (h.point_id == 3)
      in_text = h.score;
    if (h.point_id == 4)
      in_context = h.score;
  }
  BOOST_CHECK_GT(in_context, 0.0);
  BOOST_CHECK_GT(in_text, in_context);
  // The weighting survives a snapshot.
  BOOST_REQUIRE(!(*idx)->save(7));
  auto again = keyword_index::open(d.path.string());
  BOOST_REQUIRE(again);
  auto b2 = (*again)->search("beach", 10, f);
  BOOST_REQUIRE_EQUAL(b2.size(), b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    BOOST_CHECK_EQUAL(b2[i].point_id, b[i].point_id);
    BOOST_CHECK_CLOSE(b2[i].score, b[i].score, 1e-4);
  }
}

BOOST_AUTO_TEST_CASE(a_memory_updated_in_place_gets_new_postings) {
  temp_dir d;
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  BOOST_REQUIRE_EQUAL((*idx)->upsert(corpus()), 5u);
  vector_filter f;
  f.user_id = "ann";
  BOOST_REQUIRE_EQUAL((*idx)->search("marathon", 10, f).size(), 1u);
  auto updated = doc(4, "ann", "Ann: I am training for a triathlon in Nice.",
                     "episodic", 9);
  BOOST_CHECK_EQUAL((*idx)->upsert({updated}), 0u);
  BOOST_CHECK_EQUAL((*idx)->size(), 5u);
  BOOST_CHECK((*idx)->search("marathon", 10, f).empty());
  auto hits = (*idx)->search("triathlon", 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 4u);
  // Other documents keep their postings ("training" is still found once).
  BOOST_CHECK_EQUAL((*idx)->search("biscuit", 10, f).size(), 2u);
  BOOST_CHECK_EQUAL((*idx)->search("training", 10, f).size(), 1u);
}

BOOST_AUTO_TEST_CASE(keyword_search_never_crosses_users_and_honours_filters) {
  temp_dir d;
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  (*idx)->upsert(corpus());
  vector_filter f;
  f.user_id = "bob";
  auto hits = (*idx)->search("puppy Biscuit", 10, f);
  BOOST_REQUIRE_EQUAL(hits.size(), 1u);
  BOOST_CHECK_EQUAL(hits[0].point_id, 5u);
  f.user_id = "ann";
  f.memory_types = {"episodic"};
  auto ep = (*idx)->search("Biscuit marathon", 10, f);
  BOOST_REQUIRE_EQUAL(ep.size(), 1u);
  BOOST_CHECK_EQUAL(ep[0].point_id, 4u);
  f.user_id = "nobody";
  BOOST_CHECK((*idx)->search("Biscuit", 10, f).empty());
}

BOOST_AUTO_TEST_CASE(a_snapshot_reloads_postings_statistics_and_watermark) {
  temp_dir d;
  vector_filter f;
  f.user_id = "ann";
  std::vector<scored_point> before;
  {
    auto idx = keyword_index::open(d.path.string());
    BOOST_REQUIRE(idx);
    (*idx)->upsert(corpus());
    before = (*idx)->search("Biscuit shoes rainy", 10, f);
    BOOST_REQUIRE(!(*idx)->save(42));
  }
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  BOOST_CHECK_EQUAL((*idx)->size(), 5u);
  BOOST_CHECK_EQUAL((*idx)->watermark(), 42);
  auto after = (*idx)->search("Biscuit shoes rainy", 10, f);
  BOOST_REQUIRE_EQUAL(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    BOOST_CHECK_EQUAL(after[i].point_id, before[i].point_id);
    BOOST_CHECK_CLOSE(after[i].score, before[i].score, 1e-4);
  }
}

BOOST_AUTO_TEST_SUITE_END()
