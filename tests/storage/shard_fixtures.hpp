#pragma once

// Shard sets for tests (tests/storage, tests/actors): small 2-d vectors.

#include "storage/shard_set.hpp"
#include "tests/storage/fixtures.hpp"

namespace agentmem::test {

/// Settings of a shard set of 2-d test vectors (model "test") under
/// `d`/shards.
inline storage::shard_set_config two_dim_shards(const temp_dir& d) {
  storage::shard_set_config sc;
  sc.dir = (d.path / "shards").string();
  sc.vectors.dims = 2;
  sc.vectors.model = "test";
  return sc;
}

} // namespace agentmem::test
