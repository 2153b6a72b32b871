#include <boost/test/unit_test.hpp>

#include <set>

#include "domain/facts.hpp"
#include "tests/domain/check_strings.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using namespace agentmem::domain;

namespace {

/// "subject|predicate|object|+/-" of every statement, in order.
std::vector<std::string> facts_of(std::string_view text,
                                  bool first_person = true) {
  std::vector<std::string> out;
  for (auto& s : extract_statements(text, first_person))
    out.push_back(s.subject + "|" + s.predicate + "|" + s.object + "|"
                  + (s.polarity ? "+" : "-"));
  return out;
}

using strings = std::vector<std::string>;

activity message(const std::string& content, const std::string& role = "user",
                 const std::string& id = "ev-1") {
  activity a
    = test::chat_activity(id, "u1", "s1", 1'700'000'000'000, "message");
  a.role = role;
  a.content = content;
  return a;
}

} // namespace

#define CHECK_FACTS(text, ...) \
  CHECK_STRINGS(facts_of(text), __VA_ARGS__)

BOOST_AUTO_TEST_SUITE(facts)

BOOST_AUTO_TEST_CASE(my_name_is_sets_the_users_name) {
  CHECK_FACTS("Hi! My name is Ana Lopez.", {"user|name|Ana Lopez|+"});
  CHECK_FACTS("my name's Tom and I like tea",
              {"user|name|Tom|+", "user|likes|tea|+"});
  CHECK_FACTS("I'm called Bea.", {"user|name|Bea|+"});
}

BOOST_AUTO_TEST_CASE(someone_elses_name_is_not_the_users_name) {
  CHECK_FACTS("My brother's name is Tom.", {"user|brother_name|Tom|+"});
  CHECK_FACTS("Her name is Jane.", {});
  CHECK_FACTS("What is my name?", {});
  CHECK_FACTS("my name is not important", {});
  CHECK_FACTS("Please call me later.", {});
}

BOOST_AUTO_TEST_CASE(where_the_user_lives) {
  CHECK_FACTS("I live in Paris.", {"user|lives_in|Paris|+"});
  CHECK_FACTS("I currently live in New York with my wife.",
              {"user|lives_in|New York|+"});
  CHECK_FACTS("I just moved to Berlin last month!",
              {"user|lives_in|Berlin|+"});
  CHECK_FACTS("I've moved to Lisbon.", {"user|lives_in|Lisbon|+"});
  CHECK_FACTS("I'm living in a small town.",
              {"user|lives_in|small town|+"});
  CHECK_FACTS("I've been living in Oslo for years",
              {"user|lives_in|Oslo|+"});
}

BOOST_AUTO_TEST_CASE(lives_in_negatives) {
  CHECK_FACTS("I no longer live in Paris.", {"user|lives_in|Paris|-"});
  CHECK_FACTS("I don't live in Paris anymore.", {"user|lives_in|Paris|-"});
  CHECK_FACTS("If I lived in Paris I would be happy.", {});
  CHECK_FACTS("I wish I lived in Rome.", {});
  CHECK_FACTS("Do you live in Paris?", {});
  CHECK_FACTS("Where do I live?", {});
  CHECK_FACTS("I'm moving to Rome next year.", {});
}

BOOST_AUTO_TEST_CASE(origin_and_work) {
  CHECK_FACTS("I'm from Lima.", {"user|from|Lima|+"});
  CHECK_FACTS("I grew up in Porto, but I live in Lisbon.",
              {"user|from|Porto|+", "user|lives_in|Lisbon|+"});
  CHECK_FACTS("I work at Google in Zurich.", {"user|works_at|Google|+"});
  CHECK_FACTS("I work for Acme Corp.", {"user|works_at|Acme Corp|+"});
  CHECK_FACTS("I got a job at Spotify!", {"user|works_at|Spotify|+"});
  CHECK_FACTS("I stopped working at Google.", {"user|works_at|Google|-"});
  CHECK_FACTS("I work as a nurse.", {"user|occupation|nurse|+"});
  CHECK_FACTS("I work hard.", {});
}

BOOST_AUTO_TEST_CASE(identity_i_am_a) {
  CHECK_FACTS("I'm a vegetarian.", {"user|is_a|vegetarian|+"});
  CHECK_FACTS("I am a software engineer.", {"user|is_a|software engineer|+"});
  CHECK_FACTS("I'm no longer a vegetarian.", {"user|is_a|vegetarian|-"});
  CHECK_FACTS("I'm a bit tired today.", {});
  CHECK_FACTS("I'm tired.", {});
}

BOOST_AUTO_TEST_CASE(allergies_split_lists) {
  CHECK_FACTS("I'm allergic to peanuts and shellfish.",
              {"user|allergic_to|peanuts|+", "user|allergic_to|shellfish|+"});
  CHECK_FACTS("Is she allergic to nuts?", {});
  CHECK_FACTS("My son is allergic to nuts.", {});
}

BOOST_AUTO_TEST_CASE(likes_loves_and_enjoys_are_likes) {
  CHECK_FACTS("I love jazz so much.", {"user|likes|jazz|+"});
  CHECK_FACTS("I really like hiking and swimming.",
              {"user|likes|hiking|+", "user|likes|swimming|+"});
  CHECK_FACTS("I enjoy cooking Thai food.", {"user|likes|cooking Thai food|+"});
  CHECK_FACTS("I love to travel.", {"user|likes|travel|+"});
  CHECK_FACTS("I'm a big fan of Radiohead.", {"user|likes|Radiohead|+"});
  CHECK_FACTS("I'm into climbing.", {"user|likes|climbing|+"});
}

BOOST_AUTO_TEST_CASE(likes_negatives) {
  CHECK_FACTS("I love it!", {});
  CHECK_FACTS("I'd like a coffee.", {});
  CHECK_FACTS("I would love to see that.", {});
  CHECK_FACTS("Do you like pizza?", {});
  CHECK_FACTS("You like pizza.", {});
  CHECK_FACTS("I feel like pizza.", {});
}

BOOST_AUTO_TEST_CASE(dislikes_and_retractions) {
  CHECK_FACTS("I hate red-eye flights.", {"user|dislikes|red-eye flights|+"});
  CHECK_FACTS("I don't like cilantro.", {"user|dislikes|cilantro|+"});
  CHECK_FACTS("I can't stand loud music.", {"user|dislikes|loud music|+"});
  CHECK_FACTS("I don't like cilantro anymore.", {"user|likes|cilantro|-"});
  CHECK_FACTS("I no longer like sushi.", {"user|likes|sushi|-"});
  CHECK_FACTS("I stopped liking coffee.", {"user|likes|coffee|-"});
  CHECK_FACTS("I don't hate it.", {});
}

BOOST_AUTO_TEST_CASE(prefers) {
  CHECK_FACTS("I prefer window seats.", {"user|prefers|window seats|+"});
  CHECK_FACTS("I prefer tea over coffee.", {"user|prefers|tea|+"});
}

BOOST_AUTO_TEST_CASE(my_attribute_is_value) {
  CHECK_FACTS("My favorite color is blue.", {"user|favorite_color|blue|+"});
  CHECK_FACTS("My favourite food is the lasagna my mom makes.",
              {"user|favorite_food|lasagna my mom makes|+"});
  CHECK_FACTS("My birthday is May 3rd.", {"user|birthday|May 3rd|+"});
  CHECK_FACTS("My day is going well.", {});
  CHECK_FACTS("My back is killing me.", {});
  CHECK_FACTS("My dog is so cute.", {});
}

BOOST_AUTO_TEST_CASE(my_attribute_needs_a_personal_attribute) {
  CHECK_FACTS("My phone number is 555-1234.",
              {"user|phone_number|555-1234|+"});
  CHECK_FACTS("My wife's name is Ann.", {"user|wife_name|Ann|+"});
  CHECK_FACTS("My art is important to me.", {});
  CHECK_FACTS("My family is awesome.", {});
  CHECK_FACTS("My friend is nice.", {});
}

BOOST_AUTO_TEST_CASE(clauses_and_wh_objects_are_not_preferences) {
  CHECK_FACTS("I love how you paint.", {});
  CHECK_FACTS("That's what I like to hear!", {});
  CHECK_FACTS("I love it and that'll keep me going.", {});
  CHECK_FACTS("I love seeing them eat fruit - they get so hyped.",
              {"user|likes|seeing them eat fruit|+"});
  CHECK_FACTS("I'm a fan of both Bach and Mozart.", {});
}

BOOST_AUTO_TEST_CASE(uses_stops_at_the_purpose) {
  CHECK_FACTS("I use VS Code for work.", {"user|uses|VS Code|+"});
  CHECK_FACTS("I also use it to speak up.", {});
  CHECK_FACTS("I'm using Notion to stay organized.", {"user|uses|Notion|+"});
}

BOOST_AUTO_TEST_CASE(my_relation_name_means_the_user_knows_them) {
  CHECK_FACTS("It was my daughter Sara's birthday.", {"user|knows|Sara|+"});
  CHECK_FACTS("My friend Tom and I went hiking.", {"user|knows|Tom|+"});
  CHECK_FACTS("I met my best friend Sara Diaz yesterday.",
              {"user|knows|Sara Diaz|+"});
  CHECK_FACTS("My friend is nice.", {});
}

BOOST_AUTO_TEST_CASE(third_person_statements) {
  CHECK_FACTS("Tom works at Acme.", {"Tom|works_at|Acme|+"});
  CHECK_FACTS("My sister Anna lives in Oslo.",
              {"user|knows|Anna|+", "Anna|lives_in|Oslo|+"});
  CHECK_FACTS("Carlos moved to Madrid.", {"Carlos|lives_in|Madrid|+"});
  CHECK_FACTS("Ana is from Chile.", {"Ana|from|Chile|+"});
  CHECK_FACTS("He works at Acme.", {});
  CHECK_FACTS("The team works at night.", {});
}

BOOST_AUTO_TEST_CASE(every_verb_variant_of_the_rule_table) {
  CHECK_FACTS("I reside in Porto.", {"user|lives_in|Porto|+"});
  CHECK_FACTS("I relocated to Madrid.", {"user|lives_in|Madrid|+"});
  CHECK_FACTS("I'm based in Oslo.", {"user|lives_in|Oslo|+"});
  CHECK_FACTS("I come from Quito.", {"user|from|Quito|+"});
  CHECK_FACTS("I'm working at Initech.", {"user|works_at|Initech|+"});
  CHECK_FACTS("I am employed by Globex.", {"user|works_at|Globex|+"});
  CHECK_FACTS("I'm named Zoe.", {"user|name|Zoe|+"});
  CHECK_FACTS("I adore cats.", {"user|likes|cats|+"});
  CHECK_FACTS("I dislike crowds.", {"user|dislikes|crowds|+"});
  CHECK_FACTS("I detest mornings.", {"user|dislikes|mornings|+"});
  CHECK_FACTS("I loathe traffic.", {"user|dislikes|traffic|+"});
  CHECK_FACTS("I'm not a fan of horror.", {"user|dislikes|horror|+"});
  CHECK_FACTS("I speak French and Spanish.",
              {"user|speaks|French|+", "user|speaks|Spanish|+"});
  CHECK_FACTS("I do like olives.", {"user|likes|olives|+"});
  CHECK_FACTS("I never liked olives.", {});
}

BOOST_AUTO_TEST_CASE(assistant_first_person_is_not_about_the_user) {
  auto got = facts_of("I love helping. Tom works at Acme.", false);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0], "Tom|works_at|Acme|+");
}

BOOST_AUTO_TEST_CASE(hedges_lower_confidence) {
  auto plain = extract_statements("I live in Paris.", true);
  auto hedged = extract_statements("I think I live in Paris.", true);
  BOOST_REQUIRE_EQUAL(plain.size(), 1u);
  BOOST_REQUIRE_EQUAL(hedged.size(), 1u);
  BOOST_CHECK_GT(plain[0].confidence, hedged[0].confidence);
  BOOST_CHECK_GT(hedged[0].confidence, 0);
}

BOOST_AUTO_TEST_CASE(predicates_are_single_or_multi_valued) {
  for (auto p : {"name", "lives_in", "works_at", "from", "occupation",
                 "favorite_color", "brother_name"})
    BOOST_CHECK_MESSAGE(predicate_is_single(p), p);
  for (auto p : {"likes", "dislikes", "prefers", "allergic_to", "is_a",
                 "knows", "uses", "speaks"})
    BOOST_CHECK_MESSAGE(!predicate_is_single(p), p);
  BOOST_CHECK_EQUAL(slot_group_of("likes"), "sentiment");
  BOOST_CHECK_EQUAL(slot_group_of("dislikes"), "sentiment");
  BOOST_CHECK_EQUAL(slot_group_of("lives_in"), "lives_in");
}

BOOST_AUTO_TEST_CASE(fact_records_carry_source_validity_and_stable_ids) {
  auto a = message("I live in Paris. I love jazz and I hate Jazz Fusion.");
  std::vector<fact_record> x, y;
  extract_facts(a, x);
  extract_facts(a, y);
  BOOST_REQUIRE_EQUAL(x.size(), 3u);
  BOOST_REQUIRE_EQUAL(y.size(), 3u);
  std::set<std::string> ids;
  for (size_t i = 0; i < x.size(); ++i) {
    BOOST_CHECK_EQUAL(x[i].fact_id, y[i].fact_id);
    BOOST_CHECK_EQUAL(x[i].fact_id.size(), 32u);
    BOOST_CHECK_EQUAL(x[i].event_id, "ev-1");
    BOOST_CHECK_EQUAL(x[i].valid_at_ms, a.ts_ms);
    BOOST_CHECK_EQUAL(x[i].ordinal, static_cast<int>(i));
    ids.insert(x[i].fact_id);
  }
  BOOST_CHECK_EQUAL(ids.size(), 3u);
  BOOST_CHECK_EQUAL(x[0].predicate, "lives_in");
  BOOST_CHECK_EQUAL(x[0].slot_group, "lives_in");
  BOOST_CHECK_EQUAL(x[0].slot_object, "");
  BOOST_CHECK_EQUAL(x[0].kind, "fact");
  BOOST_CHECK_EQUAL(x[0].source_text, "I live in Paris.");
  BOOST_CHECK_EQUAL(x[1].slot_group, "sentiment");
  BOOST_CHECK_EQUAL(x[1].slot_object, "jazz");
  BOOST_CHECK_EQUAL(x[1].kind, "preference");
  BOOST_CHECK_EQUAL(x[2].predicate, "dislikes");
  BOOST_CHECK_EQUAL(x[2].object, "Jazz Fusion");
  BOOST_CHECK_EQUAL(x[2].object_key, "jazz fusion");
  // Another event saying the same thing is another fact.
  std::vector<fact_record> z;
  extract_facts(message("I live in Paris.", "user", "ev-2"), z);
  BOOST_REQUIRE_EQUAL(z.size(), 1u);
  BOOST_CHECK_NE(z[0].fact_id, x[0].fact_id);
}

BOOST_AUTO_TEST_CASE(only_user_messages_and_feedback_speak_in_first_person) {
  std::vector<fact_record> out;
  extract_facts(message("I live in Paris.", "assistant"), out);
  BOOST_CHECK(out.empty());
  auto fb = message("I prefer short answers.");
  fb.activity_class = fb.event_type = "feedback";
  extract_facts(fb, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].predicate, "prefers");
  auto tool = message("I live in Paris.");
  tool.activity_class = tool.event_type = "tool_call";
  out.clear();
  extract_facts(tool, out);
  BOOST_CHECK(out.empty());
}

BOOST_AUTO_TEST_SUITE_END()
