// Boolean keys of pipeline/config.cpp: true/false parse, anything else is
// refused with the key's name; [analytics] enabled defaults to true.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <boost/test/unit_test.hpp>

#include "messages/errc.hpp"
#include "pipeline/config.hpp"

using namespace agentmem;
namespace fs = std::filesystem;

namespace {

// A minimal valid file: `kafka` lines go into its [kafka] section, `extra`
// (whole sections) after it.
caf::expected<pipeline::pipeline_config> load(const std::string& extra,
                                              const std::string& kafka = "") {
  auto path = fs::temp_directory_path()
              / ("agentmem-config-test-" + std::to_string(::getpid())
                 + ".toml");
  std::ofstream{path} << "[kafka]\nbrokers = \"localhost:9092\"\n" << kafka
                      << "[postgres]\nurl = \"postgresql://localhost/a\"\n"
                      << "[storage]\ndata_dir = \"/tmp/agentmem-x\"\n"
                      << extra;
  auto cfg = pipeline::load_config(path.string());
  fs::remove(path);
  return cfg;
}

std::string error_of(const caf::expected<pipeline::pipeline_config>& c) {
  return c ? std::string{} : describe(c.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(config_suite)

BOOST_AUTO_TEST_CASE(analytics_rollups_are_on_unless_disabled) {
  auto dflt = load("");
  BOOST_REQUIRE_MESSAGE(dflt, error_of(dflt));
  BOOST_TEST(dflt->analytics_enabled);
  auto off = load("[analytics]\nenabled = false\n");
  BOOST_REQUIRE_MESSAGE(off, error_of(off));
  BOOST_TEST(!off->analytics_enabled);
}

BOOST_AUTO_TEST_CASE(boolean_keys_take_true_or_false_only) {
  auto ok = load("[auth]\ndisabled = true\n[retention]\nenabled = true\n"
                 "[cluster]\nstatic_membership = true\n"
                 "leave_on_shutdown = false\n",
                 "create_topics = false\n");
  BOOST_REQUIRE_MESSAGE(ok, error_of(ok));
  BOOST_TEST(!ok->create_topics);
  BOOST_TEST(ok->auth_disabled);
  BOOST_TEST(ok->retention_enabled);
  BOOST_TEST(ok->static_membership);
  BOOST_TEST(!ok->leave_on_shutdown);
  struct bad_case {
    const char* extra;
    const char* kafka;
    const char* key;
  };
  for (auto c : {bad_case{"[analytics]\nenabled = \"no\"\n", "",
                          "analytics.enabled"},
                 bad_case{"", "create_topics = \"false\"\n",
                          "kafka.create_topics"},
                 bad_case{"[auth]\ndisabled = 1\n", "", "auth.disabled"},
                 bad_case{"[retention]\nenabled = \"yes\"\n", "",
                          "retention.enabled"},
                 bad_case{"[cluster]\nleave_on_shutdown = 0\n", "",
                          "cluster.leave_on_shutdown"}}) {
    auto bad = load(c.extra, c.kafka);
    BOOST_REQUIRE_MESSAGE(!bad, c.key);
    BOOST_TEST(bad.error().code()
               == static_cast<uint8_t>(errc::invalid_config));
    BOOST_TEST(error_of(bad).find(std::string{c.key}
                                  + " must be true or false")
                 != std::string::npos,
               error_of(bad));
  }
}

BOOST_AUTO_TEST_SUITE_END()
