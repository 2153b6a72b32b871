// storage::shard_set: which shards hold a user's points (holding), as dedup
// and every search ask it, through the ways a shard gains and loses users.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <vector>

#include "storage/shard_set.hpp"
#include "tests/storage/fixtures.hpp"
#include "tests/storage/shard_fixtures.hpp"

using namespace agentmem;
using storage::shard_set;

namespace {

memory point_of(const std::string& user, uint64_t point, int32_t partition) {
  auto m = test::s1_memory("m" + std::to_string(point), point, "conversation",
                           user, "text " + std::to_string(point));
  m.partition = partition;
  m.vector = {1.0f, static_cast<float>(point % 7) / 7.0f};
  return m;
}

std::vector<int32_t> partitions_holding(const shard_set& s,
                                        const std::string& user) {
  std::vector<int32_t> out;
  for (auto& sh : s.holding(user))
    out.push_back(sh->partition);
  return out;
}

void upsert(shard_set& s, std::vector<memory> ms) {
  auto r = s.upsert(ms);
  BOOST_REQUIRE_MESSAGE(r, "upsert failed");
}

} // namespace

BOOST_AUTO_TEST_SUITE(shard_set_suite)

BOOST_AUTO_TEST_CASE(holding_names_every_shard_with_the_users_points_as_they_come_and_go) {
  test::temp_dir d;
  shard_set shards{test::two_dim_shards(d)};
  for (int32_t p : {0, 1, 2})
    BOOST_REQUIRE(shards.open(p));
  using v = std::vector<int32_t>;
  BOOST_CHECK(partitions_holding(shards, "alice") == v{});

  upsert(shards, {point_of("alice", 1, 0)});
  BOOST_CHECK(partitions_holding(shards, "alice") == v{0});
  // Asked before: a user's first point in another shard is found too.
  upsert(shards, {point_of("alice", 2, 2), point_of("bob", 3, 1)});
  BOOST_CHECK(partitions_holding(shards, "alice") == (v{0, 2}));
  BOOST_CHECK(partitions_holding(shards, "bob") == v{1});
  BOOST_CHECK(partitions_holding(shards, "carol") == v{});

  // A shard whose points of the user are gone no longer holds the user.
  auto removed = shards.remove({1});
  BOOST_REQUIRE(removed);
  BOOST_CHECK(partitions_holding(shards, "alice") == v{2});
  // ... until the user has a point there again.
  upsert(shards, {point_of("alice", 4, 0)});
  BOOST_CHECK(partitions_holding(shards, "alice") == (v{0, 2}));

  // A dropped shard holds nobody.
  BOOST_REQUIRE(shards.drop(1));
  BOOST_CHECK(partitions_holding(shards, "bob") == v{});
  // A shard opened from a snapshot holds the users of the snapshot, also
  // those this set never saw.
  test::temp_dir other_dir;
  {
    shard_set other{test::two_dim_shards(other_dir)};
    BOOST_REQUIRE(other.open(3));
    upsert(other, {point_of("dave", 6, 3)});
    BOOST_REQUIRE(!other.save(3, 10));
  }
  std::filesystem::copy(other_dir.path / "shards" / "p0003",
                        d.path / "shards" / "p0003",
                        std::filesystem::copy_options::recursive);
  BOOST_CHECK(partitions_holding(shards, "dave") == v{});
  BOOST_REQUIRE(shards.open(3));
  BOOST_CHECK(partitions_holding(shards, "dave") == v{3});

  // Reopened after its drop (which deleted its snapshot): empty.
  BOOST_REQUIRE(shards.open(1));
  BOOST_CHECK(partitions_holding(shards, "bob") == v{});
  upsert(shards, {point_of("bob", 5, 1)});
  BOOST_CHECK(partitions_holding(shards, "bob") == v{1});
}

BOOST_AUTO_TEST_CASE(holding_agrees_with_every_shards_own_count_over_many_users) {
  test::temp_dir d;
  shard_set shards{test::two_dim_shards(d)};
  const int32_t parts = 16;
  for (int32_t p = 0; p < parts; ++p)
    BOOST_REQUIRE(shards.open(p));
  uint64_t point = 1;
  for (int round = 0; round < 5; ++round) {
    std::vector<memory> batch;
    for (int u = 0; u < 200; ++u) {
      // Most users stay on one partition; every seventh spreads.
      auto user = "user-" + std::to_string(u);
      int32_t p = (u % 7 == 0) ? (u + round) % parts : u % parts;
      if ((u + round) % 3 == 0)
        batch.push_back(point_of(user, point++, p));
    }
    upsert(shards, batch);
    for (int u = 0; u < 200; ++u) {
      auto user = "user-" + std::to_string(u);
      std::vector<int32_t> want;
      for (int32_t p = 0; p < parts; ++p)
        if (shards.find(p)->vectors->user_size(user) > 0)
          want.push_back(p);
      BOOST_CHECK_MESSAGE(partitions_holding(shards, user) == want,
                          user << " in round " << round);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
