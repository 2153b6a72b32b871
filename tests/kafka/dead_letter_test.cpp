#include <boost/test/unit_test.hpp>

#include <map>

#include "kafka/consumer.hpp"
#include "kafka/dead_letter.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "test_util.hpp"

using namespace agentmem;
using namespace agentmem::kafka;
using namespace std::chrono_literals;

namespace {

std::multimap<std::string, std::string> header_map(const kafka_record& r) {
  return {r.headers.begin(), r.headers.end()};
}

dead_letter make_dead_letter(int i) {
  dead_letter d;
  d.record.source = {"agent.activity.v1", i % 3, 100 + i};
  d.record.key = "user-" + std::to_string(i);
  d.record.value = i == 0 ? std::string("{\"not\": json") : "\x01\x02 bytes";
  d.record.headers = {{"trace-id", "t" + std::to_string(i)},
                      {"content-type", "application/json"}};
  d.reason_code = i == 0 ? "invalid_json" : "missing_field";
  d.reason = i == 0 ? "unexpected end of input at byte 12"
                    : "required field user_id is missing";
  return d;
}

} // namespace

BOOST_AUTO_TEST_SUITE(dead_letters)

BOOST_AUTO_TEST_CASE(dlq_records_keep_key_value_headers_and_add_connect_headers) {
  auto mc = mock_cluster::start(1, {{"agent.activity.v1.dlq", 1}});
  BOOST_REQUIRE(mc);
  auto p = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(p);
  std::vector<dead_letter> xs{make_dead_letter(0), make_dead_letter(1)};
  auto err = produce_dead_letters(**p, "agent.activity.v1.dlq", xs, 10s);
  BOOST_REQUIRE_MESSAGE(!err, describe(err));

  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("dlq"), {"agent.activity.v1.dlq"}));
  BOOST_REQUIRE(c);
  auto got = test::collect(**c, 2);
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto& r = got[i];
    auto& d = xs[i];
    BOOST_CHECK_EQUAL(r.key, d.record.key);
    BOOST_CHECK(r.value == d.record.value);
    auto h = header_map(r);
    BOOST_CHECK_EQUAL(h.count("trace-id"), 1u);
    BOOST_CHECK_EQUAL(h.find("trace-id")->second, d.record.headers[0].second);
    BOOST_CHECK_EQUAL(h.find("content-type")->second, "application/json");
    BOOST_CHECK_EQUAL(h.find("__connect.errors.topic")->second,
                      "agent.activity.v1");
    BOOST_CHECK_EQUAL(h.find("__connect.errors.partition")->second,
                      std::to_string(d.record.source.partition));
    BOOST_CHECK_EQUAL(h.find("__connect.errors.offset")->second,
                      std::to_string(d.record.source.offset));
    BOOST_CHECK_EQUAL(h.find("__connect.errors.exception.class.name")->second,
                      "agentmem.contract." + d.reason_code);
    BOOST_CHECK_EQUAL(h.find("__connect.errors.exception.message")->second,
                      d.reason);
    BOOST_CHECK_EQUAL(r.headers.size(), 7u);
  }
}

BOOST_AUTO_TEST_CASE(a_record_dead_lettered_twice_carries_one_set_of_error_headers) {
  auto d = make_dead_letter(2);
  d.record.headers.emplace_back(dlq_headers::topic, "older.topic");
  d.record.headers.emplace_back(dlq_headers::exception_message, "older");
  auto hs = dead_letter_headers(d);
  int topics = 0;
  for (auto& [k, v] : hs)
    if (k == dlq_headers::topic) {
      ++topics;
      BOOST_CHECK_EQUAL(v, "agent.activity.v1");
    }
  BOOST_CHECK_EQUAL(topics, 1);
  BOOST_CHECK_EQUAL(hs.size(), 7u);
  BOOST_CHECK_EQUAL(hs.front().first, "trace-id"); // original order first
}

BOOST_AUTO_TEST_CASE(no_dead_letters_is_a_no_op) {
  auto p = producer::create("127.0.0.1:1");
  BOOST_REQUIRE(p);
  BOOST_CHECK(!produce_dead_letters(**p, "dlq", {}, 100ms));
}

BOOST_AUTO_TEST_SUITE_END()
