#include <boost/test/unit_test.hpp>

#include "domain/dedup.hpp"
#include "domain/embedding.hpp"

using namespace agentmem;
using namespace agentmem::domain;

namespace {

const std::string report =
  "The quarterly report shows revenue grew by 12 percent in the north "
  "region, driven by new customers.";
const std::string report_plus =
  "The quarterly report shows revenue grew by 12 percent in the north "
  "region, driven by new customers and renewals.";

std::vector<float> embed(const std::string& text) {
  auto e = make_embedder("hashing", 384);
  BOOST_REQUIRE(e);
  std::vector<std::vector<float>> v;
  BOOST_REQUIRE(!(*e)->embed({text}, v));
  return v.at(0);
}

memory mem(const std::string& id, const std::string& text,
           const std::string& type = memory_types::document,
           const std::string& user = "u1") {
  memory m;
  m.memory_id = id;
  m.memory_type = type;
  m.user_id = user;
  m.text = text;
  m.vector = embed(text);
  return m;
}

dedup_candidate candidate(const std::string& id, const std::string& text,
                          const std::vector<float>& query) {
  return {id, text, cosine(query, embed(text))};
}

} // namespace

BOOST_AUTO_TEST_SUITE(dedup)

BOOST_AUTO_TEST_CASE(only_episodic_and_document_memories_are_deduplicated) {
  BOOST_CHECK(dedup_eligible(memory_types::episodic));
  BOOST_CHECK(dedup_eligible(memory_types::document));
  BOOST_CHECK(!dedup_eligible(memory_types::conversation));
  BOOST_CHECK(!dedup_eligible(memory_types::session_summary));
}

BOOST_AUTO_TEST_CASE(cosine_and_token_jaccard) {
  BOOST_CHECK_CLOSE(cosine({1, 0}, {1, 0}), 1.0, 1e-9);
  BOOST_CHECK_SMALL(cosine({1, 0}, {0, 1}), 1e-12);
  BOOST_CHECK_CLOSE(cosine({1, 1}, {2, 2}), 1.0, 1e-9);
  BOOST_CHECK_EQUAL(cosine({1}, {1, 2}), 0.0);
  BOOST_CHECK_EQUAL(cosine({}, {}), 0.0);
  // stemmed, stop words out: {cat, sat} vs {cat, sit}
  BOOST_CHECK_CLOSE(token_jaccard("the cats sat", "a cat sits"), 1.0 / 3, 1e-9);
  BOOST_CHECK_EQUAL(token_jaccard("Running fast", "run, FAST!"), 1.0);
  BOOST_CHECK_EQUAL(token_jaccard("", "the"), 1.0);
}

BOOST_AUTO_TEST_CASE(a_near_identical_stored_memory_becomes_the_update_target) {
  std::vector<memory> ms{mem("new", report_plus)};
  std::vector<std::optional<dedup_candidate>> stored{
    candidate("old", report, ms[0].vector)};
  BOOST_REQUIRE_GE(stored[0]->cosine, dedup_config{}.min_cosine);
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, stored, {}), 1u);
  BOOST_CHECK_EQUAL(ms[0].update_of, "old");
}

BOOST_AUTO_TEST_CASE(the_lexical_check_keeps_different_facts_apart) {
  // Close embeddings, but the place differs: a different fact.
  std::string a = "Tool call web_search (retrieval) succeeded. Input: "
                  "{\"q\":\"flights to Lisbon\"}";
  std::string b = "Tool call web_search (retrieval) succeeded. Input: "
                  "{\"q\":\"flights to Porto\"}";
  std::vector<memory> ms{mem("new", b, memory_types::episodic)};
  std::vector<std::optional<dedup_candidate>> stored{
    candidate("old", a, ms[0].vector)};
  dedup_config loose;
  loose.min_cosine = 0.5; // only the lexical check is left to decide
  loose.min_jaccard = 0.81;
  BOOST_CHECK_LT(token_jaccard(a, b), loose.min_jaccard);
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, stored, loose), 0u);
  BOOST_CHECK(ms[0].update_of.empty());
  // ... and the cosine threshold alone does too with the defaults.
  BOOST_CHECK_LT(stored[0]->cosine, dedup_config{}.min_cosine);
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, stored, {}), 0u);
}

BOOST_AUTO_TEST_CASE(conversation_turns_are_never_marked) {
  std::vector<memory> ms{mem("t1", "Ann: ok", memory_types::conversation),
                         mem("t2", "Ann: ok", memory_types::conversation)};
  std::vector<std::optional<dedup_candidate>> stored{
    dedup_candidate{"t0", "Ann: ok", 1.0}, std::nullopt};
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, stored, {}), 0u);
  BOOST_CHECK(ms[0].update_of.empty());
  BOOST_CHECK(ms[1].update_of.empty());
}

BOOST_AUTO_TEST_CASE(a_replayed_memory_that_finds_itself_is_not_marked) {
  std::vector<memory> ms{mem("same", report)};
  std::vector<std::optional<dedup_candidate>> stored{
    dedup_candidate{"same", report, 1.0}};
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, stored, {}), 0u);
  BOOST_CHECK(ms[0].update_of.empty());
}

BOOST_AUTO_TEST_CASE(duplicates_within_a_batch_point_at_the_first_target) {
  std::vector<memory> ms{mem("a", report), mem("b", report_plus),
                         mem("c", report),
                         mem("d", report, memory_types::document, "u2"),
                         mem("e", report, memory_types::episodic)};
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, {}, {}), 2u);
  BOOST_CHECK(ms[0].update_of.empty());
  BOOST_CHECK_EQUAL(ms[1].update_of, "a");
  BOOST_CHECK_EQUAL(ms[2].update_of, "a"); // identical to a: cosine 1
  BOOST_CHECK(ms[3].update_of.empty());    // another user
  BOOST_CHECK(ms[4].update_of.empty());    // another type
  // With a stored near-duplicate of a, the whole chain goes there.
  for (auto& m : ms)
    m.update_of.clear();
  std::vector<std::optional<dedup_candidate>> stored(ms.size());
  stored[0] = candidate("old", report_plus, ms[0].vector);
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, stored, {}), 3u);
  BOOST_CHECK_EQUAL(ms[0].update_of, "old");
  BOOST_CHECK_EQUAL(ms[1].update_of, "old");
  BOOST_CHECK_EQUAL(ms[2].update_of, "old");
}

BOOST_AUTO_TEST_CASE(disabled_dedup_marks_nothing) {
  std::vector<memory> ms{mem("a", report), mem("b", report)};
  dedup_config off;
  off.enabled = false;
  BOOST_CHECK_EQUAL(mark_near_duplicates(ms, {}, off), 0u);
}

BOOST_AUTO_TEST_SUITE_END()
