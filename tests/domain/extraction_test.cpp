#include <boost/test/unit_test.hpp>

#include "domain/extraction.hpp"
#include "domain/ids.hpp"

using namespace agentmem;
using namespace agentmem::domain;

namespace {

activity make(const std::string& cls, const std::string& id = "ev-1") {
  activity a;
  a.event_id = id;
  a.ts_ms = 1'700'000'000'000;
  a.user_id = "u1";
  a.session_id = "s1";
  a.agent_type = "assistant";
  a.event_type = cls;
  a.activity_class = cls;
  return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(extraction)

BOOST_AUTO_TEST_CASE(a_message_becomes_one_conversation_memory_named_after_its_speaker) {
  auto a = make("message");
  a.role = "user";
  a.agent_name = "Caroline";
  a.content = "  I went to the LGBTQ support group yesterday.  ";
  a.metadata_json = R"({"dia_id":"D1:3"})";
  std::vector<memory> out;
  extract_memories(a, {}, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].memory_type, "conversation");
  BOOST_CHECK_EQUAL(out[0].text,
                    "Caroline: I went to the LGBTQ support group yesterday.");
  BOOST_CHECK_EQUAL(out[0].metadata_json, R"({"dia_id":"D1:3"})");
  BOOST_CHECK_EQUAL(out[0].role, "user");
  BOOST_CHECK_EQUAL(out[0].speaker, "Caroline");
  BOOST_CHECK_EQUAL(out[0].ts_ms, a.ts_ms);
  BOOST_CHECK_EQUAL(out[0].event_id, "ev-1");
}

BOOST_AUTO_TEST_CASE(memory_ids_are_deterministic_and_distinct_per_chunk) {
  auto a = make("file_upload");
  a.file.filename = "notes.txt";
  a.file.text = std::string(1500, 'a') + "\n\n" + std::string(800, 'b');
  std::vector<memory> x, y;
  extract_memories(a, {}, x);
  extract_memories(a, {}, y);
  BOOST_REQUIRE_EQUAL(x.size(), y.size());
  BOOST_REQUIRE_GE(x.size(), 2u);
  for (size_t i = 0; i < x.size(); ++i) {
    BOOST_CHECK_EQUAL(x[i].memory_id, y[i].memory_id);
    BOOST_CHECK_EQUAL(x[i].point_id, y[i].point_id);
    BOOST_CHECK_EQUAL(x[i].chunk_index, static_cast<int>(i));
  }
  BOOST_CHECK_NE(x[0].memory_id, x[1].memory_id);
  auto id = make_memory_identity("ev-1", "document", 0);
  BOOST_CHECK_EQUAL(id.memory_id.size(), 32u);
  BOOST_CHECK_EQUAL(id.memory_id, x[0].memory_id);
  BOOST_CHECK_LT(id.point_id, 1ULL << 63);
}

BOOST_AUTO_TEST_CASE(a_tool_call_becomes_an_episodic_memory_with_tool_io_and_outcome) {
  auto a = make("tool_call");
  a.tool_name = "web_search";
  a.tool_category = "retrieval";
  a.input_json = R"({"q":"flights to Lisbon"})";
  a.output_json = R"({"results":3})";
  a.processing_time_ms = 420;
  a.success = false;
  a.error_message = "rate limited";
  std::vector<memory> out;
  extract_memories(a, {}, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  auto& t = out[0].text;
  BOOST_CHECK_EQUAL(out[0].memory_type, "episodic");
  BOOST_CHECK(t.find("Tool call web_search (retrieval) failed in 420 ms.")
              == 0);
  BOOST_CHECK(t.find(R"(Input: {"q":"flights to Lisbon"})") != std::string::npos);
  BOOST_CHECK(t.find(R"(Output: {"results":3})") != std::string::npos);
  BOOST_CHECK(t.find("Error: rate limited") != std::string::npos);
  BOOST_CHECK_CLOSE(out[0].importance, 0.7, 1e-9);
}

BOOST_AUTO_TEST_CASE(the_events_own_importance_wins_over_the_heuristic) {
  auto a = make("task");
  a.importance = 0.95;
  std::vector<memory> out;
  extract_memories(a, {}, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_CLOSE(out[0].importance, 0.95, 1e-9);
  BOOST_CHECK(out[0].text.find("Task assistant succeeded.") == 0);
}

BOOST_AUTO_TEST_CASE(importance_heuristic_rewards_personal_facts_and_numbers) {
  auto plain = make("message");
  plain.content = "ok sounds good";
  auto personal = make("message");
  personal.content = "My sister lives in Oslo since 2019";
  double p = importance_heuristic(plain, "conversation");
  double q = importance_heuristic(personal, "conversation");
  BOOST_CHECK_CLOSE(p, 0.3, 1e-9);
  BOOST_CHECK_CLOSE(q, 0.3 + 0.15 + 0.1 + 0.05, 1e-9); // + a name (Oslo)
  BOOST_CHECK_LE(q, 1.0);
}

BOOST_AUTO_TEST_CASE(session_start_and_empty_messages_make_no_memory) {
  std::vector<memory> out;
  extract_memories(make("session_start"), {}, out);
  auto m = make("message");
  m.content = "   ";
  extract_memories(m, {}, out);
  BOOST_CHECK(out.empty());
}

BOOST_AUTO_TEST_CASE(custom_events_with_content_are_remembered_as_episodes) {
  auto a = make("deploy");
  a.activity_class = "custom";
  a.content = "rolled out v2 to staging";
  std::vector<memory> out;
  extract_memories(a, {}, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].text, "deploy: rolled out v2 to staging");
}

BOOST_AUTO_TEST_CASE(documents_are_chunked_at_paragraphs_within_the_limit) {
  std::string para1 = "Alpha paragraph one. It has two sentences.";
  std::string para2 = "Beta paragraph two.";
  std::string long_para;
  for (int i = 0; i < 60; ++i)
    long_para += "Sentence number " + std::to_string(i) + " is here. ";
  auto chunks = chunk_document(para1 + "\n\n" + para2 + "\n \n" + long_para,
                               300);
  BOOST_REQUIRE_GE(chunks.size(), 3u);
  // Short paragraphs are packed together, separated by a blank line.
  BOOST_CHECK_EQUAL(chunks[0].rfind(para1 + "\n\n" + para2 + "\n\n", 0), 0u);
  for (auto& c : chunks) {
    BOOST_CHECK_LE(c.size(), 300u);
    BOOST_CHECK(!c.empty());
    BOOST_CHECK(c.front() != ' ' && c.back() != ' ');
  }
  // Sentence boundaries are kept: every long-paragraph chunk ends a sentence.
  for (size_t i = 1; i < chunks.size(); ++i)
    BOOST_CHECK_EQUAL(chunks[i].back(), '.');
}

BOOST_AUTO_TEST_CASE(chunking_never_cuts_a_utf8_sequence) {
  std::string s;
  for (int i = 0; i < 500; ++i)
    s += "\xC3\xA9"; // é, no spaces or sentence ends
  auto chunks = chunk_document(s, 101);
  size_t total = 0;
  for (auto& c : chunks) {
    BOOST_CHECK_LE(c.size(), 101u);
    BOOST_CHECK_EQUAL(c.size() % 2, 0u);
    total += c.size();
  }
  BOOST_CHECK_EQUAL(total, s.size());
}

BOOST_AUTO_TEST_CASE(a_file_without_text_still_leaves_a_document_memory) {
  auto a = make("file_upload");
  a.file.filename = "scan.png";
  a.file.mime_type = "image/png";
  a.file.size_bytes = 2048;
  std::vector<memory> out;
  extract_memories(a, {}, out);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].text, "Uploaded file scan.png (image/png), 2048 bytes.");
}

BOOST_AUTO_TEST_CASE(session_end_summarises_the_buffered_messages) {
  auto end = make("session_end", "end-1");
  std::vector<utterance> msgs = {
    {"Ann", "I am planning a trip to Lisbon in May."},
    {"Bot", "Lisbon in May is lovely. Do you need flights?"},
    {"Ann", "Yes, flights to Lisbon and a hotel near Alfama."},
    {"Bot", "Noted. I found three Lisbon flights."},
  };
  std::vector<memory> out;
  BOOST_REQUIRE(make_session_summary(end, msgs, {}, out));
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(out[0].memory_type, "session_summary");
  BOOST_CHECK(out[0].text.find("Session summary (4 messages): ") == 0);
  BOOST_CHECK(out[0].text.find("Lisbon") != std::string::npos);
  BOOST_CHECK_LE(out[0].text.size(), 800u + 40u);
  std::vector<memory> none;
  BOOST_CHECK(!make_session_summary(end, {}, {}, none));
  BOOST_CHECK(none.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(the_context_of_a_turn_is_the_turn_just_before_it_in_its_session) {
  std::vector<prior_turn> turns{
    {3000, "e3", "Mel", "And you?"},
    {1000, "e1", "Caroline", "I went to a support group yesterday."},
    {2000, "e2", "Mel", "   "}, // blank turns are skipped
    {2000, "e2b", "Mel", "That sounds great!"},
    {4000, "e4", "Caroline", "Later turn"},
  };
  // Buffer order does not matter; ties in time break on event_id.
  BOOST_CHECK_EQUAL(conversation_context(turns, 3000, "e3", 1000),
                    "Mel: That sounds great!");
  BOOST_CHECK_EQUAL(conversation_context(turns, 2000, "e2b", 1000),
                    "Caroline: I went to a support group yesterday.");
  // The first turn of a session has no context; its own entry never counts.
  BOOST_CHECK_EQUAL(conversation_context(turns, 1000, "e1", 1000), "");
  BOOST_CHECK_EQUAL(conversation_context({}, 1000, "e1", 1000), "");
  // Long context is cut to the limit on a UTF-8 boundary.
  const std::string long_text = std::string(50, 'x') + "é";
  std::vector<prior_turn> longer{{1, "a", "", long_text}};
  auto cut = conversation_context(longer, 2, "b", 51);
  BOOST_CHECK_LE(cut.size(), 51u + 3u); // "…" marks the cut
  BOOST_CHECK_EQUAL(cut.substr(0, 50), std::string(50, 'x'));
}
