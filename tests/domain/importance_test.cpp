#include <boost/test/unit_test.hpp>

#include "domain/extraction.hpp"
#include "domain/importance.hpp"

using namespace agentmem;
using namespace agentmem::domain;
namespace w = agentmem::domain::importance_weights;

namespace {

activity msg(const std::string& content, const std::string& role = "") {
  activity a;
  a.event_id = "ev-1";
  a.ts_ms = 1'700'000'000'000;
  a.user_id = "u1";
  a.session_id = "s1";
  a.event_type = "message";
  a.activity_class = "message";
  a.role = role;
  a.content = content;
  return a;
}

importance_breakdown conv(const std::string& content,
                          const std::string& role = "") {
  return score_importance(msg(content, role), memory_types::conversation);
}

} // namespace

BOOST_AUTO_TEST_SUITE(importance)

BOOST_AUTO_TEST_CASE(a_plain_turn_scores_the_conversation_base_only) {
  auto b = conv("ok sounds good");
  BOOST_CHECK_CLOSE(b.score, w::base_conversation, 1e-9);
  BOOST_CHECK_EQUAL(b.personal + b.numbers + b.entities + b.emotion
                      + b.question + b.role + b.length + b.explicit_cue,
                    0.0);
}

BOOST_AUTO_TEST_CASE(the_events_own_importance_is_used_and_clamped) {
  auto a = msg("ok");
  a.importance = 0.42;
  auto b = score_importance(a, memory_types::conversation);
  BOOST_CHECK(b.from_event);
  BOOST_CHECK_CLOSE(b.score, 0.42, 1e-9);
  a.importance = 7;
  BOOST_CHECK_EQUAL(score_importance(a, memory_types::episodic).score, 1.0);
}

BOOST_AUTO_TEST_CASE(each_memory_type_has_its_base) {
  auto a = msg("");
  BOOST_CHECK_CLOSE(score_importance(a, memory_types::episodic).score,
                    w::base_episodic, 1e-9);
  BOOST_CHECK_CLOSE(score_importance(a, memory_types::document).score,
                    w::base_document, 1e-9);
  BOOST_CHECK_CLOSE(score_importance(a, memory_types::session_summary).score,
                    w::base_session_summary, 1e-9);
}

BOOST_AUTO_TEST_CASE(failures_are_worth_remembering) {
  activity a = msg("");
  a.activity_class = "tool_call";
  a.success = false;
  auto b = score_importance(a, memory_types::episodic);
  BOOST_CHECK_CLOSE(b.failure, w::failure, 1e-9);
  BOOST_CHECK_CLOSE(b.score, w::base_episodic + w::failure, 1e-9);
  a.success = true;
  a.error_message = "timeout";
  BOOST_CHECK_CLOSE(score_importance(a, memory_types::episodic).failure,
                    w::failure, 1e-9);
  // A failure says nothing about a chat turn.
  BOOST_CHECK_EQUAL(score_importance(a, memory_types::conversation).failure,
                    0.0);
}

BOOST_AUTO_TEST_CASE(explicit_requests_to_remember) {
  BOOST_CHECK_CLOSE(conv("please remember the door code").explicit_cue,
                    w::explicit_cue, 1e-9);
  BOOST_CHECK_CLOSE(conv("don't forget the milk").explicit_cue,
                    w::explicit_cue, 1e-9);
  BOOST_CHECK_CLOSE(conv("keep in mind the budget").explicit_cue,
                    w::explicit_cue, 1e-9);
  // whole words only
  BOOST_CHECK_EQUAL(conv("the remembered song").explicit_cue, 0.0);
}

BOOST_AUTO_TEST_CASE(first_person_facts_and_preferences) {
  BOOST_CHECK_CLOSE(conv("i prefer tea").personal, w::personal, 1e-9);
  BOOST_CHECK_CLOSE(conv("my dog is old").personal, w::personal, 1e-9);
  BOOST_CHECK_EQUAL(conv("the dog is old").personal, 0.0);
  BOOST_CHECK_EQUAL(conv("mystery novels").personal, 0.0);
}

BOOST_AUTO_TEST_CASE(numbers_and_dates) {
  BOOST_CHECK_CLOSE(conv("we meet at 5").numbers, w::numbers, 1e-9);
  BOOST_CHECK_CLOSE(conv("see you on friday").numbers, w::numbers, 1e-9);
  BOOST_CHECK_CLOSE(conv("it was yesterday").numbers, w::numbers, 1e-9);
  BOOST_CHECK_EQUAL(conv("see you soon").numbers, 0.0);
}

BOOST_AUTO_TEST_CASE(named_entities_emails_and_urls) {
  BOOST_CHECK_CLOSE(conv("we went to Lisbon").entities, w::entities, 1e-9);
  BOOST_CHECK_CLOSE(conv("write to ann@example.org").entities, w::entities,
                    1e-9);
  BOOST_CHECK_CLOSE(conv("see https://example.org").entities, w::entities,
                    1e-9);
  // Sentence-initial capitals and the pronoun I are not names.
  BOOST_CHECK_EQUAL(conv("Sure. Thanks, I think so").entities, 0.0);
}

BOOST_AUTO_TEST_CASE(emotional_words) {
  BOOST_CHECK_CLOSE(conv("that made me so happy").emotion, w::emotion, 1e-9);
  BOOST_CHECK_CLOSE(conv("he was worried").emotion, w::emotion, 1e-9);
  BOOST_CHECK_EQUAL(conv("it is raining").emotion, 0.0);
}

BOOST_AUTO_TEST_CASE(questions_score_lower_than_statements) {
  auto q = conv("what time is it?");
  BOOST_CHECK_CLOSE(q.question, w::question, 1e-9);
  BOOST_CHECK_LT(q.score, conv("what time is it").score);
}

BOOST_AUTO_TEST_CASE(the_users_own_words_score_higher) {
  BOOST_CHECK_CLOSE(conv("fine", "user").role, w::user_role, 1e-9);
  BOOST_CHECK_EQUAL(conv("fine", "assistant").role, 0.0);
  BOOST_CHECK_GT(conv("fine", "user").score, conv("fine", "assistant").score);
}

BOOST_AUTO_TEST_CASE(length_adds_per_200_bytes_up_to_a_cap) {
  BOOST_CHECK_EQUAL(conv(std::string(199, 'a')).length, 0.0);
  BOOST_CHECK_CLOSE(conv(std::string(400, 'a')).length, 2 * w::per_200_bytes,
                    1e-9);
  BOOST_CHECK_CLOSE(conv(std::string(5000, 'a')).length, w::max_length, 1e-9);
}

BOOST_AUTO_TEST_CASE(signals_add_up_and_the_sum_is_clamped_to_one) {
  auto b = conv("Remember: my sister Ann moved to Oslo in 2019 and I love "
                "it, I was so happy for her. " + std::string(600, 'x'),
                "user");
  double sum = w::base_conversation + w::explicit_cue + w::personal
               + w::numbers + w::entities + w::emotion + w::user_role
               + w::max_length;
  BOOST_CHECK_GT(sum, 1.0);
  BOOST_CHECK_EQUAL(b.score, 1.0);
  auto small = conv("My sister lives in Oslo since 2019");
  BOOST_CHECK_CLOSE(small.score,
                    w::base_conversation + w::personal + w::numbers
                      + w::entities,
                    1e-9);
}

BOOST_AUTO_TEST_CASE(extraction_uses_the_formula) {
  auto a = msg("I love Porto", "user");
  std::vector<memory> out;
  extract_memories(a, {}, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_CLOSE(out[0].importance,
                    score_importance(a, memory_types::conversation).score,
                    1e-9);
  BOOST_CHECK_CLOSE(importance_heuristic(a, memory_types::conversation),
                    out[0].importance, 1e-9);
}

BOOST_AUTO_TEST_SUITE_END()
