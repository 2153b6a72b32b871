// actors::health: what /readyz answers.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <memory>

#include <stdlib.h>

#include "actors/health.hpp"
#include "storage/shard_set.hpp"

using namespace agentmem;
namespace fs = std::filesystem;

namespace {

struct ready_node {
  fs::path dir;
  std::shared_ptr<storage::shard_set> shards;
  actors::health status;

  ready_node() {
    char tmpl[] = "/tmp/agentmem-health-XXXXXX";
    dir = mkdtemp(tmpl);
    storage::shard_set_config cfg;
    cfg.dir = (dir / "shards").string();
    cfg.vectors.dims = 8;
    cfg.vectors.model = "test-8";
    cfg.vectors.initial_capacity = 16;
    shards = std::make_shared<storage::shard_set>(cfg);
    status.migrated = true;
    status.postgres_ok = true;
    status.kafka_ok = true;
  }

  ~ready_node() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(health_suite, ready_node)

BOOST_AUTO_TEST_CASE(ready_follows_the_phases_of_the_shards) {
  BOOST_TEST(status.not_ready_reason() == "no owned shard is serving yet");
  status.shards = shards;
  BOOST_TEST(status.not_ready_reason() == "no owned shard is serving yet");
  BOOST_REQUIRE(shards->open(3));
  BOOST_TEST(status.not_ready_reason() == "no owned shard is serving yet");
  shards->set_phase(3, storage::shard_phase::serving);
  BOOST_TEST(status.not_ready_reason().empty());
  // Handed over (releasing) is not owned any more.
  shards->set_phase(3, storage::shard_phase::releasing);
  BOOST_TEST(status.not_ready_reason() == "no owned shard is serving yet");
  shards->set_phase(3, storage::shard_phase::serving);
  status.stopping = true;
  BOOST_TEST(status.not_ready_reason() == "shutting down");
}

BOOST_AUTO_TEST_SUITE_END()
