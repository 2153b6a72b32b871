#include <boost/test/unit_test.hpp>

#include "kafka/admin.hpp"
#include "kafka/consumer.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "test_util.hpp"

using namespace agentmem;
using namespace agentmem::kafka;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(producer_and_cluster)

BOOST_AUTO_TEST_CASE(the_mock_cluster_lists_one_bootstrap_address_per_broker) {
  auto mc = mock_cluster::start(3, {{"a", 2}, {"b", 1}});
  BOOST_REQUIRE_MESSAGE(mc, test::why(mc));
  auto bs = (*mc)->bootstrap();
  BOOST_CHECK_EQUAL(std::count(bs.begin(), bs.end(), ','), 2);
  BOOST_CHECK_EQUAL((*mc)->brokers(), 3);
  BOOST_CHECK(!(*mc)->create_topic({"c", 4}));
  BOOST_CHECK((*mc)->create_topic({"d", 0}));
  BOOST_CHECK(!mock_cluster::start(0, {}));
}

BOOST_AUTO_TEST_CASE(flush_succeeds_when_every_record_was_delivered) {
  auto mc = mock_cluster::start(1, {{"ok", 4}});
  BOOST_REQUIRE(mc);
  auto p = producer::create((*mc)->bootstrap());
  BOOST_REQUIRE(p);
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE(!(*p)->produce("ok", "k" + std::to_string(i % 5), "v"));
  // An empty key is sent as a null key.
  BOOST_REQUIRE(!(*p)->produce("ok", "", "keyless"));
  auto err = (*p)->flush(10s);
  BOOST_CHECK_MESSAGE(!err, describe(err));
  BOOST_CHECK_EQUAL((*p)->delivered_total(), 101u);
  BOOST_CHECK_EQUAL((*p)->failed_total(), 0u);
  BOOST_CHECK_EQUAL((*p)->in_flight(), 0u);
}

BOOST_AUTO_TEST_CASE(produce_waits_out_a_full_local_queue) {
  auto mc = mock_cluster::start(1, {{"tiny", 1}});
  BOOST_REQUIRE(mc);
  auto p = producer::create((*mc)->bootstrap(),
                            {{"queue.buffering.max.messages", "10"}});
  BOOST_REQUIRE(p);
  for (int i = 0; i < 500; ++i) {
    auto err = (*p)->produce("tiny", "k", "value-" + std::to_string(i));
    BOOST_REQUIRE_MESSAGE(!err, describe(err));
  }
  BOOST_CHECK(!(*p)->flush(10s));
  BOOST_CHECK_EQUAL((*p)->delivered_total(), 500u);
  // Everything arrived, in order.
  auto c = consumer::create(test::test_consumer_config(
    (*mc)->bootstrap(), test::unique_group("tiny"), {"tiny"}));
  BOOST_REQUIRE(c);
  auto got = test::collect(**c, 500);
  BOOST_REQUIRE_EQUAL(got.size(), 500u);
  for (size_t i = 0; i < got.size(); ++i)
    BOOST_CHECK_EQUAL(got[i].value, "value-" + std::to_string(i));
}

BOOST_AUTO_TEST_CASE(flush_reports_failed_deliveries_once) {
  // Nothing listens on port 1: every record times out after 500 ms.
  auto p = producer::create("127.0.0.1:1", {{"message.timeout.ms", "500"}});
  BOOST_REQUIRE(p);
  BOOST_REQUIRE(!(*p)->produce("nowhere", "k", "v1"));
  BOOST_REQUIRE(!(*p)->produce("nowhere", "k", "v2"));
  auto err = (*p)->flush(10s);
  BOOST_REQUIRE(err);
  BOOST_CHECK(err.code() == static_cast<uint8_t>(errc::kafka_error));
  BOOST_CHECK_MESSAGE(describe(err).find("2 delivery") != std::string::npos,
                      describe(err));
  BOOST_CHECK_EQUAL((*p)->failed_total(), 2u);
  // Reported once: the next flush has nothing new to complain about.
  BOOST_CHECK(!(*p)->flush(1s));
}

BOOST_AUTO_TEST_CASE(flush_times_out_while_records_are_in_flight) {
  auto p = producer::create("127.0.0.1:1", {{"message.timeout.ms", "2000"}});
  BOOST_REQUIRE(p);
  BOOST_REQUIRE(!(*p)->produce("nowhere", "k", "v"));
  auto err = (*p)->flush(200ms);
  BOOST_REQUIRE(err);
  BOOST_CHECK(err.code() == static_cast<uint8_t>(errc::timeout));
  BOOST_CHECK_EQUAL((*p)->in_flight(), 1u);
}

BOOST_AUTO_TEST_CASE(create_topics_reports_brokers_that_cannot_do_it) {
  // The mock cluster has no CreateTopics API; an absent broker never
  // answers. Both must come back as errors, within the timeout.
  auto mc = mock_cluster::start(1, {});
  BOOST_REQUIRE(mc);
  auto t0 = std::chrono::steady_clock::now();
  auto err = create_topics((*mc)->bootstrap(), {{"x", 3}}, {}, 3s);
  BOOST_CHECK(err);
  BOOST_TEST_MESSAGE("mock: " << describe(err));
  auto err2 = create_topics("127.0.0.1:1", {{"x", 3}}, {}, 1500ms);
  BOOST_CHECK(err2);
  BOOST_TEST_MESSAGE("absent: " << describe(err2));
  BOOST_CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  BOOST_CHECK(!create_topics("127.0.0.1:1", {}, {}, 100ms)); // nothing to do
}

BOOST_AUTO_TEST_SUITE_END()
