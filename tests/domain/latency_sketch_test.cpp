#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "domain/latency_sketch.hpp"

using agentmem::domain::latency_sketch;

namespace {

// The exact order statistic the sketch promises to approximate.
double exact_quantile(std::vector<double> xs, double q) {
  std::sort(xs.begin(), xs.end());
  return xs[static_cast<size_t>(std::floor(q * static_cast<double>(xs.size() - 1)))];
}

void check_bound(const std::vector<double>& xs, const char* what) {
  latency_sketch s;
  for (double x : xs)
    s.add(x);
  BOOST_TEST(s.count() == static_cast<int64_t>(xs.size()));
  for (double q : {0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    double exact = exact_quantile(xs, q);
    double got = s.quantile(q);
    BOOST_TEST(std::abs(got - exact)
                 <= latency_sketch::relative_accuracy * exact * (1 + 1e-9),
               what << " q " << q << ": sketch " << got << ", exact "
                    << exact);
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(latency_sketch_suite)

BOOST_AUTO_TEST_CASE(every_quantile_is_within_one_percent_of_the_exact_order_statistic) {
  std::mt19937_64 rng{7};
  std::vector<double> lognormal, uniform, integers, heavy;
  std::lognormal_distribution<double> ln{4.0, 1.5};
  std::uniform_real_distribution<double> un{0.5, 20000.0};
  std::uniform_int_distribution<int> ms{1, 5000};
  std::exponential_distribution<double> ex{0.01};
  for (int i = 0; i < 20000; ++i) {
    lognormal.push_back(ln(rng));
    uniform.push_back(un(rng));
    integers.push_back(ms(rng));
    heavy.push_back(1.0 + ex(rng) * ex(rng));
  }
  check_bound(lognormal, "log-normal");
  check_bound(uniform, "uniform");
  check_bound(integers, "integer ms");
  check_bound(heavy, "heavy tail");
}

BOOST_AUTO_TEST_CASE(zero_and_negative_values_land_in_the_zero_bucket) {
  latency_sketch s;
  s.add(0);
  s.add(-3);
  s.add(0);
  s.add(10);
  BOOST_TEST(s.quantile(0.5) == 0.0);
  BOOST_TEST(std::abs(s.quantile(1.0) - 10.0) <= 0.1);
  BOOST_TEST(s.to_json().rfind("{\"-1\":3,", 0) == 0);
}

BOOST_AUTO_TEST_CASE(merging_sketches_equals_sketching_the_union) {
  std::mt19937_64 rng{11};
  std::lognormal_distribution<double> ln{3.0, 1.0};
  latency_sketch a, b, all;
  for (int i = 0; i < 5000; ++i) {
    double x = ln(rng);
    (i % 3 == 0 ? a : b).add(x);
    all.add(x);
  }
  a.merge(b);
  BOOST_TEST(a.buckets() == all.buckets());
  BOOST_TEST(a.to_json() == all.to_json());
}

BOOST_AUTO_TEST_CASE(bucket_values_follow_the_documented_mapping) {
  // v in (gamma^(k-1), gamma^k] -> k; value(k) = 2 gamma^k / (gamma + 1).
  const double g = latency_sketch::gamma;
  BOOST_TEST(latency_sketch::key(1.0) == 0);
  BOOST_TEST(latency_sketch::key(1.01) == 1);
  BOOST_TEST(latency_sketch::key(std::pow(g, 100) * 0.9999) == 100);
  BOOST_TEST(std::abs(latency_sketch::value(100) - 2 * std::pow(g, 100) / (g + 1))
             < 1e-9);
  BOOST_TEST(latency_sketch{}.to_json() == "{}");
  BOOST_TEST(latency_sketch{}.quantile(0.5) == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()
