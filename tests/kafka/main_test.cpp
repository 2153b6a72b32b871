#define BOOST_TEST_MODULE kafka_tests
#include <boost/test/unit_test.hpp>
