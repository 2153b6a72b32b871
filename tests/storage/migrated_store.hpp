#pragma once

// A postgres_store connected to a test database (pg_fixture.hpp) with every
// migration applied; for tests of the storage facade itself.

#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>

#include "storage/postgres_store.hpp"
#include "tests/storage/pg_fixture.hpp"

namespace agentmem::test {

/// Connects to `url` and migrates; a failed REQUIRE when either fails.
inline std::unique_ptr<storage::postgres_store>
open_migrated(const std::string& url) {
  auto store = storage::postgres_store::connect(url);
  BOOST_REQUIRE_MESSAGE(store, why(store));
  auto applied = (*store)->migrate();
  BOOST_REQUIRE_MESSAGE(applied, why(applied));
  return std::move(*store);
}

} // namespace agentmem::test
