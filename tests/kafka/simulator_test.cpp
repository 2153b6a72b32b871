#include <boost/test/unit_test.hpp>

#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/simulator.hpp"
#include "test_util.hpp"

using namespace agentmem;
using namespace agentmem::kafka;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// Event contract v1, checked independently of the generator: returns the
// list of violations (empty when the event is valid).
std::vector<std::string> contract_violations(const std::string& key,
                                             const std::string& text) {
  std::vector<std::string> out;
  if (text.size() > 1024 * 1024)
    out.push_back("value larger than 1 MiB");
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return {std::string{"not JSON: "} + e.what()};
  }
  if (!j.is_object())
    return {"not an object"};
  auto str = [&](const char* f, size_t lo, size_t hi, bool required) {
    if (!j.contains(f)) {
      if (required)
        out.push_back(std::string{"missing "} + f);
      return;
    }
    if (!j[f].is_string()) {
      out.push_back(std::string{f} + " not a string");
      return;
    }
    auto n = j[f].get<std::string>().size();
    if (n < lo || n > hi)
      out.push_back(std::string{f} + " length " + std::to_string(n));
  };
  str("event_id", 1, 128, true);
  str("user_id", 1, 128, true);
  str("session_id", 1, 128, true);
  str("agent_type", 1, 64, true);
  str("ts", 1, 64, true);
  str("event_type", 1, 64, true);
  str("agent_name", 0, 1 << 20, false);
  str("content", 0, 256 * 1024, false);
  str("model", 0, 1 << 20, false);
  str("error_message", 0, 1 << 20, false);
  static const std::regex rfc3339{
    R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))"};
  if (j.contains("ts") && j["ts"].is_string()
      && !std::regex_match(j["ts"].get<std::string>(), rfc3339))
    out.push_back("ts not RFC 3339 with offset");
  static const std::regex lower_word{R"([a-z][a-z_]*)"};
  if (j.contains("event_type") && j["event_type"].is_string()
      && !std::regex_match(j["event_type"].get<std::string>(), lower_word))
    out.push_back("event_type not a lowercase word");
  if (j.contains("user_id") && j["user_id"] != key)
    out.push_back("key is not user_id");
  static const std::set<std::string> roles{"user", "assistant", "system",
                                           "tool"};
  if (j.contains("role")
      && (!j["role"].is_string() || !roles.count(j["role"].get<std::string>())))
    out.push_back("bad role");
  if (j.value("event_type", "") == "message" && !j.contains("role"))
    out.push_back("message without role");
  for (const char* f : {"input", "output", "metadata"})
    if (j.contains(f) && !j[f].is_object())
      out.push_back(std::string{f} + " not an object");
  if (j.contains("tool")) {
    auto& t = j["tool"];
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()
        || !t.contains("category") || !t["category"].is_string())
      out.push_back("bad tool");
  }
  if (j.contains("file")) {
    auto& f = j["file"];
    if (!f.is_object() || !f["filename"].is_string()
        || !f["mime_type"].is_string() || !f["size_bytes"].is_number_integer()
        || f["size_bytes"].get<int64_t>() < 0 || !f["text"].is_string())
      out.push_back("bad file");
  }
  for (const char* f : {"tokens_used", "processing_time_ms"})
    if (j.contains(f)
        && (!j[f].is_number_integer() || j[f].get<int64_t>() < 0))
      out.push_back(std::string{f} + " not an int >= 0");
  if (j.contains("success") && !j["success"].is_boolean())
    out.push_back("success not a bool");
  if (j.contains("importance")
      && (!j["importance"].is_number() || j["importance"].get<double>() < 0
          || j["importance"].get<double>() > 1))
    out.push_back("importance not in 0..1");
  if (j.contains("tags")) {
    if (!j["tags"].is_array())
      out.push_back("tags not an array");
    else
      for (auto& t : j["tags"])
        if (!t.is_string())
          out.push_back("tag not a string");
  }
  return out;
}

simulator_config fixed_config(uint64_t seed) {
  simulator_config cfg;
  cfg.seed = seed;
  cfg.start_time_ms = 1'795'000'000'000; // 2026-11-18T11:06:40Z
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_SUITE(simulator)

BOOST_AUTO_TEST_CASE(every_simulated_event_satisfies_contract_v1) {
  auto evs = generate_events(fixed_config(7), 5000);
  BOOST_REQUIRE_EQUAL(evs.size(), 5000u);
  std::map<std::string, int> types;
  std::set<std::string> ids, users, contents;
  int failures = 0, multi_paragraph = 0;
  for (auto& [key, value] : evs) {
    auto bad = contract_violations(key, value);
    BOOST_CHECK_MESSAGE(bad.empty(), (bad.empty() ? std::string{} : bad[0] + ": " + value));
    auto j = json::parse(value);
    auto type = j["event_type"].get<std::string>();
    ++types[type];
    ids.insert(j["event_id"].get<std::string>());
    users.insert(key);
    if (j.contains("content"))
      contents.insert(j["content"].get<std::string>());
    if (type == "tool_call") {
      BOOST_CHECK(j.contains("tool") && j.contains("input"));
      BOOST_CHECK(j.contains("processing_time_ms"));
      if (!j.value("success", true)) {
        ++failures;
        BOOST_CHECK(!j.value("error_message", "").empty());
      }
    }
    if (type == "message" && j["role"] == "assistant") {
      BOOST_CHECK(j["tokens_used"].get<int64_t>() > 0);
      BOOST_CHECK(!j["model"].get<std::string>().empty());
    }
    if (type == "file_upload") {
      auto text = j["file"]["text"].get<std::string>();
      multi_paragraph += text.find("\n\n") != std::string::npos;
      BOOST_CHECK_GE(j["file"]["size_bytes"].get<int64_t>(),
                     static_cast<int64_t>(text.size()));
    }
  }
  for (const char* t : {"session_start", "message", "tool_call", "task",
                        "file_upload", "session_end"})
    BOOST_CHECK_MESSAGE(types[t] > 0, "no " << t << " events");
  BOOST_CHECK_EQUAL(ids.size(), evs.size());
  BOOST_CHECK_EQUAL(users.size(), 20u);
  BOOST_CHECK_GT(failures, 0);
  BOOST_CHECK_EQUAL(multi_paragraph, types["file_upload"]);
  BOOST_CHECK_GT(contents.size(), 500u); // varied text, not a few strings
  BOOST_TEST_MESSAGE("types: message=" << types["message"] << " tool_call="
                     << types["tool_call"] << " task=" << types["task"]
                     << " file_upload=" << types["file_upload"]);
}

BOOST_AUTO_TEST_CASE(sessions_start_alternate_roles_and_end_in_order) {
  auto evs = generate_events(fixed_config(11), 4000);
  struct session {
    std::string user;
    std::vector<std::string> types;
    std::vector<std::string> roles;
  };
  std::map<std::string, session> sessions;
  std::string prev_ts;
  for (auto& [key, value] : evs) {
    auto j = json::parse(value);
    auto& s = sessions[j["session_id"].get<std::string>()];
    if (s.user.empty())
      s.user = key;
    BOOST_CHECK_EQUAL(s.user, key); // a session belongs to one user
    s.types.push_back(j["event_type"].get<std::string>());
    if (j["event_type"] == "message")
      s.roles.push_back(j["role"].get<std::string>());
    auto ts = j["ts"].get<std::string>();
    BOOST_CHECK(prev_ts <= ts); // same format and offset: text order works
    prev_ts = ts;
  }
  BOOST_CHECK_GT(sessions.size(), 50u);
  int ended = 0;
  for (auto& [id, s] : sessions) {
    BOOST_CHECK_EQUAL(s.types.front(), "session_start");
    for (size_t i = 1; i + 1 < s.types.size(); ++i)
      BOOST_CHECK(s.types[i] != "session_start" && s.types[i] != "session_end");
    ended += s.types.back() == "session_end";
    for (size_t i = 0; i < s.roles.size(); ++i)
      BOOST_CHECK_EQUAL(s.roles[i], i % 2 == 0 ? "user" : "assistant");
  }
  BOOST_CHECK_GT(ended, 20);
  // Timestamps follow the rate: 200 events/s -> 5 ms apart.
  auto first = json::parse(evs.front().second)["ts"].get<std::string>();
  auto last = json::parse(evs.back().second)["ts"].get<std::string>();
  BOOST_CHECK_EQUAL(first, "2026-11-18T11:06:40.000Z");
  BOOST_CHECK_EQUAL(last, "2026-11-18T11:06:59.995Z");
}

BOOST_AUTO_TEST_CASE(the_same_seed_gives_the_same_events) {
  auto a = generate_events(fixed_config(42), 1000);
  auto b = generate_events(fixed_config(42), 1000);
  auto c = generate_events(fixed_config(43), 1000);
  BOOST_CHECK(a == b);
  BOOST_CHECK(a != c);
  std::set<std::string> ids;
  for (auto* v : {&a, &c})
    for (auto& e : *v)
      ids.insert(json::parse(e.second)["event_id"].get<std::string>());
  BOOST_CHECK_EQUAL(ids.size(), 2000u); // seeds do not share ids
  static const std::regex uuid{
    R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"};
  BOOST_CHECK(std::regex_match(*ids.begin(), uuid));
}

BOOST_AUTO_TEST_CASE(timestamps_default_to_now) {
  simulator_config cfg;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  auto evs = generate_events(cfg, 1);
  auto ts = json::parse(evs[0].second)["ts"].get<std::string>();
  // Same date and hour as now (tolerates a run across a minute boundary).
  time_t secs = static_cast<time_t>(now / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char prefix[32];
  std::strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H", &tm);
  BOOST_CHECK_EQUAL(ts.substr(0, 13), std::string{prefix});
}

BOOST_AUTO_TEST_CASE(run_simulator_publishes_at_the_requested_rate) {
  auto mc = mock_cluster::start(1, {{"agent.activity.v1", 4}});
  BOOST_REQUIRE(mc);
  simulator_config cfg;
  cfg.brokers = (*mc)->bootstrap();
  cfg.rate = 300;
  cfg.duration_s = 1.0;
  cfg.users = 5;
  auto t0 = std::chrono::steady_clock::now();
  auto n = run_simulator(cfg);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE_MESSAGE(n, test::why(n));
  BOOST_CHECK_EQUAL(*n, 300u);
  BOOST_CHECK(elapsed >= 900ms);
  BOOST_CHECK(elapsed < 5s);
  // What was published is exactly generate_events' sequence, keyed by user.
  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("sim"), {"agent.activity.v1"}));
  BOOST_REQUIRE(c);
  auto got = test::collect(**c, 300);
  BOOST_REQUIRE_EQUAL(got.size(), 300u);
  std::set<std::string> ids;
  for (auto& r : got) {
    BOOST_CHECK(contract_violations(r.key, r.value).empty());
    ids.insert(json::parse(r.value)["event_id"].get<std::string>());
  }
  auto expected = generate_events(cfg, 300);
  std::set<std::string> expected_ids;
  for (auto& e : expected)
    expected_ids.insert(json::parse(e.second)["event_id"].get<std::string>());
  BOOST_CHECK(ids == expected_ids);
}

BOOST_AUTO_TEST_CASE(run_simulator_stops_when_asked_and_rejects_bad_settings) {
  auto mc = mock_cluster::start(1, {{"agent.activity.v1", 1}});
  BOOST_REQUIRE(mc);
  simulator_config cfg;
  cfg.brokers = (*mc)->bootstrap();
  std::atomic<bool> stop{true};
  auto n = run_simulator(cfg, &stop);
  BOOST_REQUIRE(n);
  BOOST_CHECK_EQUAL(*n, 0u);
  cfg.rate = 0;
  BOOST_CHECK(!run_simulator(cfg));
  cfg.rate = 10;
  cfg.users = 0;
  BOOST_CHECK(!run_simulator(cfg));
}

BOOST_AUTO_TEST_SUITE_END()
