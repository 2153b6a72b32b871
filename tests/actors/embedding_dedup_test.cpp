// The embedding stage's near-duplicate lookup on CAF's deterministic test
// coordinator, with a real vector index and RocksDB docs.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <memory>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/embedding.hpp"
#include "messages/type_ids.hpp"
#include "tests/actors/caf_fixture.hpp"

using namespace agentmem;

namespace {

memory fresh(const std::string& id, uint64_t point, const std::string& type,
             const std::string& text, const std::string& user = "u1") {
  return test::s1_memory(id, point, type, user, text);
}

struct fixture : test::deterministic_system {
  std::shared_ptr<domain::embedder> emb;
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<storage::hot_state> hot;
  std::shared_ptr<std::vector<batch>> got = std::make_shared<std::vector<batch>>();
  caf::actor stage;

  fixture() {
    emb = *domain::make_embedder("hashing", 384);
    storage::shard_set_config sc;
    sc.dir = (dir.path / "idx").string();
    sc.vectors.dims = 384;
    sc.vectors.model = emb->model();
    sc.vectors.initial_capacity = 64;
    shards = std::make_shared<storage::shard_set>(sc);
    BOOST_REQUIRE(shards->open(0)); // memories without a Kafka partition
    hot = std::move(*storage::hot_state::open((dir.path / "rocks").string()));
    actors::embedding_config ec;
    ec.next = sys.spawn(test::collecting_sink, got);
    ec.provider = emb;
    ec.shards = shards;
    ec.hot = hot;
    stage = sys.spawn(actors::embedding, ec);
  }

  ~fixture() {
    caf::anon_send_exit(stage, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // Stores memories as vector linking would after a commit.
  void store(std::vector<memory> ms) {
    std::vector<std::string_view> texts;
    for (auto& m : ms)
      texts.emplace_back(m.text);
    std::vector<std::vector<float>> vs;
    BOOST_REQUIRE(!emb->embed(texts, vs));
    for (size_t i = 0; i < ms.size(); ++i)
      ms[i].vector = vs[i];
    BOOST_REQUIRE(shards->upsert(ms));
    BOOST_REQUIRE(!hot->put_docs(ms));
  }

  batch run(std::vector<memory> ms) {
    batch b;
    b.memories = std::move(ms);
    caf::anon_send(stage, std::move(b));
    sched.run();
    BOOST_REQUIRE(!got->empty());
    auto out = std::move(got->back());
    got->clear();
    return out;
  }
};

const std::string report =
  "The quarterly report shows revenue grew by 12 percent in the north "
  "region, driven by new customers.";
const std::string report_plus =
  "The quarterly report shows revenue grew by 12 percent in the north "
  "region, driven by new customers and renewals.";

} // namespace

BOOST_FIXTURE_TEST_SUITE(embedding_dedup, fixture)

BOOST_AUTO_TEST_CASE(a_near_duplicate_of_a_stored_memory_is_sent_as_its_update) {
  store({fresh("old", 1, "document", report),
         fresh("other", 2, "document", "Unrelated minutes of the meeting."),
         fresh("bobs", 3, "document", report_plus, "bob")});
  auto b = run({fresh("new", 10, "document", report_plus),
                fresh("turn", 11, "conversation", report_plus),
                fresh("fresh", 12, "document", "A brand new topic entirely.")});
  BOOST_REQUIRE_EQUAL(b.memories.size(), 3u);
  for (auto& m : b.memories)
    BOOST_CHECK_EQUAL(m.vector.size(), 384u);
  BOOST_CHECK_EQUAL(b.memories[0].update_of, "old"); // not bob's
  BOOST_CHECK(b.memories[1].update_of.empty()); // conversation turns: never
  BOOST_CHECK(b.memories[2].update_of.empty());
}

BOOST_AUTO_TEST_CASE(a_replayed_memory_finds_itself_and_stays_an_add) {
  store({fresh("m", 1, "episodic", report)});
  auto b = run({fresh("m", 1, "episodic", report)});
  BOOST_CHECK(b.memories[0].update_of.empty());
}

BOOST_AUTO_TEST_CASE(the_memory_type_scopes_the_lookup) {
  store({fresh("ep", 1, "episodic", report)});
  auto b = run({fresh("doc", 2, "document", report)});
  BOOST_CHECK(b.memories[0].update_of.empty());
}

BOOST_AUTO_TEST_SUITE_END()
