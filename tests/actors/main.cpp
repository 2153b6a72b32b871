// Boost.Test entry point of actors_tests.
#define BOOST_TEST_MODULE actors_tests
#include <boost/test/unit_test.hpp>
