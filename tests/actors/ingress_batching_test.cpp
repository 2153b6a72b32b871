// Adaptive batching in ingress (actors/ingress.hpp): an idle pipeline gets
// a batch at once, a busy one gets the records that arrived meanwhile as
// one batch. Real librdkafka consumer against librdkafka's mock cluster;
// the sink is an actor of ours standing in for capture.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/ingress.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "messages/atoms.hpp"
#include "metrics/registry.hpp"
#include "tests/actors/caf_fixture.hpp"
#include "tests/kafka/test_util.hpp"

using namespace agentmem;

namespace {

struct received {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<batch> batches;

  size_t records() {
    size_t n = 0;
    for (auto& b : batches)
      n += b.records.size();
    return n;
  }

  // Waits until `pred()` holds (under the lock); false after 60 s.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, std::chrono::seconds(60), pred);
  }
};

caf::behavior recording_sink(caf::event_based_actor*,
                             std::shared_ptr<received> got) {
  return {[got](batch& b) {
    std::lock_guard<std::mutex> guard{got->mtx};
    got->batches.push_back(std::move(b));
    got->cv.notify_all();
  }};
}

// Ingress of `topic` (1000-record batches) in a fresh consumer group.
actors::ingress_config ingress_of(const std::string& bootstrap,
                                  const std::string& topic,
                                  size_t max_in_flight) {
  actors::ingress_config icf;
  icf.consumer.brokers = bootstrap;
  icf.consumer.group_id = kafka::test::unique_group(topic);
  icf.consumer.topics = {topic};
  icf.max_batch_records = 1000;
  icf.max_in_flight = max_in_flight;
  icf.status = std::make_shared<actors::health>();
  icf.acks = std::make_shared<actors::ack_tracker>();
  return icf;
}

batch_ack ack_of(const batch& b) {
  batch_ack a;
  a.id = b.id;
  a.offsets = b.offsets;
  a.created_ns = b.created_ns;
  a.events = b.records.size();
  return a;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ingress_batching)

BOOST_AUTO_TEST_CASE(idle_pipeline_gets_a_batch_at_once_busy_one_gets_what_arrived_meanwhile) {
  const std::string topic = "ingress.batching";
  auto cluster = kafka::mock_cluster::start(1, {{topic, 1}});
  BOOST_REQUIRE(cluster);
  auto prod = kafka::producer::create((*cluster)->bootstrap());
  BOOST_REQUIRE(prod);
  test::threaded_config cfg;
  caf::actor_system sys{cfg};
  auto got = std::make_shared<received>();
  auto sink = sys.spawn(recording_sink, got);
  // The pipeline takes a batch while < 1 is in flight.
  auto icf = ingress_of((*cluster)->bootstrap(), topic, 2);
  auto ingress = sys.spawn<caf::detached>(actors::ingress, icf);
  caf::scoped_actor self{sys};
  self->send(ingress, sink_atom::value, sink);

  // Idle: one record is one batch, sent without waiting for more.
  BOOST_REQUIRE(!(*prod)->produce(topic, "u1", "{\"n\":0}"));
  BOOST_REQUIRE(!(*prod)->flush(std::chrono::seconds(10)));
  BOOST_REQUIRE(got->wait([&] { return got->batches.size() == 1; }));
  batch first;
  {
    std::lock_guard<std::mutex> guard{got->mtx};
    BOOST_CHECK_EQUAL(got->batches[0].records.size(), 1u);
    first = got->batches[0];
  }

  // Busy (the first batch is not acknowledged): records that arrive now
  // wait in the open batch instead of going out one by one.
  for (int i = 1; i <= 50; ++i)
    BOOST_REQUIRE(!(*prod)->produce(topic, "u1",
                                    "{\"n\":" + std::to_string(i) + "}"));
  BOOST_REQUIRE(!(*prod)->flush(std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  {
    std::lock_guard<std::mutex> guard{got->mtx};
    BOOST_CHECK_EQUAL(got->batches.size(), 1u);
  }

  // Acknowledged: everything that arrived meanwhile comes as one batch.
  self->send(ingress, ack_of(first));
  BOOST_REQUIRE(got->wait([&] { return got->records() == 51; }));
  std::vector<batch> all;
  {
    std::lock_guard<std::mutex> guard{got->mtx};
    all = got->batches;
  }
  BOOST_CHECK_EQUAL(all.size(), 2u);
  BOOST_CHECK_EQUAL(all.back().records.size(), 50u);
  BOOST_REQUIRE_EQUAL(all.back().offsets.size(), 1u);
  BOOST_CHECK_EQUAL(all.back().offsets[0].next_offset, 51);

  for (size_t i = 1; i < all.size(); ++i)
    self->send(ingress, ack_of(all[i]));
  self->request(ingress, std::chrono::seconds(30), stop_atom::value)
    .receive([](caf::ok_atom) {},
             [](caf::error& err) { BOOST_FAIL("ingress stop failed"); });
  self->send_exit(sink, caf::exit_reason::user_shutdown);
}

// Backpressure (actors/ingress.hpp): with max_in_flight batches
// unacknowledged ingress holds records back without pausing the
// partitions (a pause drops librdkafka's prefetched records, and the first
// record after a resume came 0.35-0.85 s later), and pauses them only when
// no ack comes within pause_after. Either way every record arrives once,
// in order.
BOOST_AUTO_TEST_CASE(at_the_in_flight_limit_ingress_holds_records_and_pauses_only_after_pause_after) {
  const std::string topic = "ingress.backpressure";
  auto cluster = kafka::mock_cluster::start(1, {{topic, 1}});
  BOOST_REQUIRE(cluster);
  auto prod = kafka::producer::create((*cluster)->bootstrap());
  BOOST_REQUIRE(prod);
  auto produce = [&](int from, int to) {
    for (int i = from; i < to; ++i)
      BOOST_REQUIRE(!(*prod)->produce(topic, "u1",
                                      "{\"n\":" + std::to_string(i) + "}"));
    BOOST_REQUIRE(!(*prod)->flush(std::chrono::seconds(10)));
  };
  auto& paused = metrics::global().get_gauge(
    "agentmem_consumer_paused", "1 while ingress pauses partitions "
                                "(backpressure), else 0.");
  test::threaded_config cfg;
  caf::actor_system sys{cfg};
  auto got = std::make_shared<received>();
  auto sink = sys.spawn(recording_sink, got);
  auto icf = ingress_of((*cluster)->bootstrap(), topic, 1);
  icf.pause_after = std::chrono::milliseconds{3000};
  auto ingress = sys.spawn<caf::detached>(actors::ingress, icf);
  caf::scoped_actor self{sys};
  self->send(ingress, sink_atom::value, sink);
  auto batch_at = [&](size_t i) {
    std::lock_guard<std::mutex> guard{got->mtx};
    return got->batches.at(i);
  };

  // One batch in flight = the limit: ingress holds what arrives, and the
  // partitions are not paused while the ack is within pause_after.
  produce(0, 1);
  BOOST_REQUIRE(got->wait([&] { return got->batches.size() == 1; }));
  produce(1, 51);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  BOOST_CHECK_EQUAL(paused.value(), 0.0);
  {
    std::lock_guard<std::mutex> guard{got->mtx};
    BOOST_CHECK_EQUAL(got->batches.size(), 1u);
  }
  self->send(ingress, ack_of(batch_at(0)));
  BOOST_REQUIRE(got->wait([&] { return got->records() == 51; }));
  BOOST_CHECK_EQUAL(batch_at(1).records.size(), 50u);

  // No ack within pause_after: the partitions are paused (the group is
  // still served), and records produced meanwhile come after the ack.
  bool was_paused = false;
  for (int i = 0; i < 100 && !was_paused; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    was_paused = paused.value() == 1.0;
  }
  BOOST_CHECK(was_paused);
  produce(51, 61);
  self->send(ingress, ack_of(batch_at(1)));
  BOOST_REQUIRE(got->wait([&] { return got->records() == 61; }));
  BOOST_CHECK_EQUAL(paused.value(), 0.0);
  std::vector<int64_t> offsets;
  {
    std::lock_guard<std::mutex> guard{got->mtx};
    for (auto& b : got->batches)
      for (auto& r : b.records)
        offsets.push_back(r.source.offset);
  }
  BOOST_REQUIRE_EQUAL(offsets.size(), 61u);
  for (size_t i = 0; i < offsets.size(); ++i)
    BOOST_CHECK_EQUAL(offsets[i], static_cast<int64_t>(i));

  {
    std::lock_guard<std::mutex> guard{got->mtx};
    for (size_t i = 2; i < got->batches.size(); ++i)
      self->send(ingress, ack_of(got->batches[i]));
  }
  self->request(ingress, std::chrono::seconds(30), stop_atom::value)
    .receive([](caf::ok_atom) {},
             [](caf::error&) { BOOST_FAIL("ingress stop failed"); });
  self->send_exit(sink, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
