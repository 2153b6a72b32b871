#include <boost/test/unit_test.hpp>

#include <string>
#include <unordered_map>

#include "storage/string_interner.hpp"

using agentmem::storage::string_interner;

BOOST_AUTO_TEST_SUITE(string_interner_suite)

BOOST_AUTO_TEST_CASE(ids_are_dense_in_first_seen_order) {
  string_interner d;
  BOOST_CHECK(!d.find("alpha"));
  BOOST_CHECK_EQUAL(d.intern("alpha"), 0u);
  BOOST_CHECK_EQUAL(d.intern("beta"), 1u);
  BOOST_CHECK_EQUAL(d.intern("alpha"), 0u);
  BOOST_CHECK_EQUAL(d.size(), 2u);
  BOOST_CHECK_EQUAL(d[1], "beta");
  BOOST_REQUIRE(d.find("beta"));
  BOOST_CHECK_EQUAL(*d.find("beta"), 1u);
  BOOST_CHECK(!d.find("gamma"));
}

// Strings that differ only in a prefix byte, a NUL inside or by being
// empty are distinct (the keyword index prefixes speaker terms with \x01).
BOOST_AUTO_TEST_CASE(distinct_byte_strings_stay_distinct) {
  string_interner d;
  auto plain = d.intern("anna");
  auto prefixed = d.intern(std::string{'\x01'} + "anna");
  auto with_nul = d.intern(std::string_view{"an\0na", 5});
  auto empty = d.intern("");
  BOOST_CHECK_NE(plain, prefixed);
  BOOST_CHECK_NE(plain, with_nul);
  BOOST_CHECK_NE(prefixed, with_nul);
  BOOST_CHECK_EQUAL(*d.find(""), empty);
  BOOST_CHECK_EQUAL(*d.find(std::string_view{"an\0na", 5}), with_nul);
  BOOST_CHECK(!d.find("an"));
}

// Through many growths every string keeps its id and is found; absent
// strings are not (checked against a std::unordered_map).
BOOST_AUTO_TEST_CASE(ids_survive_growth) {
  string_interner d;
  std::unordered_map<std::string, uint32_t> expected;
  for (int i = 0; i < 50'000; ++i) {
    auto s = "term-" + std::to_string(i * 7919 % 100'003);
    auto [it, added] = expected.try_emplace(s, static_cast<uint32_t>(expected.size()));
    BOOST_REQUIRE_EQUAL(d.intern(s), it->second);
  }
  BOOST_CHECK_EQUAL(d.size(), expected.size());
  for (auto& [s, id] : expected) {
    auto found = d.find(s);
    BOOST_REQUIRE(found);
    BOOST_REQUIRE_EQUAL(*found, id);
    BOOST_REQUIRE_EQUAL(d[id], s);
  }
  for (int i = 0; i < 1'000; ++i)
    BOOST_REQUIRE(!d.find("absent-" + std::to_string(i)));
}

BOOST_AUTO_TEST_CASE(clear_restarts_ids) {
  string_interner d;
  d.intern("a");
  d.intern("b");
  d.clear();
  BOOST_CHECK_EQUAL(d.size(), 0u);
  BOOST_CHECK(!d.find("a"));
  BOOST_CHECK_EQUAL(d.intern("b"), 0u);
  BOOST_CHECK_EQUAL(d.strings().size(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
