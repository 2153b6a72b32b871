// Boost.Test entry point of api_tests.
#define BOOST_TEST_MODULE api_tests
#include <boost/test/unit_test.hpp>
