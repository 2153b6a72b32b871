#pragma once

// Shared pieces of the fault tests (on top of ../integration/harness.hpp):
// the published event set with an order-independent checksum, the
// "nothing lost, nothing duplicated" checks against Postgres, bounded waits
// for a topic to be fully stored and for the vector index to match
// Postgres, process RSS, log scanning and seeds.

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../integration/harness.hpp"
#include "tests/storage/analytics_recount.hpp"
#include "kafka/simulator.hpp"

namespace agentmem::faults {

using namespace agentmem::it;
using json = nlohmann::json;

/// $AGENTMEM_FAULT_SEED, else `fallback`; tests log the seed they use.
inline uint64_t test_seed(uint64_t fallback) {
  if (const char* s = std::getenv("AGENTMEM_FAULT_SEED"); s && *s)
    return std::strtoull(s, nullptr, 10);
  return fallback;
}

// --- the published events ------------------------------------------------------

/// 2^61 - 1: the modulus of the checksum (fits a Postgres bigint).
constexpr uint64_t checksum_modulus = (uint64_t{1} << 61) - 1;

/// The first 15 hex digits of md5(s) as a 60-bit integer: what Postgres
/// computes as ('x' || substr(md5(s), 1, 15))::bit(60)::bigint.
inline uint64_t md5_prefix60(const std::string& s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(s.data(), s.size(), d, &len, EVP_md5(), nullptr) != 1
      || len < 8)
    throw std::runtime_error("EVP_Digest(md5) failed");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | d[i];
  return v >> 4; // 64 bits -> the first 60 (15 hex digits)
}

/// Order-independent checksum of a set of event ids: the sum of
/// md5_prefix60(id) modulo 2^61 - 1.
inline uint64_t event_checksum(const std::vector<std::string>& ids) {
  uint64_t sum = 0;
  for (auto& id : ids)
    sum = (sum + md5_prefix60(id)) % checksum_modulus;
  return sum;
}

/// The same checksum over user_activities, computed by Postgres.
inline const char* stored_checksum_sql() {
  return "SELECT (coalesce(sum(('x' || substr(md5(event_id), 1, 15))::bit(60)"
         "::bigint), 0) % 2305843009213693951)::bigint FROM user_activities";
}

/// What a test publishes.
struct event_set {
  std::vector<std::pair<std::string, std::string>> records; ///< key, json
  std::vector<std::string> event_ids;                       ///< all distinct
  std::set<std::string> users;
  uint64_t checksum = 0;
  int64_t size() const {
    return static_cast<int64_t>(records.size());
  }
};

/// `n` synthetic contract-v1 events of `users` users (kafka::generate_events,
/// deterministic for `seed`), timestamps paced over `span` from now. Throws
/// when the generator repeats an event id.
inline event_set make_events(const std::string& topic, size_t n, int users,
                             uint64_t seed, std::chrono::milliseconds span) {
  kafka::simulator_config sc;
  sc.topic = topic;
  sc.users = users;
  sc.rate = static_cast<double>(n)
            / std::max(0.001, std::chrono::duration<double>(span).count());
  sc.seed = seed;
  sc.start_time_ms = wall_ms();
  event_set e;
  e.records = kafka::generate_events(sc, n);
  e.event_ids.reserve(n);
  for (auto& [key, value] : e.records) {
    e.event_ids.push_back(json::parse(value).at("event_id").get<std::string>());
    e.users.insert(key);
  }
  std::set<std::string> distinct(e.event_ids.begin(), e.event_ids.end());
  if (distinct.size() != n || e.records.size() != n)
    throw std::runtime_error("generate_events produced "
                             + std::to_string(e.records.size())
                             + " events with "
                             + std::to_string(distinct.size())
                             + " distinct ids, expected "
                             + std::to_string(n));
  e.checksum = event_checksum(e.event_ids);
  return e;
}

// --- checks ------------------------------------------------------------------

/// Postgres holds exactly the published events, once each, and everything
/// derived from them is consistent: the event-id set (count, distinct count,
/// every published id present, order-independent checksum), one row per
/// Kafka (partition, offset), usage_analytics, analytics_rollups and
/// agent_sessions recounted
/// from user_activities, a conversation memory for every message with
/// content, no memory without its activity, a link for every memory.
/// Reports each broken promise as a (non-fatal) Boost.Test failure.
inline void check_exactly_once(pg_probe& pg, const event_set& ev) {
  const int64_t n = ev.size();
  BOOST_TEST_MESSAGE("checking " << fmt_count(n)
                                 << " published events against Postgres");
  const auto rows = pg.scalar("SELECT count(*) FROM user_activities");
  BOOST_TEST(rows == n, "user_activities has " << fmt_count(rows)
                                               << " rows, published "
                                               << fmt_count(n));
  const auto distinct =
    pg.scalar("SELECT count(DISTINCT event_id) FROM user_activities");
  BOOST_TEST(distinct == n, "user_activities has " << fmt_count(distinct)
                                                   << " distinct event ids, "
                                                      "published "
                                                   << fmt_count(n));
  const auto present = pg.count_present("user_activities", "event_id",
                                        ev.event_ids);
  BOOST_TEST(present == n, fmt_count(present) << " of the " << fmt_count(n)
                                              << " published event ids are "
                                                 "in user_activities ("
                                              << fmt_count(n - present)
                                              << " missing)");
  const auto sum = static_cast<uint64_t>(pg.scalar(stored_checksum_sql()));
  BOOST_TEST(sum == ev.checksum, "event-id checksum: Postgres "
                                   << sum << ", published " << ev.checksum);
  BOOST_TEST_MESSAGE("event-id set: " << fmt_count(rows) << " rows, "
                                      << fmt_count(distinct) << " distinct, "
                                      << fmt_count(present)
                                      << " published present, checksum "
                                      << sum << " (published " << ev.checksum
                                      << ")");
  // Every Kafka record stored once: (partition, offset) is unique.
  const auto positions = pg.scalar(
    "SELECT count(DISTINCT (source_partition, source_offset)) FROM "
    "user_activities");
  BOOST_TEST(positions == n, fmt_count(positions)
                               << " distinct (partition, offset) positions "
                                  "for "
                               << fmt_count(n) << " published records");

  // Rollups count every event once, however often it was delivered.
  const auto usage_sum = pg.scalar(
    "SELECT coalesce(sum(activity_count), 0)::bigint FROM usage_analytics");
  BOOST_TEST(usage_sum == rows, "sum(usage_analytics.activity_count) = "
                                  << fmt_count(usage_sum)
                                  << ", count(user_activities) = "
                                  << fmt_count(rows));
  const auto usage_diff = pg.scalar(
    "SELECT count(*) FROM (SELECT user_id, (ts AT TIME ZONE 'UTC')::date AS "
    "day, agent_type, count(*) AS n FROM user_activities GROUP BY 1, 2, 3) a "
    "FULL JOIN usage_analytics u USING (user_id, day, agent_type) WHERE a.n "
    "IS DISTINCT FROM u.activity_count");
  BOOST_TEST(usage_diff == 0,
             usage_diff << " (user, day, agent_type) groups where "
                           "usage_analytics.activity_count differs from a "
                           "recount of user_activities");
  // Event-time rollups (analytics_rollups), every kind and grain: events,
  // errors, tokens, processing time and the sketch's count equal a recount.
  const auto analytics_diff = pg.scalar(test::analytics_recount_diff_sql());
  BOOST_TEST(analytics_diff == 0,
             analytics_diff << " (grain, window, kind, group) rows of "
                               "analytics_rollups differ from a recount of "
                               "user_activities");
  const auto session_diff = pg.scalar(
    "SELECT count(*) FROM (SELECT user_id, session_id, count(*) AS n FROM "
    "user_activities GROUP BY 1, 2) a FULL JOIN agent_sessions s USING "
    "(user_id, session_id) WHERE a.n IS DISTINCT FROM s.total_interactions");
  BOOST_TEST(session_diff == 0,
             session_diff << " sessions where agent_sessions."
                             "total_interactions differs from a recount of "
                             "user_activities");

  // Memories: none missing for a message, none without an activity, each
  // linked once.
  const auto no_memory = pg.scalar(
    "SELECT count(*) FROM user_activities a WHERE a.event_type = 'message' "
    "AND coalesce(a.content, '') <> '' AND NOT EXISTS (SELECT 1 FROM "
    "memories m WHERE m.event_id = a.event_id AND m.memory_type = "
    "'conversation')");
  BOOST_TEST(no_memory == 0, no_memory << " stored messages with content "
                                          "have no conversation memory");
  const auto orphans = pg.scalar(
    "SELECT count(*) FROM memories m WHERE NOT EXISTS (SELECT 1 FROM "
    "user_activities a WHERE a.event_id = m.event_id)");
  // (So every memory's link, the memory_links view, names its activity.)
  BOOST_TEST(orphans == 0, orphans << " memories have no activity");
  const auto memories = pg.scalar("SELECT count(*) FROM memories");
  BOOST_TEST(memories > 0, "no memories at all");
}

/// Waits (at most `timeout`) until the offsets stored in Postgres for
/// `group`/`topic` sum to `total`, i.e. every published record of the topic
/// was committed. The status names the stored sum, the row count, the
/// partitions behind and each node's consumer metrics; the wait stops early
/// when every node is dead.
inline std::string wait_all_stored(pg_probe& pg, const std::string& group,
                                   const std::string& topic, int64_t total,
                                   std::chrono::milliseconds timeout,
                                   const std::string& brokers, int partitions,
                                   const std::string& work_file,
                                   const std::vector<agentmem_node*>& nodes) {
  return wait_until(
    "the offsets stored for " + topic + " to sum to " + fmt_count(total)
      + " (every published record committed)",
    timeout, [&] { return pg.stored_offsets(group, topic) == total; },
    [&] {
      std::string s =
        fmt_count(pg.stored_offsets(group, topic).value_or(-1))
        + " (user_activities: "
        + fmt_count(
          pg.try_scalar("SELECT count(*) FROM user_activities").value_or(-1))
        + "; " + offsets_report(pg, brokers, group, topic, partitions, work_file)
        + ")";
      for (size_t i = 0; i < nodes.size(); ++i)
        s += "; node " + std::to_string(i) + ": "
             + (nodes[i]->running()
                  ? consumer_metrics_report(nodes[i]->metrics())
                  : std::string{"not running"});
      return s;
    },
    [&] {
      for (auto* n : nodes)
        if (n->running())
          return std::string{};
      return nodes.empty() ? std::string{} : nodes.front()->death();
    },
    500ms);
}

/// Waits (at most `timeout`) until the node's index holds what Postgres
/// holds: `agentmem_index_vectors` equals count(memories), index_sync has
/// read up to max(memories.seq) (`agentmem_index_watermark_seq`: memories
/// updated in place keep their count but get a new seq) and no batch is in
/// flight (vector linking applied its last one). "" or what was seen.
inline std::string wait_index_matches(agentmem_node& node, pg_probe& pg,
                                      const std::string& when,
                                      std::chrono::milliseconds timeout = 60s) {
  int64_t memories = -1;
  return wait_until(
    "agentmem_index_vectors of the node on port " + std::to_string(node.port())
      + " to equal count(memories), its index watermark to reach "
        "max(memories.seq) and no batch in flight "
      + when,
    timeout,
    [&] {
      memories = pg.scalar("SELECT count(*) FROM memories");
      const auto max_seq =
        pg.scalar("SELECT coalesce(max(seq), 0) FROM memories");
      return node.metric("agentmem_index_vectors")
               == static_cast<double>(memories)
             && node.metric("agentmem_index_watermark_seq").value_or(-1)
                  >= static_cast<double>(max_seq)
             && node.metric("agentmem_batches_in_flight").value_or(0) == 0;
    },
    [&] {
      auto v = node.metric("agentmem_index_vectors");
      return "agentmem_index_vectors "
             + (v ? fmt_count(static_cast<int64_t>(*v)) : std::string{"none"})
             + ", count(memories) " + fmt_count(memories)
             + ", agentmem_index_watermark_seq "
             + std::to_string(static_cast<int64_t>(
               node.metric("agentmem_index_watermark_seq").value_or(-1)))
             + ", max(memories.seq) "
             + std::to_string(
               pg.try_scalar("SELECT coalesce(max(seq), 0) FROM memories")
                 .value_or(-1))
             + ", agentmem_batches_in_flight "
             + std::to_string(static_cast<int64_t>(
               node.metric("agentmem_batches_in_flight").value_or(-1)));
    },
    [&] { return node.death(); }, 500ms);
}

// --- processes and logs -------------------------------------------------------

/// VmRSS of `pid` in KiB (from /proc/<pid>/status), -1 when unreadable.
inline int64_t rss_kib(pid_t pid) {
  std::ifstream f{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atoll(line.c_str() + 6);
  return -1;
}

/// The part of agentmem's log written by start #`start` (and later), i.e.
/// after the harness' "=== integration test: start #N ===" marker.
inline std::string log_since_start(const std::string& log_path, int start) {
  std::ifstream f{log_path};
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  auto pos = text.find("=== integration test: start #" + std::to_string(start)
                       + " ===");
  return pos == std::string::npos ? std::string{} : text.substr(pos);
}

/// How often `needle` occurs in `text`.
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

/// Lines of `text` containing `needle` (at most `max`), for failure messages.
inline std::string lines_with(const std::string& text, const std::string& needle,
                              size_t max = 10) {
  std::istringstream in{text};
  std::string line, out;
  size_t n = 0;
  while (std::getline(in, line) && n < max)
    if (line.find(needle) != std::string::npos) {
      out += line + '\n';
      ++n;
    }
  return out;
}

/// Partitions that have an `agentmem_consumer_lag_records` sample in a
/// /metrics text (the partitions that node was ever assigned).
inline std::set<int> lag_partitions(const std::string& metrics_text) {
  std::set<int> out;
  static const std::regex re{
    R"re(^agentmem_consumer_lag_records\{[^}]*partition="(\d+)")re"};
  std::istringstream in{metrics_text};
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, re))
      out.insert(std::stoi(m[1].str()));
  return out;
}

/// The partition count of the most recent "kafka consumer: assigned N
/// partition(s)" line in a log text, -1 when there is none.
inline int last_assigned(const std::string& text) {
  static const std::regex re{R"(kafka consumer: assigned (\d+) partition)"};
  int last = -1;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
       it != std::sregex_iterator(); ++it)
    last = std::stoi((*it)[1].str());
  return last;
}

/// The whole file as text ("" when unreadable).
inline std::string read_text(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Producer properties for the fault tests: delivery retried for up to five
/// minutes across broker outages.
inline std::map<std::string, std::string> patient_producer_properties() {
  return {{"message.timeout.ms", "300000"},
          {"reconnect.backoff.max.ms", "1000"}};
}

} // namespace agentmem::faults
