#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>
#include <tuple>

#include "domain/entities.hpp"
#include "tests/domain/check_strings.hpp"
#include "tests/storage/fixtures.hpp"

using namespace agentmem;
using namespace agentmem::domain;

namespace {

/// "type:name" of every entity of `text`, in order.
std::vector<std::string> entities_of(std::string_view text) {
  std::vector<std::string> out;
  for (auto& e : extract_entities(text))
    out.push_back(e.type + ":" + e.name);
  return out;
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

activity event(const std::string& cls, const std::string& content,
               const std::string& id = "ev-1") {
  activity a = test::chat_activity(id, "u1", "s1", 1'700'000'000'000, cls);
  a.content = content;
  return a;
}

const entity_relation* find_edge(const knowledge_delta& k,
                                 const std::string& src,
                                 const std::string& dst,
                                 const std::string& relation) {
  for (auto& r : k.relations)
    if (r.src_id == src && r.dst_id == dst && r.relation == relation)
      return &r;
  return nullptr;
}

} // namespace

#define CHECK_ENTITIES(text, ...) \
  CHECK_STRINGS(entities_of(text), __VA_ARGS__)

BOOST_AUTO_TEST_SUITE(entities)

BOOST_AUTO_TEST_CASE(emails_and_urls) {
  CHECK_ENTITIES("Write to ana.lopez@example.com, or see https://example.com/a?b=1.",
                 {"email:ana.lopez@example.com",
                  "url:https://example.com/a?b=1"});
  CHECK_ENTITIES("docs at www.example.org/guide and (http://x.io/y)",
                 {"url:www.example.org/guide", "url:http://x.io/y"});
  CHECK_ENTITIES("meet me @ noon, email@nowhere is not one", {});
}

BOOST_AUTO_TEST_CASE(dates_need_a_number_and_complete_ones_are_iso) {
  CHECK_ENTITIES("The launch is on May 3, 2023.", {"date:2023-05-03"});
  CHECK_ENTITIES("Due 2024-02-29 or 3rd of March 2024.",
                 {"date:2024-02-29", "date:2024-03-03"});
  CHECK_ENTITIES("See you on June 5th.", {"date:June 5th"});
  CHECK_ENTITIES("Back in March 2021.", {"date:March 2021"});
  CHECK_ENTITIES("May I ask something? I like March.", {});
  CHECK_ENTITIES("Not a date: 2023-02-30.", {});
}

BOOST_AUTO_TEST_CASE(places_after_place_prepositions) {
  CHECK_ENTITIES("We spent a week in Lisbon.", {"place:Lisbon"});
  CHECK_ENTITIES("I moved to New York.", {"place:New York"});
  CHECK_ENTITIES("She is from Rio de Janeiro.", {"place:Rio de Janeiro"});
  CHECK_ENTITIES("I talked to Maria.", {"person:Maria"});
}

BOOST_AUTO_TEST_CASE(organisations_by_context_or_suffix) {
  CHECK_ENTITIES("I work at Google.", {"organization:Google"});
  CHECK_ENTITIES("She got a job at Spotify.", {"organization:Spotify"});
  CHECK_ENTITIES("He studies at the University of Oslo.",
                 {"organization:University of Oslo"});
  CHECK_ENTITIES("Acme Corp called.", {"organization:Acme Corp"});
}

BOOST_AUTO_TEST_CASE(people_by_context) {
  CHECK_ENTITIES("I went hiking with Tom.", {"person:Tom"});
  CHECK_ENTITIES("Yesterday Sara said hi.", {"person:Sara"});
  CHECK_ENTITIES("Did you see Jane Smith?", {"person:Jane Smith"});
  CHECK_ENTITIES("That was Maria's idea.", {"person:Maria"});
}

BOOST_AUTO_TEST_CASE(sentence_starts_pronouns_and_weekdays_are_not_entities) {
  CHECK_ENTITIES("Thanks! Yesterday was great. I think Monday works.", {});
  CHECK_ENTITIES("Hiking is fun. The weather is nice.", {});
  CHECK_ENTITIES("I use Python daily.", {"other:Python"});
  // "X's" starting a sentence is usually "X is/has", not a possessive.
  CHECK_ENTITIES("Pottery's a great way to relax.", {});
  CHECK_ENTITIES("Woohoo Melanie, we did it!", {"other:Melanie"});
}

BOOST_AUTO_TEST_CASE(entity_ids_are_stable_and_case_insensitive) {
  BOOST_CHECK_EQUAL(make_entity_id("place", "New York"),
                    make_entity_id("place", "new  york"));
  BOOST_CHECK_NE(make_entity_id("place", "Paris"),
                 make_entity_id("person", "Paris"));
  BOOST_CHECK_EQUAL(make_entity_id("place", "Paris").size(), 32u);
}

BOOST_AUTO_TEST_CASE(a_message_yields_mentions_co_occurrence_and_speaker_edges) {
  auto a = event("message", "I went to Lisbon with Tom on May 3, 2023.");
  a.agent_name = "Caroline";
  knowledge_delta k;
  extract_knowledge(a, k);
  auto lisbon = make_entity_id("place", "Lisbon");
  auto tom = make_entity_id("person", "Tom");
  auto date = make_entity_id("date", "2023-05-03");
  auto caroline = make_entity_id("person", "Caroline");
  std::vector<std::string> ids;
  for (auto& m : k.mentions) {
    ids.push_back(m.entity_id);
    BOOST_CHECK_EQUAL(m.event_id, "ev-1");
    BOOST_CHECK_EQUAL(m.user_id, "u1");
    BOOST_CHECK_EQUAL(m.ts_ms, a.ts_ms);
  }
  BOOST_CHECK_EQUAL(ids.size(), 4u);
  for (auto& id : {lisbon, tom, date, caroline})
    BOOST_CHECK(has(ids, id));
  // Co-occurrence is undirected: stored once with src < dst.
  auto co = [&](const std::string& x, const std::string& y) {
    return find_edge(k, std::min(x, y), std::max(x, y), "co_occurs");
  };
  BOOST_CHECK(co(lisbon, tom));
  BOOST_CHECK(co(lisbon, date));
  BOOST_CHECK(co(tom, date));
  BOOST_CHECK(find_edge(k, caroline, tom, "mentions"));
  BOOST_CHECK(find_edge(k, caroline, lisbon, "mentions"));
  BOOST_CHECK(!co(caroline, tom)); // the speaker only "mentions"
}

BOOST_AUTO_TEST_CASE(each_activity_of_a_batch_has_its_edges_once) {
  // A batch's activities share one delta: a repeated mention gives one
  // edge per activity, and every activity keeps its own edges.
  knowledge_delta k;
  auto a = event("message", "I work at Initech. Tom met me. I work at Initech.");
  auto b = event("message", "I work at Initech. Tom met me. I work at Initech.",
                 "ev-2");
  extract_knowledge(a, k);
  auto per_activity = k.relations.size();
  BOOST_CHECK_GT(per_activity, 0u);
  extract_knowledge(b, k);
  BOOST_CHECK_EQUAL(k.relations.size(), 2 * per_activity);
  std::set<std::tuple<std::string, std::string, std::string, std::string>>
    distinct;
  for (auto& r : k.relations)
    distinct.insert({r.event_id, r.src_id, r.dst_id, r.relation});
  BOOST_CHECK_EQUAL(distinct.size(), k.relations.size());
}

BOOST_AUTO_TEST_CASE(facts_give_typed_edges_from_the_user) {
  auto a = event("message", "I work at Initech. My friend Bob lives in Austin.");
  knowledge_delta k;
  extract_knowledge(a, k);
  auto user = make_entity_id("user", "u1");
  auto initech = make_entity_id("organization", "Initech");
  auto bob = make_entity_id("person", "Bob");
  auto austin = make_entity_id("place", "Austin");
  BOOST_CHECK(find_edge(k, user, initech, "works_at"));
  BOOST_CHECK(find_edge(k, user, bob, "knows"));
  BOOST_CHECK(find_edge(k, bob, austin, "lives_in"));
  bool user_mentioned = false;
  for (auto& m : k.mentions)
    if (m.entity_id == user) {
      user_mentioned = true;
      BOOST_CHECK_EQUAL(m.type, "user");
      BOOST_CHECK_EQUAL(m.name, "u1");
    }
  BOOST_CHECK(user_mentioned);
  // A retraction gives no edge.
  knowledge_delta r;
  extract_knowledge(event("message", "I no longer work at Initech."), r);
  BOOST_CHECK(!find_edge(r, user, initech, "works_at"));
}

BOOST_AUTO_TEST_CASE(tool_calls_link_the_caller_to_the_tool) {
  auto a = event("tool_call", "");
  a.agent_name = "planner";
  a.tool_name = "web_search";
  a.role.clear();
  knowledge_delta k;
  extract_knowledge(a, k);
  auto planner = make_entity_id("agent", "planner");
  auto tool = make_entity_id("tool", "web_search");
  BOOST_REQUIRE_EQUAL(k.mentions.size(), 2u);
  BOOST_CHECK(find_edge(k, planner, tool, "uses"));
  BOOST_CHECK(k.facts.empty());
}

BOOST_AUTO_TEST_CASE(one_mention_per_entity_and_event) {
  knowledge_delta k;
  extract_knowledge(event("message", "Tom said hi. I met Tom again with Tom."),
                    k);
  BOOST_CHECK_EQUAL(k.mentions.size(), 1u);
  BOOST_CHECK(k.relations.empty());
  knowledge_delta none;
  extract_knowledge(event("session_end", "Paris"), none);
  BOOST_CHECK(none.empty());
}

BOOST_AUTO_TEST_SUITE_END()
