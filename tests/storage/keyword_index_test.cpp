#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

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

BOOST_AUTO_TEST_CASE(repeated_terms_in_text_and_context_add_up_to_one_bm25_frequency) {
  // "beach" twice in the text (2 units each) and once in the context (1):
  // tf 5 / 2 = 2.5 over a length of 3 * 2 + 1 = 7 units.
  auto a = doc(1, "cy", "beach beach sunset");
  a.context = "beach";
  auto idx = keyword_index::open(""); // in memory
  BOOST_REQUIRE(idx);
  BOOST_CHECK_EQUAL((*idx)->upsert({a, doc(2, "cy", "mountain hike")}), 2u);
  vector_filter f;
  f.user_id = "cy";
  bm25_params p;
  // "mountain hike": 2 tokens of 2 units, length 4.
  const double k1 = p.k1, bb = p.b, avglen = (7.0 + 4.0) / 2;
  const double idf = std::log(1.0 + (2 - 1 + 0.5) / (1 + 0.5));
  auto bm25 = [&](double tf, double len) {
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - bb + bb * len / avglen));
  };
  auto beach = (*idx)->search("beach", 10, f);
  BOOST_REQUIRE_EQUAL(beach.size(), 1u);
  BOOST_CHECK_CLOSE(beach[0].score, bm25(2.5, 7), 1e-3);
  auto sunset = (*idx)->search("sunset", 10, f);
  BOOST_REQUIRE_EQUAL(sunset.size(), 1u);
  BOOST_CHECK_CLOSE(sunset[0].score, bm25(1.0, 7), 1e-3);
  // Indexing the same memory again (a replay) changes nothing.
  BOOST_CHECK_EQUAL((*idx)->upsert({a}), 0u);
  BOOST_CHECK_CLOSE((*idx)->search("beach", 10, f)[0].score, bm25(2.5, 7),
                    1e-3);
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

BOOST_AUTO_TEST_CASE(feedback_terms_find_documents_without_the_query_words) {
  temp_dir d;
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  // "beagle" is never in the query; the top hits for "puppy" talk about
  // Biscuit the beagle, so feedback brings in the beagle-only turns.
  (*idx)->upsert({doc(1, "cy", "Cy: my puppy Biscuit is a beagle"),
                  doc(2, "cy", "Cy: the puppy Biscuit loves the beagle park"),
                  doc(3, "cy", "Cy: beagle shows are fun, Biscuit won"),
                  doc(4, "cy", "Cy: tax forms are due on Monday"),
                  doc(5, "cy", "Cy: the dentist called about Tuesday"),
                  doc(6, "cy", "Cy: I repaired the old bicycle"),
                  doc(7, "cy", "Cy: gardening tomatoes in the sun")});
  vector_filter f;
  f.user_id = "cy";
  auto plain = (*idx)->score_all("puppy", f);
  BOOST_CHECK_EQUAL(plain.size(), 2u); // docs 1 and 2
  auto fb = (*idx)->score_all("puppy", f, prf_params{2, 5, 0.5});
  std::set<uint64_t> got;
  for (auto& p : fb)
    got.insert(p.point_id);
  BOOST_CHECK(got.count(3)); // only through "beagle"/"biscuit"
  BOOST_CHECK(!got.count(4));
  // The original term keeps the larger weight: docs 1 and 2 stay ahead.
  std::sort(fb.begin(), fb.end(),
            [](auto& a, auto& b) { return a.score > b.score; });
  BOOST_REQUIRE_GE(fb.size(), 3u);
  BOOST_CHECK(fb[0].point_id == 1u || fb[0].point_id == 2u);
  BOOST_CHECK(fb[1].point_id == 1u || fb[1].point_id == 2u);
  // score_all without feedback scores exactly what search() ranks.
  auto top = (*idx)->search("puppy", 10, f);
  BOOST_REQUIRE_EQUAL(top.size(), plain.size());
}

BOOST_AUTO_TEST_CASE(speaker_points_are_the_turns_of_the_one_person_named) {
  temp_dir d;
  std::vector<scored_point> unused;
  {
    auto idx = keyword_index::open(d.path.string());
    BOOST_REQUIRE(idx);
    auto turn = [](uint64_t id, const std::string& who,
                   const std::string& text) {
      auto m = doc(id, "u", who + ": " + text);
      m.speaker = who;
      return m;
    };
    (*idx)->upsert({turn(1, "Caroline", "I went to a support group"),
                    turn(2, "Melanie", "Caroline, that sounds great"),
                    turn(3, "Caroline", "I am painting again"),
                    turn(4, "Melanie Smith", "My kids love dinosaurs"),
                    doc(5, "u", "Tool call calendar", "episodic")});
    BOOST_REQUIRE(!(*idx)->save(7));
  }
  // Reloaded from the snapshot: the speaker field survives.
  auto idx = keyword_index::open(d.path.string());
  BOOST_REQUIRE(idx);
  vector_filter f;
  f.user_id = "u";
  auto sp = (*idx)->speaker_points("What did Caroline's group do?", f);
  std::sort(sp.begin(), sp.end());
  BOOST_CHECK((sp == std::vector<uint64_t>{1, 3}));
  // A name token matches every speaker whose name holds it.
  auto mel = (*idx)->speaker_points("what does melanie like", f);
  std::sort(mel.begin(), mel.end());
  BOOST_CHECK((mel == std::vector<uint64_t>{2, 4}));
  // Two people named, or nobody: no speaker to favour.
  BOOST_CHECK((*idx)->speaker_points("Caroline and Melanie", f).empty());
  BOOST_CHECK((*idx)->speaker_points("what about the calendar", f).empty());
  // The speaker field adds no BM25 term: "Smith" matches doc 4 through its
  // text ("Melanie Smith: ...") once, not twice.
  auto smith = (*idx)->search("smith", 10, f);
  BOOST_REQUIRE_EQUAL(smith.size(), 1u);
  BOOST_CHECK_EQUAL(smith[0].point_id, 4u);
  f.user_id = "someone-else";
  BOOST_CHECK((*idx)->speaker_points("Caroline", f).empty());
}

BOOST_AUTO_TEST_SUITE_END()
