// Memory lifecycle end to end through the real binary: near-duplicate
// documents update one memory (with its history), a long session gets its
// rolling summary before session_end, working memory is served, and a full
// redelivery of the same events changes none of it; every change, the
// API's included, reaches the memory change stream agent.memory.v1.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "kafka/consumer.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

json base(const std::string& id, int64_t ts, const std::string& type) {
  return {{"event_id", id},     {"ts", rfc3339_ms(ts)},
          {"user_id", "ann"},   {"session_id", "s1"},
          {"agent_type", "chat"}, {"event_type", type}};
}

const std::string report =
  "The quarterly report shows revenue grew by 12 percent in the north "
  "region, driven by new customers.";
const std::string report_v2 =
  "The quarterly report shows revenue grew by 12 percent in the north "
  "region, driven by new customers and renewals.";

std::vector<std::pair<std::string, std::string>> events(int64_t t0) {
  std::vector<json> es;
  const char* lines[] = {"I adopted a puppy named Biscuit last week.",
                         "Biscuit is a beagle and loves long walks.",
                         "We walk Biscuit in the park every morning.",
                         "The vet said Biscuit is very healthy."};
  for (int i = 0; i < 4; ++i) {
    auto e = base("msg-" + std::to_string(i), t0 + i * 1000, "message");
    e["role"] = "user";
    e["agent_name"] = "Ann";
    e["content"] = lines[i];
    es.push_back(e);
  }
  auto up1 = base("upload-1", t0 + 5000, "file_upload");
  up1["file"] = {{"filename", "q3.txt"}, {"text", report}};
  es.push_back(up1);
  auto tool = base("tool-1", t0 + 6000, "tool_call");
  tool["tool"] = {{"name", "calculator"}};
  tool["output"] = {{"result", 42}};
  es.push_back(tool);
  auto up2 = base("upload-2", t0 + 7000, "file_upload");
  up2["file"] = {{"filename", "q3-final.txt"}, {"text", report_v2}};
  es.push_back(up2);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& e : es)
    out.emplace_back("ann", e.dump());
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(
  near_duplicates_update_in_place_summaries_roll_and_working_memory_is_served,
  agentmem::test::pg_database) {
  temp_dir tmp{"agentmem-it-lifecycle"};
  const std::string topic = "agent.activity.lifecycle.v1";
  const std::string changes_topic = "agent.memory.lifecycle.v1";
  test_kafka cluster{broker_from_env(),
                     {{topic, 2}, {topic + ".dlq", 1}, {changes_topic, 2}},
                     tmp.path()};
  node_options o{cluster, topic, "agentmem-lifecycle", url, tmp / "data"};
  o.extra_toml = "[memory]\nsummary_every_messages = 3\n"
                 "[memory_stream]\ntopic = " + toml_str(changes_topic)
                 + "\npublish_interval_ms = 100\n";
  agentmem_node node{o, tmp.path()};
  auto started = node.start();
  BOOST_TEST_REQUIRE(started.empty(), started);
  const auto evs = events(wall_ms() - 60'000);
  pg_probe pg{url};
  auto publish = [&](int64_t expect_offsets) {
    publish_events(o.brokers, topic, evs);
    auto err = wait_stored_offsets(pg, node, o.group_id, topic, expect_offsets);
    BOOST_TEST_REQUIRE(err.empty(), err);
    // Committed is not yet indexed: wait for the acknowledgement too.
    err = wait_until(
      "agentmem_events_committed_total to reach "
        + std::to_string(expect_offsets),
      60s,
      [&] {
        return metric_value(node.metrics(), "agentmem_events_committed_total")
                 .value_or(0)
               >= static_cast<double>(expect_offsets);
      },
      [&] { return std::string{"fewer"}; }, [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  };
  publish(static_cast<int64_t>(evs.size()));

  auto snapshot = [&] {
    return std::vector<int64_t>{
      pg.scalar("SELECT count(*) FROM memories"),
      pg.scalar("SELECT count(*) FROM memories WHERE memory_type = 'document'"),
      pg.scalar("SELECT count(*) FROM memories"
                " WHERE memory_type = 'session_summary'"),
      pg.scalar("SELECT count(*) FROM memory_history"),
      pg.scalar("SELECT coalesce(max(version), 0) FROM memories"
                " WHERE memory_type = 'document'"),
      pg.scalar("SELECT coalesce(max(seq), 0) FROM memories")};
  };
  // 4 turns + 1 document (two near-identical uploads) + 1 episode + 1
  // rolling summary (due at the third message; no session_end was sent).
  auto before = snapshot();
  BOOST_TEST(before[0] == 7);
  BOOST_TEST(before[1] == 1);
  BOOST_TEST(before[2] == 1);
  BOOST_TEST(before[4] == 2); // the document was updated once
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories WHERE text = "
                       + sql_quote(report_v2))
             == 1);

  http_client http{node.port()};
  // The document's history over the API.
  auto doc_id = [&] {
    auto r = http.post_json(
      "/v1/memories/search",
      R"({"user_id":"ann","query":"quarterly revenue report","top_k":1,)"
      R"("filter":{"memory_types":["document"]}})");
    BOOST_TEST_REQUIRE(r.status == 200, r.status << " " << r.body << r.error);
    auto j = json::parse(r.body);
    BOOST_TEST_REQUIRE(j.at("results").size() == 1u);
    BOOST_TEST(j["results"][0].at("text") == report_v2);
    return j["results"][0].at("memory_id").get<std::string>();
  }();
  auto h = http.get("/v1/memories/" + doc_id + "/history?user_id=ann");
  BOOST_TEST_REQUIRE(h.status == 200, h.status << " " << h.body << h.error);
  auto hj = json::parse(h.body).at("history");
  BOOST_TEST_REQUIRE(hj.size() == 2u);
  BOOST_TEST(hj[0].at("event") == "ADD");
  BOOST_TEST(hj[0].at("new_text") == report);
  BOOST_TEST(hj[1].at("event") == "UPDATE");
  BOOST_TEST(hj[1].at("old_text") == report);
  BOOST_TEST(hj[1].at("new_text") == report_v2);
  BOOST_TEST(hj[1].at("event_id") == "upload-2");
  BOOST_TEST(http.get("/v1/memories/" + doc_id + "/history?user_id=bob").status
             == 404);

  // Working memory: the turns and the tool result, newest last.
  auto w = http.get("/v1/sessions/s1/working-memory?user_id=ann");
  BOOST_TEST_REQUIRE(w.status == 200, w.status << " " << w.body << w.error);
  auto items = json::parse(w.body).at("items");
  BOOST_TEST_REQUIRE(items.size() == 5u);
  BOOST_TEST(items[0].at("kind") == "message");
  BOOST_TEST(items[4].at("kind") == "tool_result");
  BOOST_TEST(items[4].at("name") == "calculator");

  // Every event again: redelivery changes no memory, version or history.
  publish(2 * static_cast<int64_t>(evs.size()));
  BOOST_TEST(snapshot() == before);

  // Single memories through the API (after the redelivery check: these
  // change memories on purpose). A corrected text is re-indexed at once
  // on this node: every search mode finds the new words, keyword search no
  // longer finds the old ones, and the tag filter sees the new tags.
  auto search = [&](const std::string& query,
                    const std::string& mode = "keyword") {
    auto r = http.post_json("/v1/memories/search",
                            R"({"user_id":"ann","mode":")" + mode
                              + R"(","query":)" + json(query).dump() + "}");
    BOOST_TEST_REQUIRE(r.status == 200, r.status << " " << r.body << r.error);
    std::vector<std::string> ids;
    // Keep the parsed document alive: a range-for over a member of the
    // temporary would iterate freed memory.
    auto doc = json::parse(r.body);
    for (auto& hit : doc.at("results"))
      ids.push_back(hit.at("memory_id").get<std::string>());
    return ids;
  };
  auto contains = [](const std::vector<std::string>& xs,
                     const std::string& x) {
    return std::find(xs.begin(), xs.end(), x) != xs.end();
  };
  auto g = http.get("/v1/memories/" + doc_id + "?user_id=ann");
  BOOST_TEST_REQUIRE(g.status == 200, g.status << " " << g.body << g.error);
  BOOST_TEST(json::parse(g.body).at("version") == 2);
  auto p = http.send("PATCH", "/v1/memories/" + doc_id + "?user_id=ann",
                     R"({"text":"Zanzibar vanilla exports doubled.",)"
                     R"("importance":0.95,"tags":["corrected"]})");
  BOOST_TEST_REQUIRE(p.status == 200, p.status << " " << p.body << p.error);
  BOOST_TEST(json::parse(p.body).at("version") == 3);
  BOOST_TEST(!contains(search("quarterly revenue"), doc_id));
  BOOST_TEST(contains(search("Zanzibar vanilla exports"), doc_id));
  BOOST_TEST(contains(search("Zanzibar vanilla exports", "vector"), doc_id));
  BOOST_TEST(contains(search("Zanzibar vanilla exports", "hybrid"), doc_id));
  auto tagged = http.post_json(
    "/v1/memories/search",
    R"({"user_id":"ann","query":"exports","filter":{"tags":["corrected"]}})");
  BOOST_TEST(tagged.body.find(doc_id) != std::string::npos, tagged.body);
  h = http.get("/v1/memories/" + doc_id + "/history?user_id=ann");
  BOOST_TEST(json::parse(h.body).at("history").size() == 3u);
  // Listing: newest first, in pages.
  auto l = http.get("/v1/users/ann/memories?limit=3");
  BOOST_TEST_REQUIRE(l.status == 200, l.body);
  auto lj = json::parse(l.body);
  BOOST_TEST(lj.at("memories").size() == 3u);
  BOOST_TEST(lj.at("next_cursor").is_string());
  // Deleted: gone from search and from Postgres, history kept.
  auto d = http.del("/v1/memories/" + doc_id + "?user_id=ann");
  BOOST_TEST_REQUIRE(d.status == 200, d.status << " " << d.body << d.error);
  tagged = http.post_json(
    "/v1/memories/search",
    R"({"user_id":"ann","query":"exports","filter":{"tags":["corrected"]}})");
  BOOST_TEST(tagged.body.find(doc_id) == std::string::npos, tagged.body);
  BOOST_TEST(http.get("/v1/memories/" + doc_id + "?user_id=ann").status
             == 404);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories WHERE memory_id = "
                       + sql_quote(doc_id))
             == 0);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memory_history WHERE event ="
                       " 'DELETE' AND memory_id = " + sql_quote(doc_id))
             == 1);

  // The change stream: every change above, keyed by user, in version
  // order per memory, once (nothing crashed), ending with the DELETE.
  kafka::consumer_config cc;
  cc.brokers = o.brokers;
  cc.group_id = "memory-stream-reader";
  cc.topics = {changes_topic};
  cc.properties = {{"auto.offset.reset", "earliest"}};
  auto reader = kafka::consumer::create(cc);
  BOOST_TEST_REQUIRE(!!reader, error_of(reader));
  std::vector<json> changes;
  auto deleted = [&] {
    for (auto& c : changes)
      if (c.value("memory_id", "") == doc_id && c["op"] == "DELETE")
        return true;
    return false;
  };
  for (auto deadline = steady::now() + 30s;
       !deleted() && steady::now() < deadline;)
    for (auto& r : (*reader)->poll_batch(100, 200ms)) {
      BOOST_TEST(r.key == "ann");
      changes.push_back(json::parse(r.value));
    }
  BOOST_TEST_REQUIRE(deleted(), changes.size() << " records, no DELETE");
  std::map<std::string, std::vector<json>> by_memory;
  std::set<std::pair<std::string, int>> seen;
  for (auto& c : changes) {
    auto id = c.at("memory_id").get<std::string>();
    auto v = c.at("version").get<int>();
    BOOST_TEST(seen.insert({id, v}).second, "repeated " << id << " v" << v);
    if (!by_memory[id].empty())
      BOOST_TEST(by_memory[id].back().at("version").get<int>() < v, id);
    by_memory[id].push_back(c);
  }
  // Every stored memory was added (the first record of each memory a
  // consumer sees is its ADD), and the rolling summary was updated.
  BOOST_TEST(by_memory.size()
             == static_cast<size_t>(pg.scalar("SELECT count(*) FROM memories")) + 1);
  // (An ADD's version is above 1 when the memory changed again inside the
  // batch that added it: one row written, one record.)
  for (auto& [id, cs] : by_memory) {
    BOOST_TEST(cs.front().at("op") == "ADD", id);
    BOOST_TEST(cs.front().at("source") == "pipeline", id);
  }
  // The stream converges to the table: each live memory's last record is
  // its stored version and text (the session summary's included).
  bool summary_seen = false;
  for (auto& [id, cs] : by_memory) {
    if (id == doc_id)
      continue;
    auto& last = cs.back();
    summary_seen = summary_seen || last.at("memory_type") == "session_summary";
    BOOST_TEST(pg.scalar("SELECT version FROM memories WHERE memory_id = "
                         + sql_quote(id))
                 == last.at("version").get<int64_t>(),
               id);
    BOOST_TEST(pg.scalar("SELECT (text = " + sql_quote(last.at("text"))
                         + ")::int FROM memories WHERE memory_id = "
                         + sql_quote(id))
                 == 1,
               id);
  }
  BOOST_TEST(summary_seen);
  std::map<int, json> doc;
  for (auto& c : by_memory[doc_id])
    doc[c.at("version").get<int>()] = c;
  BOOST_TEST_REQUIRE(doc.count(2) == 1u); // the near-duplicate upload
  BOOST_TEST(doc[2].at("text") == report_v2);
  BOOST_TEST(doc[2].at("source") == "pipeline");
  BOOST_TEST_REQUIRE(doc.count(4) == 1u);
  BOOST_TEST(doc[4].at("op") == "DELETE");
  BOOST_TEST(doc[4].at("source") == "api");
  BOOST_TEST(!doc[4].contains("text"));
  BOOST_TEST(by_memory[doc_id].back().at("version") == 4);
  // The PATCH's record, unless the DELETE came before it was published
  // (a deleted memory's unpublished content is dropped).
  if (doc.count(3)) {
    BOOST_TEST(doc[3].at("op") == "UPDATE");
    BOOST_TEST(doc[3].at("source") == "api");
    BOOST_TEST(doc[3].at("text") == "Zanzibar vanilla exports doubled.");
  }
  // The publisher counts a pass's records once its outbox rows are deleted
  // and committed, after the broker acknowledged them: a reader can see
  // the last record a moment before the count includes it.
  auto published = [&] {
    return metric_value(node.metrics(),
                        "agentmem_memory_changes_published_total")
      .value_or(0);
  };
  auto counted = wait_until(
    "agentmem_memory_changes_published_total to count every record", 10s,
    [&] { return published() >= static_cast<double>(changes.size()); },
    [&] { return std::to_string(published()); }, [&] { return node.death(); },
    50ms);
  BOOST_TEST(counted.empty(), counted);
}

BOOST_AUTO_TEST_SUITE_END()
