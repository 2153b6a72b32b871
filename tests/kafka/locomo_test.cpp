#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "kafka/consumer.hpp"
#include "kafka/locomo.hpp"
#include "kafka/mock_cluster.hpp"
#include "test_util.hpp"

using namespace agentmem;
using namespace agentmem::kafka;
using json = nlohmann::json;

namespace {

// The data set lives in shared/, beside the repository, and is never copied
// into it.
const std::string locomo_path =
  std::string{AGENTMEM_SOURCE_DIR} + "/../shared/data/locomo/locomo-dev.json";

bool have_locomo() {
  if (std::ifstream{locomo_path})
    return true;
  BOOST_TEST_MESSAGE("skipped: " << locomo_path << " not found");
  return false;
}

const locomo_turn* find_turn(const locomo_sample& s, const std::string& id) {
  for (auto& t : s.turns)
    if (t.dia_id == id)
      return &t;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_SUITE(locomo)

BOOST_AUTO_TEST_CASE(session_dates_parse_as_utc) {
  auto a = parse_locomo_date("1:56 pm on 8 May, 2023");
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(*a, 1683554160000); // 2023-05-08T13:56:00Z
  auto b = parse_locomo_date("12:48 am on 1 February, 2023");
  BOOST_REQUIRE(b);
  BOOST_CHECK_EQUAL(*b, 1675212480000); // 2023-02-01T00:48:00Z
  auto c = parse_locomo_date("12:05 pm on 29 February, 2024");
  BOOST_REQUIRE(c);
  BOOST_CHECK_EQUAL(*c, 1709208300000); // noon on a leap day
  BOOST_CHECK(!parse_locomo_date("yesterday"));
  BOOST_CHECK(!parse_locomo_date("13:00 pm on 1 May, 2023"));
}

BOOST_AUTO_TEST_CASE(the_loader_finds_five_samples_with_turns_and_questions) {
  if (!have_locomo())
    return;
  auto samples = load_locomo(locomo_path);
  BOOST_REQUIRE_MESSAGE(samples, test::why(samples));
  BOOST_REQUIRE_EQUAL(samples->size(), 5u);
  std::vector<std::string> ids;
  size_t turns = 0, questions = 0;
  for (auto& s : *samples) {
    ids.push_back(s.sample_id);
    BOOST_CHECK_GT(s.turns.size(), 300u);
    BOOST_CHECK_GT(s.qa.size(), 100u);
    turns += s.turns.size();
    questions += s.qa.size();
  }
  BOOST_CHECK((ids == std::vector<std::string>{"conv-26", "conv-30", "conv-41",
                                               "conv-42", "conv-43"}));
  BOOST_CHECK_EQUAL(turns, 2760u);
  BOOST_CHECK_EQUAL(questions, 999u);
  auto& s = samples->front();
  BOOST_CHECK_EQUAL(s.turns.size(), 419u);
  BOOST_CHECK_EQUAL(s.qa.size(), 199u);
}

BOOST_AUTO_TEST_CASE(turn_events_have_deterministic_ids_sessions_and_times) {
  if (!have_locomo())
    return;
  auto samples = load_locomo(locomo_path);
  BOOST_REQUIRE(samples);
  auto& s = samples->front(); // conv-26: Caroline (a) and Melanie (b)
  auto* t1 = find_turn(s, "D1:1");
  auto* t2 = find_turn(s, "D1:2");
  auto* t5 = find_turn(s, "D1:5");
  BOOST_REQUIRE(t1 && t2 && t5);
  auto e1 = json::parse(t1->event_json);
  BOOST_CHECK_EQUAL(e1["event_id"], "conv-26:D1:1");
  BOOST_CHECK_EQUAL(e1["user_id"], "conv-26");
  BOOST_CHECK_EQUAL(t1->key, "conv-26");
  BOOST_CHECK_EQUAL(e1["session_id"], "conv-26:session_1");
  BOOST_CHECK_EQUAL(e1["agent_type"], "locomo");
  BOOST_CHECK_EQUAL(e1["agent_name"], "Caroline");
  BOOST_CHECK_EQUAL(e1["event_type"], "message");
  BOOST_CHECK_EQUAL(e1["role"], "user");
  BOOST_CHECK_EQUAL(e1["ts"], "2023-05-08T13:56:00.000Z");
  BOOST_CHECK_EQUAL(e1["content"], t1->text);
  BOOST_CHECK_EQUAL(e1["metadata"]["dia_id"], "D1:1");
  BOOST_CHECK_EQUAL(e1["metadata"]["sample_id"], "conv-26");
  BOOST_CHECK_EQUAL(e1["metadata"]["session"], 1);
  auto e2 = json::parse(t2->event_json);
  BOOST_CHECK_EQUAL(e2["role"], "assistant");
  BOOST_CHECK_EQUAL(e2["agent_name"], "Melanie");
  BOOST_CHECK_EQUAL(e2["ts"], "2023-05-08T13:56:30.000Z");
  auto e5 = json::parse(t5->event_json);
  auto content = e5["content"].get<std::string>();
  BOOST_CHECK_EQUAL(content.rfind(t5->text, 0), 0u);
  BOOST_CHECK(content.find(" [image: a photo of a dog walking past a wall")
              != std::string::npos);
  BOOST_CHECK_EQUAL(content.back(), ']');

  static const std::regex session_id{R"(conv-\d+:session_(\d+))"};
  for (auto& smp : *samples) {
    std::set<std::string> event_ids;
    int64_t prev_ts = 0;
    int prev_session = 0;
    for (auto& t : smp.turns) {
      auto e = json::parse(t.event_json);
      event_ids.insert(e["event_id"].get<std::string>());
      BOOST_CHECK_EQUAL(e["event_id"], smp.sample_id + ":" + t.dia_id);
      std::smatch m;
      auto sid = e["session_id"].get<std::string>();
      BOOST_REQUIRE(std::regex_match(sid, m, session_id));
      BOOST_CHECK_EQUAL(std::stoi(m[1].str()), t.session);
      BOOST_CHECK_EQUAL(t.dia_id.rfind("D" + std::to_string(t.session) + ":", 0),
                        0u);
      // Sessions in numeric order (10 after 9), time strictly increasing.
      BOOST_CHECK_GE(t.session, prev_session);
      BOOST_CHECK_GT(t.ts_ms, prev_ts);
      prev_ts = t.ts_ms;
      prev_session = t.session;
      BOOST_CHECK(e["ts"].get<std::string>().back() == 'Z');
    }
    BOOST_CHECK_EQUAL(event_ids.size(), smp.turns.size());
  }
}

BOOST_AUTO_TEST_CASE(questions_keep_answers_of_any_type_and_clean_evidence) {
  if (!have_locomo())
    return;
  auto samples = load_locomo(locomo_path);
  BOOST_REQUIRE(samples);
  static const std::regex dia{R"(D\d+:\d+)"};
  size_t evidence = 0, resolved = 0, adversarial = 0;
  bool numeric_answer = false;
  for (auto& s : *samples) {
    std::set<std::string> dia_ids;
    for (auto& t : s.turns)
      dia_ids.insert(t.dia_id);
    for (auto& q : s.qa) {
      BOOST_CHECK(!q.question.empty());
      BOOST_CHECK(q.category >= 1 && q.category <= 5);
      if (q.category == 5) {
        ++adversarial;
        BOOST_CHECK(!q.adversarial_answer.empty());
      } else {
        BOOST_CHECK(!q.answer.empty());
      }
      if (q.question == "When did Melanie paint a sunrise?") {
        numeric_answer = true;
        BOOST_CHECK_EQUAL(q.answer, "2022");
      }
      for (auto& e : q.evidence) {
        BOOST_CHECK(std::regex_match(e, dia));
        ++evidence;
        resolved += dia_ids.count(e);
      }
    }
  }
  BOOST_CHECK(numeric_answer);
  BOOST_CHECK_EQUAL(adversarial, 237u);
  // A handful of evidence ids in the published data point nowhere.
  BOOST_CHECK_GT(static_cast<double>(resolved), 0.99 * evidence);
}

BOOST_AUTO_TEST_CASE(a_missing_or_broken_file_is_an_error) {
  BOOST_CHECK(!load_locomo("/nonexistent/locomo.json"));
  auto tmp = std::string{AGENTMEM_BINARY_DIR} + "/broken-locomo.json";
  std::ofstream{tmp} << "[{\"sample_id\": \"x\"";
  BOOST_CHECK(!load_locomo(tmp));
  std::ofstream{tmp} << "[{\"sample_id\": \"x\", \"conversation\": "
                        "{\"session_1\": [{\"dia_id\": \"D1:1\"}]}}]";
  auto r = load_locomo(tmp); // session without a date
  BOOST_REQUIRE(!r);
  BOOST_CHECK(test::why(r).find("session_1_date_time")
              != std::string::npos);
  std::remove(tmp.c_str());
}

BOOST_AUTO_TEST_CASE(replay_publishes_every_turn_keyed_by_sample) {
  if (!have_locomo())
    return;
  auto mc = mock_cluster::start(1, {{"agent.activity.v1", 8}});
  BOOST_REQUIRE(mc);
  auto n = replay_locomo((*mc)->bootstrap(), "agent.activity.v1", locomo_path,
                         {});
  BOOST_REQUIRE_MESSAGE(n, test::why(n));
  BOOST_CHECK_EQUAL(*n, 2760u);
  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("locomo"), {"agent.activity.v1"}));
  BOOST_REQUIRE(c);
  auto got = test::collect(**c, 2760);
  BOOST_REQUIRE_EQUAL(got.size(), 2760u);
  std::set<std::string> ids;
  for (auto& r : got) {
    auto e = json::parse(r.value);
    BOOST_CHECK_EQUAL(r.key, e["user_id"].get<std::string>());
    ids.insert(e["event_id"].get<std::string>());
  }
  BOOST_CHECK_EQUAL(ids.size(), 2760u);
}

BOOST_AUTO_TEST_SUITE_END()
