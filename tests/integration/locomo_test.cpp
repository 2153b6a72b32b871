// LoCoMo end to end: every dialogue turn of the development subset goes
// through the real agentmem binary (Kafka -> agentmem child -> private
// Postgres; Kafka is the mock cluster in this process or a real broker, see
// AGENTMEM_IT_BROKER in harness.hpp), together with a set of malformed
// records that must land in the dead-letter topic. Then everything is
// published a second time (nothing may change), and the HTTP API is
// checked: memory search against LoCoMo's gold evidence, session buffers
// and usage rollups.

#include <time.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "kafka/consumer.hpp"
#include "kafka/dead_letter.hpp"
#include "kafka/locomo.hpp"
#include "kafka/producer.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace {

using namespace agentmem;
using namespace agentmem::it;
using json = nlohmann::json;

const std::string activity_topic = "agent.activity.v1";
const std::string dlq_topic = "agent.activity.v1.dlq";

/// A record that breaks event contract v1, and the reason agentmem must
/// give for it (the DLQ class header is "agentmem.contract." + reason).
struct malformed_record {
  std::string key;
  std::string value;
  std::string reason_code;
};

// A valid message event of user `user`, with `extra` spliced in before the
// closing brace (raw JSON text, so duplicate keys can be written).
std::string event_text(const std::string& user, const std::string& fields) {
  return R"({"event_id":")" + user + R"(-evt","user_id":")" + user
         + R"(","session_id":")" + user + R"(-session","agent_type":"locomo")"
         + fields + "}";
}

std::vector<malformed_record> malformed_records() {
  const std::string ts = R"(,"ts":"2023-05-08T13:56:00Z")";
  const std::string msg = R"(,"event_type":"message")";
  const std::string role = R"(,"role":"user")";
  const std::string content = R"(,"content":"hello")";
  std::vector<malformed_record> out;
  auto add = [&](const std::string& key, std::string value,
                 const std::string& reason) {
    out.push_back({key, std::move(value), reason});
  };
  add("dlq-invalid-json", R"({"event_id":"dlq-invalid-json-evt","ts":)",
      "invalid_json");
  add("dlq-missing-event-id",
      R"({"user_id":"dlq-missing-event-id","session_id":"s","agent_type":"locomo")"
        + ts + msg + role + content + "}",
      "missing_field");
  add("dlq-ts-wrong-type",
      event_text("dlq-ts-wrong-type",
                 R"(,"ts":1683554160000)" + msg + role + content),
      "wrong_type");
  add("dlq-bad-role",
      event_text("dlq-bad-role", ts + msg + R"(,"role":"wizard")" + content),
      "invalid_role");
  add("dlq-invalid-utf8",
      event_text("dlq-invalid-utf8",
                 ts + msg + role + ",\"content\":\"caf\xC3\x28 \xFF\xFE\""),
      "invalid_utf8");
  add("dlq-nul-escape",
      event_text("dlq-nul-escape",
                 ts + msg + role + R"(,"content":"a\u0000b")"),
      "nul_byte");
  add("dlq-duplicate-key",
      event_text("dlq-duplicate-key", ts + msg + role + content + ts),
      "duplicate_key");
  add("dlq-non-object", R"([{"event_id":"dlq-non-object-evt"}, 1, 2])",
      "not_an_object");
  add("dlq-oversize-content",
      event_text("dlq-oversize-content",
                 ts + msg + role + R"(,"content":")"
                   + std::string(300 * 1024, 'x') + "\""),
      "oversize_content");
  add("dlq-message-without-role",
      event_text("dlq-message-without-role", ts + msg + content),
      "missing_field");
  add("dlq-unknown-role",
      event_text("dlq-unknown-role",
                 ts + msg + R"(,"role":"narrator")" + content),
      "invalid_role");
  add("dlq-far-future-ts",
      event_text("dlq-far-future-ts",
                 R"(,"ts":"2999-01-01T00:00:00Z")" + msg + role + content),
      "timestamp_out_of_range");
  add("dlq-bad-event-type",
      event_text("dlq-bad-event-type",
                 ts + R"(,"event_type":"Chat-Message!")" + role + content),
      "invalid_event_type");
  // Valid event, but the record key names another user.
  add("dlq-key-mismatch",
      R"({"event_id":"dlq-key-mismatch-evt","user_id":"someone-else","session_id":"s","agent_type":"locomo")"
        + ts + msg + role + content + "}",
      "key_mismatch");
  return out;
}

std::string utc_day(int64_t ms) {
  time_t s = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[16];
  strftime(buf, sizeof(buf), "%Y-%m-%d", &t);
  return buf;
}

// "YYYY-MM-DD" + n days.
std::string add_days(const std::string& day, int n) {
  tm t{};
  strptime(day.c_str(), "%Y-%m-%d", &t);
  time_t s = timegm(&t) + static_cast<time_t>(n) * 86400;
  return utc_day(static_cast<int64_t>(s) * 1000);
}

/// One published LoCoMo turn as the test remembers it.
struct turn_info {
  std::string user_id;
  std::string session_id;
  std::string event_id;
  std::string role;
  std::string agent_name;
  std::string content;
  std::string dia_id;
  int64_t ts_ms = 0;
};

/// What the test expects in Postgres, computed from the data set alone.
struct expectations {
  std::vector<std::pair<std::string, std::string>> records; ///< key, value
  std::vector<std::string> event_ids;
  std::map<std::pair<std::string, std::string>, int64_t> usage; ///< user, day
  std::map<std::pair<std::string, std::string>, std::vector<turn_info>>
    sessions; ///< (user, session) -> turns in order
};

expectations expect_from(const std::vector<kafka::locomo_sample>& samples) {
  expectations e;
  for (auto& s : samples) {
    for (auto& t : s.turns) {
      auto ev = json::parse(t.event_json);
      turn_info ti;
      ti.user_id = ev.at("user_id").get<std::string>();
      ti.session_id = ev.at("session_id").get<std::string>();
      ti.event_id = ev.at("event_id").get<std::string>();
      ti.role = ev.at("role").get<std::string>();
      ti.agent_name = ev.value("agent_name", std::string{});
      ti.content = ev.at("content").get<std::string>();
      ti.dia_id = t.dia_id;
      ti.ts_ms = t.ts_ms;
      BOOST_REQUIRE_EQUAL(ti.user_id, s.sample_id);
      BOOST_REQUIRE_EQUAL(t.key, s.sample_id);
      e.records.emplace_back(t.key, t.event_json);
      e.event_ids.push_back(ti.event_id);
      e.usage[{ti.user_id, utc_day(t.ts_ms)}] += 1;
      e.sessions[{ti.user_id, ti.session_id}].push_back(std::move(ti));
    }
  }
  return e;
}

kafka::consumer_config dlq_consumer_config(const std::string& brokers) {
  kafka::consumer_config c;
  c.brokers = brokers;
  c.group_id = "integration-dlq-reader";
  c.topics = {dlq_topic};
  c.properties = {{"session.timeout.ms", "6000"},
                  {"heartbeat.interval.ms", "500"},
                  {"fetch.wait.max.ms", "50"}};
  return c;
}

std::string header(const kafka_record& r, const std::string& name) {
  for (auto& [k, v] : r.headers)
    if (k == name)
      return v;
  return {};
}

bool has_header(const kafka_record& r, const std::string& name) {
  for (auto& h : r.headers)
    if (h.first == name)
      return true;
  return false;
}

bool is_decimal(const std::string& s) {
  return !s.empty()
         && std::all_of(s.begin(), s.end(),
                        [](char c) { return c >= '0' && c <= '9'; });
}

// Reads the DLQ until `n` more records arrived (or `timeout`).
std::string collect_dlq(kafka::consumer& c, std::vector<kafka_record>& out,
                        size_t n, std::chrono::seconds timeout,
                        agentmem_node& node) {
  size_t want = out.size() + n;
  return wait_until(
    fmt_count(static_cast<int64_t>(want)) + " records in " + dlq_topic,
    timeout,
    [&] {
      auto batch = c.poll_batch(want - out.size(), 200ms);
      for (auto& r : batch)
        out.push_back(std::move(r));
      return out.size() >= want;
    },
    [&] { return fmt_count(static_cast<int64_t>(out.size())); },
    [&] { return node.death(); }, 0ms);
}

// Every malformed record is in `dlq` (exactly `copies` times) with its key,
// value bytes and Kafka Connect's DLQ headers.
void check_dead_letters(const std::vector<kafka_record>& dlq,
                        const std::vector<malformed_record>& bad,
                        size_t copies) {
  BOOST_TEST(dlq.size() == bad.size() * copies);
  std::map<std::string, std::vector<const kafka_record*>> by_key;
  for (auto& r : dlq)
    by_key[r.key].push_back(&r);
  std::set<std::string> expected_keys;
  for (auto& m : bad) {
    expected_keys.insert(m.key);
    auto it = by_key.find(m.key);
    BOOST_TEST_CONTEXT("malformed record '" << m.key << "' (expected reason "
                                            << m.reason_code << ")") {
      BOOST_TEST_REQUIRE((it != by_key.end()), "not in the DLQ");
      BOOST_TEST(it->second.size() == copies);
      for (auto* r : it->second) {
        BOOST_TEST((r->value == m.value),
                   "value bytes differ: " << r->value.size() << " bytes vs "
                                          << m.value.size() << " published");
        BOOST_TEST(header(*r, kafka::dlq_headers::exception_class)
                   == std::string{kafka::dlq_headers::class_prefix}
                        + m.reason_code);
        BOOST_TEST(!header(*r, kafka::dlq_headers::exception_message).empty());
        BOOST_TEST(header(*r, kafka::dlq_headers::topic) == activity_topic);
        BOOST_TEST(has_header(*r, kafka::dlq_headers::partition));
        BOOST_TEST(has_header(*r, kafka::dlq_headers::offset));
        BOOST_TEST(is_decimal(header(*r, kafka::dlq_headers::partition)));
        BOOST_TEST(is_decimal(header(*r, kafka::dlq_headers::offset)));
        auto part = header(*r, kafka::dlq_headers::partition);
        if (is_decimal(part))
          BOOST_TEST(std::stoi(part) < 16);
      }
    }
  }
  for (auto& [k, rs] : by_key)
    BOOST_TEST(expected_keys.count(k) == 1,
               "unexpected DLQ record with key '" << k << "'");
}

/// Counts that a second delivery of everything must not change.
std::map<std::string, int64_t> table_counts(pg_probe& pg) {
  static const std::pair<const char*, const char*> queries[] = {
    {"user_activities rows", "SELECT count(*) FROM user_activities"},
    {"user_activities distinct event_ids",
     "SELECT count(DISTINCT event_id) FROM user_activities"},
    {"usage_analytics rows", "SELECT count(*) FROM usage_analytics"},
    {"usage_analytics sum(activity_count)",
     "SELECT coalesce(sum(activity_count), 0)::bigint FROM usage_analytics"},
    {"agent_sessions rows", "SELECT count(*) FROM agent_sessions"},
    {"agent_sessions sum(total_interactions)",
     "SELECT coalesce(sum(total_interactions), 0)::bigint FROM agent_sessions"},
    {"memories rows", "SELECT count(*) FROM memories"},
    {"memory_links rows", "SELECT count(*) FROM memory_links"},
    {"file_uploads rows", "SELECT count(*) FROM file_uploads"},
  };
  std::map<std::string, int64_t> out;
  for (auto& [label, sql] : queries)
    out[label] = pg.scalar(sql);
  return out;
}

void check_session_buffers(http_client& http, const expectations& e,
                           int limit) {
  size_t checked = 0;
  for (auto& [key, turns] : e.sessions) {
    auto& [user, session] = key;
    auto r = http.get("/v1/sessions/" + url_encode(session)
                      + "/messages?user_id=" + url_encode(user)
                      + "&limit=" + std::to_string(limit));
    BOOST_TEST_CONTEXT("GET messages of " << session << " limit " << limit) {
      BOOST_TEST_REQUIRE(r.status == 200, r.status << " " << r.error << r.body);
      auto body = json::parse(r.body);
      auto& msgs = body.at("messages");
      size_t n = std::min(turns.size(), static_cast<size_t>(limit));
      BOOST_TEST_REQUIRE(msgs.size() == n);
      std::set<std::string> seen;
      for (size_t i = 0; i < n; ++i) {
        auto& want = turns[turns.size() - n + i];
        auto& got = msgs[i];
        BOOST_TEST(got.at("event_id").get<std::string>() == want.event_id,
                   "position " << i);
        BOOST_TEST(got.at("content").get<std::string>() == want.content,
                   "position " << i);
        BOOST_TEST(got.at("role").get<std::string>() == want.role);
        BOOST_TEST(got.at("agent_name").get<std::string>() == want.agent_name);
        seen.insert(got.at("event_id").get<std::string>());
      }
      BOOST_TEST(seen.size() == n, "duplicate event_ids in the buffer");
    }
    ++checked;
  }
  BOOST_TEST_MESSAGE("checked the last " << limit << " buffered turns of "
                                         << checked << " sessions");
}

} // namespace

BOOST_AUTO_TEST_SUITE(end_to_end)

BOOST_FIXTURE_TEST_CASE(
  every_locomo_turn_is_stored_exactly_once_malformed_records_are_dead_lettered_and_memories_are_retrievable,
  agentmem::test::pg_database) {
  const std::string data_path =
    std::string{AGENTMEM_SOURCE_DIR} + "/../shared/data/locomo/locomo-dev.json";
  if (!fs::exists(data_path)) {
    BOOST_TEST_MESSAGE("skipped: " << data_path << " is missing");
    return;
  }
  auto samples = kafka::load_locomo(data_path);
  BOOST_TEST_REQUIRE(!!samples, "load_locomo: " << error_of(samples));
  auto e = expect_from(*samples);
  const auto bad = malformed_records();
  const int64_t n_turns = static_cast<int64_t>(e.event_ids.size());
  const int64_t n_bad = static_cast<int64_t>(bad.size());
  {
    std::set<std::string> distinct(e.event_ids.begin(), e.event_ids.end());
    BOOST_TEST_REQUIRE(distinct.size() == e.event_ids.size(),
                       "the data set itself repeats event ids");
  }
  BOOST_TEST_MESSAGE("LoCoMo: " << samples->size() << " samples, "
                                << fmt_count(n_turns) << " turns, "
                                << e.sessions.size() << " sessions; "
                                << n_bad << " malformed records");

  temp_dir tmp{"agentmem-it-locomo"};
  test_kafka cluster{broker_from_env(), {{activity_topic, 16}, {dlq_topic, 1}},
                   tmp.path()};
  BOOST_TEST_MESSAGE("Kafka: " << cluster.summary());
  const auto brokers = cluster.bootstrap();

  node_options o{cluster, activity_topic, "agentmem-locomo", url, tmp / "data"};
  agentmem_node node{o, tmp.path()};
  {
    auto err = node.start();
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  pg_probe pg{url};

  auto dlq_reader = kafka::consumer::create(dlq_consumer_config(brokers));
  BOOST_TEST_REQUIRE(!!dlq_reader, error_of(dlq_reader));
  auto prod = kafka::producer::create(brokers);
  BOOST_TEST_REQUIRE(!!prod, error_of(prod));

  auto publish_all = [&](const char* round) {
    auto t0 = steady::now();
    for (auto& [k, v] : e.records) {
      auto err = (*prod)->produce(activity_topic, k, v);
      BOOST_TEST_REQUIRE(!err, "produce: " << describe(err));
    }
    for (auto& m : bad) {
      auto err = (*prod)->produce(activity_topic, m.key, m.value);
      BOOST_TEST_REQUIRE(!err, "produce " << m.key << ": " << describe(err));
    }
    auto err = (*prod)->flush(60s);
    BOOST_TEST_REQUIRE(!err, "flush: " << describe(err));
    BOOST_TEST_MESSAGE(round << ": published " << fmt_count(n_turns)
                             << " turns + " << n_bad << " malformed in "
                             << seconds_since(t0) << " s");
  };

  // --- first delivery ------------------------------------------------------
  auto t_first = steady::now();
  publish_all("first delivery");
  {
    auto err = wait_until(
      fmt_count(n_turns) + " activities",
      180s,
      [&] {
        return pg.try_scalar("SELECT count(*) FROM user_activities")
               == n_turns;
      },
      [&] {
        auto v = pg.try_scalar("SELECT count(*) FROM user_activities");
        return v ? fmt_count(*v) : std::string{"no table yet"};
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  std::vector<kafka_record> dlq;
  {
    auto err = collect_dlq(**dlq_reader, dlq, bad.size(), 60s, node);
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  {
    // Every record of the topic (valid and malformed) is committed, offsets
    // included, in Postgres.
    const int64_t total = n_turns + n_bad;
    auto err = wait_until(
      "stored offsets of " + activity_topic + " to sum to "
        + fmt_count(total),
      60s,
      [&] { return pg.stored_offsets(o.group_id, activity_topic) == total; },
      [&] {
        return fmt_count(
          pg.stored_offsets(o.group_id, activity_topic).value_or(-1));
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  BOOST_TEST_MESSAGE("first delivery processed in " << seconds_since(t_first)
                                                    << " s");

  // Activities: exactly the published event ids, once each.
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities") == n_turns);
  BOOST_TEST(pg.scalar("SELECT count(DISTINCT event_id) FROM user_activities")
             == n_turns);
  BOOST_TEST(pg.count_present("user_activities", "event_id", e.event_ids)
             == n_turns);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM user_activities WHERE "
                       "user_id LIKE 'dlq-%' OR user_id = 'someone-else'")
             == 0);

  // Dead letters.
  check_dead_letters(dlq, bad, 1);

  // Usage rollups per (user, UTC day) = turns per (sample, UTC day of ts).
  BOOST_TEST(pg.scalar("SELECT count(*) FROM usage_analytics")
             == static_cast<int64_t>(e.usage.size()));
  BOOST_TEST(pg.scalar("SELECT count(*) FROM usage_analytics WHERE "
                       "agent_type <> 'locomo'")
             == 0);
  for (auto& [key, n] : e.usage) {
    auto got = pg.scalar(
      "SELECT coalesce(sum(activity_count), 0)::bigint FROM usage_analytics "
      "WHERE user_id = "
      + sql_quote(key.first) + " AND day = " + sql_quote(key.second)
      + "::date");
    BOOST_TEST(got == n, "usage of " << key.first << " on " << key.second);
  }

  // Sessions: one row per LoCoMo session with its number of turns.
  BOOST_TEST(pg.scalar("SELECT count(*) FROM agent_sessions")
             == static_cast<int64_t>(e.sessions.size()));
  for (auto& [key, turns] : e.sessions) {
    auto got = pg.try_scalar(
      "SELECT total_interactions FROM agent_sessions WHERE user_id = "
      + sql_quote(key.first) + " AND session_id = " + sql_quote(key.second));
    BOOST_TEST((got == static_cast<int64_t>(turns.size())),
               "session " << key.second << ": total_interactions "
                          << (got ? std::to_string(*got) : "missing")
                          << ", expected " << turns.size());
  }

  // Memories: one conversation memory per message turn, each linked.
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories") == n_turns);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories WHERE memory_type = "
                       "'conversation'")
             == n_turns);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memory_links")
             == pg.scalar("SELECT count(*) FROM memories"));
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memories m WHERE NOT EXISTS "
                       "(SELECT 1 FROM memory_links l WHERE l.memory_id = "
                       "m.memory_id AND l.point_id = m.point_id)")
             == 0);
  BOOST_TEST(pg.scalar("SELECT count(*) FROM memory_links l WHERE "
                       "l.activity_id IS NULL OR NOT EXISTS (SELECT 1 FROM "
                       "user_activities a WHERE a.activity_id = l.activity_id)")
             == 0);

  auto before = table_counts(pg);

  // --- second delivery of everything: nothing may change -------------------
  const auto dup_before =
    node.metric("agentmem_events_duplicate_total").value_or(0);
  publish_all("second delivery");
  {
    const int64_t total = 2 * (n_turns + n_bad);
    auto err = wait_until(
      "stored offsets of " + activity_topic + " to sum to "
        + fmt_count(total),
      180s,
      [&] { return pg.stored_offsets(o.group_id, activity_topic) == total; },
      [&] {
        return fmt_count(
          pg.stored_offsets(o.group_id, activity_topic).value_or(-1));
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  {
    auto err = collect_dlq(**dlq_reader, dlq, bad.size(), 60s, node);
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  auto after = table_counts(pg);
  for (auto& [label, v] : before)
    BOOST_TEST(after[label] == v, label << " changed after redelivery");
  BOOST_TEST(pg.count_present("user_activities", "event_id", e.event_ids)
             == n_turns);
  check_dead_letters(dlq, bad, 2);
  const auto dup_after =
    node.metric("agentmem_events_duplicate_total").value_or(0);
  BOOST_TEST(dup_after - dup_before >= static_cast<double>(n_turns),
             "agentmem_events_duplicate_total grew by "
               << dup_after - dup_before << ", expected at least " << n_turns);

  // --- HTTP API --------------------------------------------------------------
  {
    // The vector index trails Postgres by one stage: wait until it holds
    // every memory.
    const int64_t memories = pg.scalar("SELECT count(*) FROM memories");
    auto err = wait_until(
      "agentmem_index_vectors to reach " + fmt_count(memories), 30s,
      [&] {
        return node.metric("agentmem_index_vectors")
               == static_cast<double>(memories);
      },
      [&] {
        auto v = node.metric("agentmem_index_vectors");
        return v ? fmt_count(static_cast<int64_t>(*v)) : std::string{"none"};
      },
      [&] { return node.death(); });
    BOOST_TEST_REQUIRE(err.empty(), err);
  }
  http_client http{node.port(), 30s};

  // Session buffers: the newest turns of every session, oldest first; after
  // the redelivery they must hold no duplicates.
  check_session_buffers(http, e, 5);
  check_session_buffers(http, e, 50);

  // Usage endpoint vs usage_analytics (at most 366 days per request).
  {
    std::map<std::string, std::map<std::string, int64_t>> per_user;
    for (auto& [key, n] : e.usage)
      per_user[key.first][key.second] = n;
    for (auto& [user, days] : per_user) {
      auto it = days.begin();
      while (it != days.end()) {
        std::string from = it->first;
        std::string to = add_days(from, 365);
        auto r = http.get("/v1/users/" + url_encode(user)
                          + "/usage?from=" + from + "&to=" + to);
        BOOST_TEST_CONTEXT("GET usage of " << user << " " << from << ".."
                                           << to) {
          BOOST_TEST_REQUIRE(r.status == 200,
                             r.status << " " << r.error << r.body);
          std::map<std::string, int64_t> got;
          const auto doc = json::parse(r.body);
          for (auto& d : doc.at("days")) {
            BOOST_TEST(d.at("agent_type").get<std::string>() == "locomo");
            got[d.at("day").get<std::string>()] +=
              d.at("activity_count").get<int64_t>();
          }
          std::map<std::string, int64_t> want;
          for (; it != days.end() && it->first <= to; ++it) {
            want[it->first] = it->second;
            auto db = pg.scalar(
              "SELECT coalesce(sum(activity_count), 0)::bigint FROM "
              "usage_analytics WHERE user_id = "
              + sql_quote(user) + " AND day = " + sql_quote(it->first)
              + "::date");
            BOOST_TEST(got[it->first] == db,
                       "day " << it->first << ": API says " << got[it->first]
                              << ", usage_analytics " << db << "; response "
                              << r.body.substr(0, 300));
          }
          BOOST_TEST((got == want));
        }
      }
    }
  }

  // Retrieval against LoCoMo's gold evidence.
  {
    std::map<int, std::pair<int, int>> per_category; // hits, questions
    int hits = 0, questions = 0;
    auto t0 = steady::now();
    for (auto& s : *samples) {
      for (auto& q : s.qa) {
        if (q.evidence.empty())
          continue;
        json req = {{"user_id", s.sample_id},
                    {"query", q.question},
                    {"top_k", 10}};
        auto r = http.post_json("/v1/memories/search", req.dump());
        BOOST_TEST_REQUIRE(r.status == 200, "search '" << q.question << "': "
                                                       << r.status << " "
                                                       << r.error << r.body);
        auto results = json::parse(r.body).at("results");
        bool hit = false;
        for (auto& res : results) {
          BOOST_TEST(res.at("user_id").get<std::string>() == s.sample_id);
          auto& md = res.at("metadata");
          if (!md.contains("dia_id") || !md["dia_id"].is_string())
            continue;
          auto dia = md["dia_id"].get<std::string>();
          if (std::find(q.evidence.begin(), q.evidence.end(), dia)
              != q.evidence.end())
            hit = true;
        }
        ++questions;
        hits += hit;
        auto& c = per_category[q.category];
        c.first += hit;
        c.second += 1;
      }
    }
    BOOST_TEST_REQUIRE(questions > 0);
    double share = static_cast<double>(hits) / questions;
    BOOST_TEST_MESSAGE("retrieval hit@10: " << hits << "/" << questions
                                            << " = " << share << " ("
                                            << seconds_since(t0) << " s)");
    static const char* names[] = {"",          "multi-hop",   "temporal",
                                  "open-domain", "single-hop", "adversarial"};
    for (auto& [cat, c] : per_category)
      BOOST_TEST_MESSAGE("  category " << cat << " ("
                                       << (cat >= 1 && cat <= 5 ? names[cat]
                                                                : "?")
                                       << "): " << c.first << "/" << c.second
                                       << " = "
                                       << static_cast<double>(c.first)
                                            / c.second);
    BOOST_TEST(share >= 0.65, "hit@10 share " << share << " below 0.65");
  }

  // Shut down cleanly (SIGTERM drains and commits).
  BOOST_TEST(node.terminate() == "exit code 0");
}

BOOST_AUTO_TEST_SUITE_END()
