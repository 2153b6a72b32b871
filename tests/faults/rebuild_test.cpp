// (f) A node stopped cleanly (SIGTERM: exit 0 within the shutdown bound)
// loses its whole data dir. Started again, it rebuilds its hot state and
// vector index from Postgres (log line "caught up"), serves the same
// session buffers, and the same searches return the same memory ids in the
// same order.

#include <map>

#include "fault_support.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::faults;

/// A search and what it returned.
struct search_case {
  std::string user_id;
  std::string query;
  std::vector<std::string> memory_ids; ///< best first
  std::vector<double> scores;
  std::string body; ///< the raw answer (for failure messages)
  std::string mode = "hybrid";
  int top_k = 5;
};

/// POST /v1/memories/search; fills ids and scores; "" or the error.
std::string run_search(agentmem_node& node, search_case& c) {
  json req = {{"user_id", c.user_id}, {"query", c.query},
              {"top_k", c.top_k}, {"mode", c.mode}};
  auto r = http_client{node.port()}.post_json("/v1/memories/search", req.dump());
  if (r.status != 200)
    return "search " + req.dump() + ": " + std::to_string(r.status) + " "
           + r.error + r.body;
  c.memory_ids.clear();
  c.scores.clear();
  c.body = r.body;
  const auto doc = json::parse(r.body);
  for (auto& h : doc.at("results")) {
    c.memory_ids.push_back(h.at("memory_id").get<std::string>());
    c.scores.push_back(h.at("score").get<double>());
  }
  return {};
}

/// GET /v1/sessions/<s>/messages?user_id=<u>&limit=50: the "messages"
/// array as JSON text, or "error: ...".
std::string session_messages(agentmem_node& node, const std::string& user,
                             const std::string& session) {
  auto r = http_client{node.port()}.get("/v1/sessions/" + url_encode(session)
                                        + "/messages?user_id="
                                        + url_encode(user) + "&limit=50");
  if (r.status != 200)
    return "error: " + std::to_string(r.status) + " " + r.error + r.body;
  return json::parse(r.body).at("messages").dump();
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (auto& id : ids)
    out += (out.empty() ? "" : ", ") + id.substr(0, 8);
  return "[" + out + "]";
}

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_FIXTURE_TEST_CASE(
  a_cleanly_stopped_node_whose_data_dir_is_deleted_rebuilds_buffers_and_index_from_postgres_and_answers_the_same,
  agentmem::test::pg_database) {
  const std::string topic = "agent.activity.faults.rebuild.v1";
  const std::string dlq = topic + ".dlq";
  const int partitions = 8;
  const size_t n_events = 8000;
  const int shutdown_bound_ms = 20000;
  const uint64_t seed = test_seed(20260606);
  auto t_test = steady::now();

  temp_dir tmp{"agentmem-fault-rebuild"};
  test_kafka cluster{broker_kind::real, {{topic, partitions}, {dlq, 1}},
                     tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary() << "; seed " << seed);
  auto ev = make_events(topic, n_events, 20, seed, std::chrono::seconds(4));

  node_options o;
  o.brokers = cluster.bootstrap();
  o.topic = topic;
  o.dlq_topic = dlq;
  o.group_id = "agentmem-fault-rebuild";
  o.postgres_url = url;
  o.data_dir = tmp / "data";
  o.shutdown_timeout_ms = shutdown_bound_ms;
  agentmem_node node{o, tmp.path()};
  {
    auto err = node.start();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  pg_probe pg{url};
  {
    auto prod = kafka::producer::create(o.brokers, patient_producer_properties());
    BOOST_TEST_REQUIRE(!!prod, error_of(prod));
    paced_producer publisher{**prod, topic, ev.records, std::chrono::seconds(4)};
    publisher.join();
    BOOST_TEST_REQUIRE(publisher.error().empty(), publisher.error());
  }
  {
    auto err = wait_all_stored(pg, o.group_id, topic, ev.size(), 120s,
                               o.brokers, partitions, tmp / "kcat", {&node});
    BOOST_TEST_REQUIRE(err.empty(), err);
    err = wait_index_matches(node, pg, "before the stop");
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  check_exactly_once(pg, ev);

  // --- what the node answers before ------------------------------------------------
  static const char* queries[] = {
    "booking a flight and a hotel for the trip", "pasta recipe for dinner",
    "review of the pull request and the failing tests",
    "monthly budget and savings", "running training plan for the week",
    "learning Spanish vocabulary", "which tool call failed",
    "uploaded file summary", "what did we decide in this session",
    "cheap train tickets"};
  std::vector<search_case> searches;
  {
    std::vector<std::string> users(ev.users.begin(), ev.users.end());
    for (size_t i = 0; i < 20; ++i)
      searches.push_back({users[i % users.size()],
                          queries[i % (sizeof(queries) / sizeof(*queries))],
                          {},
                          {},
                          {}});
  }
  size_t nonempty = 0;
  std::string empty_example;
  for (auto& c : searches) {
    auto err = run_search(node, c);
    BOOST_TEST_REQUIRE(err.empty(), err);
    nonempty += !c.memory_ids.empty();
    if (c.memory_ids.empty() && empty_example.empty())
      empty_example = "user " + c.user_id + ", query '" + c.query
                      + "' answered " + c.body.substr(0, 300);
  }
  // The two rankings hybrid fuses, deeper than the fused top 5: a
  // difference after the rebuild names the memory that moved.
  std::vector<search_case> components;
  for (auto& c : searches)
    for (const char* mode : {"vector", "keyword"}) {
      search_case deep{c.user_id, c.query, {}, {}, {}, mode, 30};
      auto err = run_search(node, deep);
      BOOST_TEST_REQUIRE(err.empty(), err);
      components.push_back(std::move(deep));
    }
  BOOST_TEST(nonempty == searches.size(),
             nonempty << " of " << searches.size()
                      << " searches returned results before the stop; e.g. "
                      << empty_example);
  // Sessions with the most conversation memories.
  std::vector<std::pair<std::string, std::string>> sessions; // user, session
  {
    auto store = storage::postgres_store::connect(url);
    BOOST_TEST_REQUIRE(!!store, error_of(store));
    std::map<std::pair<std::string, std::string>, int> conv;
    int64_t seq = 0;
    while (true) {
      auto rows = (*store)->memories_after(seq, 5000);
      BOOST_TEST_REQUIRE(!!rows, error_of(rows));
      if (rows->empty())
        break;
      for (auto& sm : *rows) {
        seq = sm.seq;
        if (sm.m.memory_type == "conversation")
          ++conv[{sm.m.user_id, sm.m.session_id}];
      }
    }
    std::vector<std::pair<int, std::pair<std::string, std::string>>> by_size;
    for (auto& [k, n] : conv)
      by_size.push_back({n, k});
    std::sort(by_size.rbegin(), by_size.rend());
    for (size_t i = 0; i < by_size.size() && i < 10; ++i)
      sessions.push_back(by_size[i].second);
    BOOST_TEST_REQUIRE(sessions.size() == 10u, "only " << sessions.size()
                                                       << " sessions with "
                                                          "conversation");
  }
  std::vector<std::string> messages_before;
  for (auto& [u, s] : sessions) {
    messages_before.push_back(session_messages(node, u, s));
    BOOST_TEST_REQUIRE(messages_before.back().rfind("error", 0) != 0,
                       messages_before.back());
    BOOST_TEST(messages_before.back() != "[]", "session " << s
                                                          << " has no "
                                                             "buffered "
                                                             "messages");
  }
  const auto vectors_before = node.metric("agentmem_index_vectors").value_or(-1);

  // --- clean stop, data dir gone --------------------------------------------------
  {
    auto t_stop = steady::now();
    auto status = node.terminate(std::chrono::milliseconds(shutdown_bound_ms) + 15s);
    const double took = seconds_since(t_stop);
    BOOST_TEST(status == "exit code 0", "SIGTERM: " << status);
    BOOST_TEST(took <= shutdown_bound_ms / 1000.0,
               "SIGTERM to exit took " << took << " s, the shutdown bound is "
                                       << shutdown_bound_ms / 1000.0 << " s");
    BOOST_TEST_MESSAGE("SIGTERM -> " << status << " in " << took << " s");
  }
  {
    std::error_code ec;
    fs::remove_all(o.data_dir, ec);
    BOOST_TEST_REQUIRE(!fs::exists(o.data_dir),
                       "cannot delete " << o.data_dir << ": " << ec.message());
  }
  {
    auto t_start = steady::now();
    auto err = node.start(120s);
    BOOST_TEST_REQUIRE(err.empty(), err);
    BOOST_TEST_MESSAGE("restarted on an empty data dir, ready after "
                       << seconds_since(t_start) << " s");
  }
  {
    // Shards catch up from Postgres after the first commit (at most 5 s
    // after the assignment), so wait for the index before reading the log.
    auto err = wait_index_matches(node, pg, "after the rebuild");
    BOOST_TEST_REQUIRE(err.empty(), err);
    auto log = log_since_start(node.log_path(), 2);
    // Every shard of the empty data dir warmed from Postgres and serves.
    BOOST_TEST((count_of(log, "] partition ") >= 1
                 && count_of(log, ": serving (seq ")
                      == count_of(log, ": shard warming from seq ")),
               "not every warming shard reports serving after the restart; "
               "[index_sync] lines:\n"
                 << lines_with(log, "[index_sync]"));
    BOOST_TEST_MESSAGE(lines_with(log, ": serving (seq "));
  }
  BOOST_TEST(node.metric("agentmem_index_vectors").value_or(-2) == vectors_before);

  // --- the same answers ------------------------------------------------------------
  for (size_t i = 0; i < sessions.size(); ++i) {
    auto after = session_messages(node, sessions[i].first, sessions[i].second);
    BOOST_TEST(after == messages_before[i],
               "GET /v1/sessions/" << sessions[i].second
                                   << "/messages differs after the rebuild:\n"
                                      "  before: "
                                   << messages_before[i].substr(0, 400)
                                   << "\n  after:  " << after.substr(0, 400));
  }
  for (auto& c : components) {
    search_case again{c.user_id, c.query, {}, {}, {}, c.mode, c.top_k};
    auto err = run_search(node, again);
    BOOST_TEST_REQUIRE(err.empty(), err);
    std::string diff;
    for (size_t k = 0; k < std::max(c.memory_ids.size(),
                                    again.memory_ids.size());
         ++k) {
      auto at = [k](const search_case& x) {
        return k < x.memory_ids.size()
                 ? x.memory_ids[k] + " " + std::to_string(x.scores[k])
                 : std::string{"-"};
      };
      if (at(c) != at(again))
        diff += "\n    #" + std::to_string(k) + " before " + at(c)
                + ", after " + at(again);
    }
    BOOST_TEST(diff.empty(), c.mode << " ranking of '" << c.query << "' for "
                                    << c.user_id
                                    << " differs after the rebuild:" << diff);
  }
  size_t same = 0;
  for (auto& c : searches) {
    search_case again{c.user_id, c.query, {}, {}, {}, c.mode, c.top_k};
    auto err = run_search(node, again);
    BOOST_TEST_REQUIRE(err.empty(), err);
    bool equal = again.memory_ids == c.memory_ids;
    same += equal;
    BOOST_TEST(equal, "search '" << c.query << "' for " << c.user_id
                                 << ": before " << join_ids(c.memory_ids)
                                 << ", after " << join_ids(again.memory_ids));
    for (size_t k = 0; equal && k < c.scores.size(); ++k)
      BOOST_TEST(std::abs(again.scores[k] - c.scores[k]) < 1e-4,
                 "score of hit " << k << " for '" << c.query << "': "
                                 << c.scores[k] << " -> " << again.scores[k]);
  }
  BOOST_TEST_MESSAGE(same << " of " << searches.size()
                          << " searches returned the same top 5 in the same "
                             "order");
  BOOST_TEST(node.terminate() == "exit code 0");
  BOOST_TEST_MESSAGE("test took " << seconds_since(t_test) << " s");
}

BOOST_AUTO_TEST_SUITE_END()
