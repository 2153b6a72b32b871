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
  actors::ingress_config icf;
  icf.consumer.brokers = (*cluster)->bootstrap();
  icf.consumer.group_id = kafka::test::unique_group("ingress-batching");
  icf.consumer.topics = {topic};
  icf.max_batch_records = 1000;
  icf.max_in_flight = 2; // the pipeline takes a batch while < 1 is in flight
  icf.status = std::make_shared<actors::health>();
  icf.acks = std::make_shared<actors::ack_tracker>();
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

BOOST_AUTO_TEST_SUITE_END()
