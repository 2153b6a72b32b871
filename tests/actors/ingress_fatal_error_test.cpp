// A fatal consumer error stops ingress with that error (actors/ingress.hpp)
// instead of leaving the node polling a consumer that fetches nothing more.
// The fatal error is librdkafka's own: the mock cluster's group coordinator
// answers heartbeats with FENCED_INSTANCE_ID, as a broker does when another
// member joined with the node's group.instance.id (two nodes given the same
// instance id; or, seen in tests/faults on a loaded machine, a member's own
// rejoin after a JoinGroup that timed out).

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include <caf/all.hpp>
#include <librdkafka/rdkafka.h>

#include "actors/ingress.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "tests/actors/caf_fixture.hpp"
#include "tests/kafka/test_util.hpp"

using namespace agentmem;
using namespace std::chrono_literals;

namespace {

// Counts the batches it gets and acknowledges none: the test is about the
// consumer.
caf::behavior counting_sink(caf::event_based_actor*,
                            std::shared_ptr<std::atomic<int>> batches) {
  return {[batches](batch&) { ++*batches; }};
}

} // namespace

BOOST_AUTO_TEST_SUITE(ingress_fatal_error)

BOOST_AUTO_TEST_CASE(a_fenced_static_member_stops_ingress_with_the_error) {
  const std::string topic = "ingress.fatal";
  auto cluster = kafka::mock_cluster::start(1, {{topic, 2}});
  BOOST_REQUIRE(cluster);
  auto prod = kafka::producer::create((*cluster)->bootstrap());
  BOOST_REQUIRE(prod);
  BOOST_REQUIRE(!(*prod)->produce(topic, "u1", "{\"n\":0}"));
  BOOST_REQUIRE(!(*prod)->flush(10s));
  const auto group = kafka::test::unique_group("ingress-fatal");

  test::threaded_config cfg;
  caf::actor_system sys{cfg};
  auto batches = std::make_shared<std::atomic<int>>(0);
  auto sink = sys.spawn(counting_sink, batches);
  actors::ingress_config icf;
  icf.consumer = kafka::test::test_consumer_config((*cluster)->bootstrap(),
                                                   group, {topic});
  icf.consumer.properties["group.instance.id"] = "node-0";
  icf.status = std::make_shared<actors::health>();
  icf.acks = std::make_shared<actors::ack_tracker>();
  auto ingress = sys.spawn<caf::detached>(actors::ingress, icf);
  caf::scoped_actor self{sys};
  self->monitor(ingress);
  self->send(ingress, sink_atom::value, sink);
  // Ingress is a member of the group once it got the record.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (*batches == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  BOOST_REQUIRE_EQUAL(batches->load(), 1);

  // The group coordinator answers the member's next heartbeats with
  // FENCED_INSTANCE_ID, as a broker does once another member took the
  // group.instance.id; librdkafka raises its fatal error on that.
  (*cluster)->fail_requests(12 /* Heartbeat */,
                            RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, 3);
  std::optional<caf::error> reason;
  self->receive([&](caf::down_msg& dm) { reason = dm.reason; },
                caf::after(std::chrono::seconds(60)) >> [] {});
  BOOST_REQUIRE_MESSAGE(reason.has_value(),
                        "ingress still runs 60 s after it was fenced");
  BOOST_TEST(reason->category() == errc_category);
  BOOST_TEST(reason->code() == static_cast<uint8_t>(errc::kafka_error));
  auto text = sys.render(*reason);
  BOOST_TEST(text.find("fatal error") != std::string::npos, text);
  BOOST_TEST(text.find("fenced") != std::string::npos, text);
  self->send_exit(sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
