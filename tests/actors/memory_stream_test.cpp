// The memory change stream end to end below the pipeline: Postgres changes
// (pipeline batches, API PATCH, user deletion) relayed by the outbox
// publisher to librdkafka's mock cluster and read back with a consumer;
// and per-tenant webhooks against a real HTTP receiver (cpp-httplib server
// in this process) that checks signatures, fails the first attempts, or
// always fails.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pqxx/pqxx>

#include "actors/outbox_publisher.hpp"
#include "actors/webhook_dispatcher.hpp"
#include "domain/embedding.hpp"
#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "messages/atoms.hpp"
#include "messages/batch.hpp"
#include "metrics/registry.hpp"
#include "storage/governance_store.hpp"
#include "storage/memory_catalog.hpp"
#include "storage/outbox_store.hpp"
#include "storage/postgres_store.hpp"
#include "tests/kafka/test_util.hpp"
#include "tests/storage/change_records.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/migrated_store.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::test::why;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int64_t t0 = 1'714'557'600'000; // 2024-05-01T10:00:00Z
const std::string topic = "agent.memory.v1";

domain::hashing_embedder embedder{8};

memory mem(const std::string& id, uint64_t point, const std::string& user,
           const std::string& text) {
  memory m = test::s1_memory(id, point, "episodic", user, text);
  m.ts_ms = m.turn_ts_ms = t0 + static_cast<int64_t>(point);
  m.importance = 0.5;
  std::vector<std::string_view> in{m.text};
  std::vector<std::vector<float>> out;
  BOOST_REQUIRE(!embedder.embed(in, out));
  m.vector = out[0];
  return m;
}

struct fixture : test::pg_database {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::unique_ptr<storage::postgres_store> store;

  fixture() : store(test::open_migrated(url)) {
  }

  void commit(std::vector<memory> ms) {
    batch b;
    b.memories = std::move(ms);
    auto r = store->commit_batch(b, "g", embedder.model());
    BOOST_REQUIRE_MESSAGE(r, why(r));
  }

  void stop(caf::actor& a) {
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::scoped_actor self{sys};
    self->wait_for(a);
  }
};

// A metric's value; 0 before its first use.
double metric(const std::string& name) {
  auto text = metrics::global().render();
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos)
    return 0.0;
  return std::stod(text.substr(at + name.size() + 2));
}

std::string hmac_hex(const std::string& key, const std::string& msg) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac,
       &len);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", mac[i]);
    out += buf;
  }
  return out;
}

// A webhook receiver on 127.0.0.1: /ok answers 500 to the first
// `fail_first` POSTs and 204 afterwards, /down always 503; requests
// without a valid signature (for `secret`, over "<timestamp>.<body>") get
// 401 and are counted.
struct receiver {
  httplib::Server srv;
  std::thread th;
  int port = 0;
  std::string secret;
  int fail_first = 0;
  std::mutex mtx;
  std::vector<json> accepted;          // /ok, in arrival order
  std::vector<std::string> attempts;   // X-Agentmem-Attempt of accepted
  std::set<std::string> deliveries;    // X-Agentmem-Delivery seen on /ok
  int ok_calls = 0, down_calls = 0, bad_signatures = 0;

  receiver(std::string key, int fails) : secret(std::move(key)), fail_first(fails) {
    auto verified = [this](const httplib::Request& req) {
      auto ts = req.get_header_value("X-Agentmem-Timestamp");
      auto sig = req.get_header_value("X-Agentmem-Signature");
      auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
      bool fresh = !ts.empty() && std::llabs(now - std::stoll(ts)) <= 300;
      return fresh && sig == "sha256=" + hmac_hex(secret, ts + "." + req.body)
             && req.get_header_value("Content-Type") == "application/json";
    };
    srv.Post("/ok", [this, verified](const httplib::Request& req,
                                     httplib::Response& res) {
      std::lock_guard<std::mutex> guard{mtx};
      if (!verified(req)) {
        ++bad_signatures;
        res.status = 401;
        return;
      }
      deliveries.insert(req.get_header_value("X-Agentmem-Delivery"));
      if (ok_calls++ < fail_first) {
        res.status = 500;
        return;
      }
      accepted.push_back(json::parse(req.body));
      attempts.push_back(req.get_header_value("X-Agentmem-Attempt"));
      res.status = 204;
    });
    srv.Post("/down", [this, verified](const httplib::Request& req,
                                       httplib::Response& res) {
      std::lock_guard<std::mutex> guard{mtx};
      if (!verified(req))
        ++bad_signatures;
      ++down_calls;
      res.status = 503;
    });
    port = srv.bind_to_any_port("127.0.0.1");
    BOOST_REQUIRE(port > 0);
    th = std::thread{[this] { srv.listen_after_bind(); }};
  }

  ~receiver() {
    srv.stop();
    th.join();
  }
};

template <class F>
bool wait_until(F pred, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_stream)

BOOST_FIXTURE_TEST_CASE(changes_reach_the_topic_in_order_per_user_and_a_deleted_users_content_never_does,
                        fixture) {
  const std::string secret = "alice-secret-peanut-allergy";
  commit({mem("a1", 1, "alice", secret + " one"),
          mem("b1", 2, "bob", "bob likes chess")});
  commit({mem("a2", 3, "alice", secret + " two"),
          mem("b2", 4, "bob", "bob plays on sundays")});
  {
    auto cat = storage::memory_catalog::connect(url);
    BOOST_REQUIRE_MESSAGE(cat, why(cat));
    memory_patch p;
    p.text = "bob likes chess and go";
    memory now;
    auto u = (*cat)->update("bob", "b1", p, embedder, now);
    BOOST_REQUIRE_MESSAGE(u, why(u));
    // Alice is deleted before anything was published.
    auto gov = storage::governance_store::connect(url);
    BOOST_REQUIRE_MESSAGE(gov, why(gov));
    auto del = (*gov)->delete_user("alice");
    BOOST_REQUIRE_MESSAGE(del, why(del));
  }
  auto mc = kafka::mock_cluster::start(1, {{topic, 3}});
  BOOST_REQUIRE_MESSAGE(mc, why(mc));
  auto p = kafka::producer::create((*mc)->bootstrap());
  BOOST_REQUIRE_MESSAGE(p, why(p));
  auto pc = actors::memory_publisher_config();
  pc.postgres_url = url;
  pc.producer = std::shared_ptr<kafka::producer>(std::move(*p));
  pc.max_records = 2; // several relay passes
  pc.interval = 50ms;
  auto pub = sys.spawn<caf::detached>(actors::outbox_publisher, pc);
  {
    caf::scoped_actor self{sys};
    self->request(pub, 20s, flush_atom::value)
      .receive([](uint64_t) {},
               [](caf::error& err) {
                 BOOST_FAIL("flush failed: " << describe(err));
               });
  }
  // More changes after the first relay: published by the timer.
  commit({mem("b3", 5, "bob", "bob learns shogi")});
  auto cons = kafka::consumer::create(kafka::test::test_consumer_config(
    (*mc)->bootstrap(), kafka::test::unique_group("memory-stream"), {topic}));
  BOOST_REQUIRE_MESSAGE(cons, why(cons));
  auto got = kafka::test::collect(**cons, 7, 30s);
  stop(pub);
  BOOST_REQUIRE_EQUAL(got.size(), 7u);
  std::map<std::string, std::vector<std::string>> by_key;
  std::map<std::string, int32_t> partition_of;
  for (auto& r : got) {
    BOOST_TEST(r.value.find(secret) == std::string::npos);
    BOOST_TEST(r.value.find("peanut") == std::string::npos);
    auto v = json::parse(r.value);
    BOOST_TEST(v["user_id"] == r.key);
    if (partition_of.count(r.key))
      BOOST_TEST(partition_of[r.key] == r.source.partition);
    partition_of[r.key] = r.source.partition;
    by_key[r.key].push_back(test::change_summary(v));
  }
  BOOST_TEST(by_key["bob"] == (std::vector<std::string>{"ADD b1 1", "ADD b2 1",
                                                         "UPDATE b1 2",
                                                         "ADD b3 1"}),
             boost::test_tools::per_element());
  BOOST_TEST(by_key["alice"] == (std::vector<std::string>{"DELETE a1 2",
                                                           "DELETE a2 2",
                                                           "USER_DELETED - -"}),
             boost::test_tools::per_element());
  BOOST_TEST(metric("agentmem_memory_outbox_pending") == 0.0);
  BOOST_TEST(metric("agentmem_memory_changes_published_total") >= 7.0);
}

BOOST_FIXTURE_TEST_CASE(webhooks_are_signed_retried_in_order_and_dead_lettered,
                        fixture) {
  const std::string secret = "whsec-0123456789abcdef";
  receiver rx{secret, 2};
  commit({mem("a1", 1, "acme-1", "first acme memory"),
          mem("a2", 2, "acme-1", "second acme memory"),
          mem("z1", 3, "zeta-1", "zeta memory")});
  commit({mem("a3", 4, "acme-1", "third acme memory")});
  {
    // What the memory publisher does after Kafka acknowledged the records.
    auto relay = storage::outbox_store::connect(
      url, storage::memory_outbox_spec({{"acme", "acme-"}, {"zeta", "zeta-"}}));
    BOOST_REQUIRE_MESSAGE(relay, why(relay));
    auto n = (*relay)->relay(100, [](const auto&) { return caf::error{}; });
    BOOST_REQUIRE_MESSAGE(n, why(n));
    BOOST_REQUIRE_EQUAL(*n, 4u);
  }
  auto base = "http://127.0.0.1:" + std::to_string(rx.port);
  actors::webhook_dispatcher_config wc;
  wc.postgres_url = url;
  wc.endpoints = {{"acme", "acme-", base + "/ok", secret},
                  {"zeta", "zeta-", base + "/down", secret}};
  wc.max_attempts = 3;
  wc.backoff_initial = 30ms;
  wc.backoff_max = 200ms;
  wc.interval = 20ms;
  wc.timeout = 2000ms;
  auto retries_before = metric("agentmem_webhook_retries_total");
  auto dead_before = metric("agentmem_webhook_dead_letters_total");
  auto disp = sys.spawn<caf::detached>(actors::webhook_dispatcher, wc);
  auto dead_rows = [&] {
    pqxx::connection c{url};
    pqxx::read_transaction tx{c};
    return tx.exec("SELECT count(*) FROM memory_webhook_dead_letters")[0][0]
      .as<int64_t>();
  };
  bool done = wait_until([&] {
    std::lock_guard<std::mutex> guard{rx.mtx};
    return rx.accepted.size() == 3u;
  }) && wait_until([&] { return dead_rows() == 1; });
  stop(disp);
  BOOST_REQUIRE(done);
  std::lock_guard<std::mutex> guard{rx.mtx};
  BOOST_TEST(rx.bad_signatures == 0);
  // In order per user although the first record needed three attempts.
  std::vector<std::string> ids;
  for (auto& v : rx.accepted)
    ids.push_back(v["memory_id"].get<std::string>());
  BOOST_TEST(ids == (std::vector<std::string>{"a1", "a2", "a3"}),
             boost::test_tools::per_element());
  BOOST_TEST(rx.attempts.front() == "3");
  BOOST_TEST(rx.ok_calls == 5);
  BOOST_TEST(rx.deliveries.size() == 3u); // a retry keeps its delivery id
  BOOST_TEST(rx.accepted[0]["schema"] == "agent.memory.v1");
  BOOST_TEST(rx.down_calls == 3);
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  auto dl = tx.exec("SELECT endpoint, record_key, attempts, reason,"
                    " payload->>'memory_id' FROM memory_webhook_dead_letters");
  BOOST_REQUIRE_EQUAL(dl.size(), 1u);
  BOOST_TEST(dl[0][0].as<std::string>() == "zeta");
  BOOST_TEST(dl[0][1].as<std::string>() == "zeta-1");
  BOOST_TEST(dl[0][2].as<int>() == 3);
  BOOST_TEST(dl[0][3].as<std::string>() == "HTTP 503 (attempt 3 of 3)");
  BOOST_TEST(dl[0][4].as<std::string>() == "z1");
  BOOST_TEST(tx.exec("SELECT count(*) FROM memory_webhook_queue")[0][0]
               .as<int64_t>() == 0);
  BOOST_TEST(metric("agentmem_webhook_retries_total") - retries_before == 4.0);
  BOOST_TEST(metric("agentmem_webhook_dead_letters_total") - dead_before
             == 1.0);
}

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_the_cap_with_equal_jitter) {
  std::mt19937_64 rng{42};
  for (int i = 0; i < 200; ++i) {
    auto d1 = actors::webhook_backoff(1, 1000ms, 60000ms, rng).count();
    auto d4 = actors::webhook_backoff(4, 1000ms, 60000ms, rng).count();
    auto d20 = actors::webhook_backoff(20, 1000ms, 60000ms, rng).count();
    BOOST_TEST((d1 >= 500 && d1 <= 1000));
    BOOST_TEST((d4 >= 4000 && d4 <= 8000));
    BOOST_TEST((d20 >= 30000 && d20 <= 60000));
  }
}

BOOST_AUTO_TEST_CASE(the_signature_is_hmac_sha256_over_timestamp_dot_body) {
  // Expected values from Python's hmac module:
  // hmac.new(key, b"<timestamp>.<body>", hashlib.sha256).hexdigest()
  BOOST_TEST(actors::webhook_signature("whsec-0123456789abcdef", "1714557600",
                                       R"({"op": "ADD"})")
             == "980f54be2ed7508ae4148c2581d0e20bb032198537fae0a60f6626f096d608b3");
  BOOST_TEST(actors::webhook_signature("whsec-0123456789abcdef", "1714557601",
                                       R"({"op": "ADD"})")
             != actors::webhook_signature("whsec-0123456789abcdef",
                                          "1714557600", R"({"op": "ADD"})"));
}

BOOST_AUTO_TEST_SUITE_END()
