#pragma once

// Shared by the extractor tests of tests/domain (entities, facts).

#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

/// Checks that `actual` (a std::vector<std::string>, evaluated once) equals
/// the braced list of strings `...`, element by element and in order;
/// Boost.Test reports the first mismatch and any size difference.
#define CHECK_STRINGS(actual, ...)                                            \
  do {                                                                        \
    auto got_ = actual;                                                       \
    std::vector<std::string> want_ = __VA_ARGS__;                             \
    BOOST_CHECK_EQUAL_COLLECTIONS(got_.begin(), got_.end(), want_.begin(),    \
                                  want_.end());                               \
  } while (false)
