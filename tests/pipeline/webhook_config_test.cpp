// [memory_stream] and [webhooks] of pipeline/config.cpp: the deployed
// example parses with an endpoint, secrets come from the environment and
// never appear in errors, bad endpoints are refused by name.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/test/unit_test.hpp>

#include "messages/errc.hpp"
#include "pipeline/config.hpp"

using namespace agentmem;
namespace fs = std::filesystem;

namespace {

std::string deployed_config() {
  std::ifstream in{std::string{AGENTMEM_SOURCE_DIR} + "/deploy/agentmem.toml"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The deployed file with its commented-out endpoint enabled and `edit`
// applied (a line "key = value" of the endpoint replaced).
caf::expected<pipeline::pipeline_config>
load_with_endpoint(const std::string& url_line, const std::string& secret) {
  auto text = deployed_config();
  for (auto key : {"# [[webhooks.endpoints]]", "# name = ", "# user_id_prefix = ",
                   "# url = ", "# secret = "}) {
    auto at = text.find(key);
    BOOST_REQUIRE(at != std::string::npos);
    text.erase(at, 2);
  }
  auto url_at = text.find("url = \"https://hooks.acme.example/agentmem\"");
  BOOST_REQUIRE(url_at != std::string::npos);
  text.replace(url_at, std::string{"url = \"https://hooks.acme.example/agentmem\""}.size(),
               url_line);
  ::setenv("ACME_WEBHOOK_SECRET", secret.c_str(), 1);
  ::setenv("AGENTMEM_POSTGRES_URL", "postgresql://agentmem@localhost/agentmem", 1);
  auto path = fs::temp_directory_path()
              / ("agentmem-webhook-config-" + std::to_string(::getpid()) + ".toml");
  std::ofstream{path} << text;
  auto cfg = pipeline::load_config(path.string());
  fs::remove(path);
  if (cfg)
    if (auto err = pipeline::validate(*cfg))
      return err;
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_SUITE(webhook_config)

BOOST_AUTO_TEST_CASE(the_deployed_example_defines_the_change_stream_and_an_endpoint) {
  const std::string secret = "s3cret-value-for-acme-hooks";
  auto cfg = load_with_endpoint("url = \"https://hooks.acme.example/agentmem\"",
                                secret);
  BOOST_REQUIRE_MESSAGE(cfg, (cfg ? std::string{} : describe(cfg.error())));
  BOOST_TEST(cfg->memory_stream_topic == "agent.memory.v1");
  BOOST_TEST(cfg->memory_stream_publish_interval.count() == 1000);
  BOOST_TEST(cfg->webhooks.max_attempts == 8);
  BOOST_TEST(cfg->webhooks.backoff_max.count() == 300000);
  BOOST_REQUIRE_EQUAL(cfg->webhooks.endpoints.size(), 1u);
  auto& ep = cfg->webhooks.endpoints[0];
  BOOST_TEST(ep.name == "acme");
  BOOST_TEST(ep.user_id_prefix == "acme-");
  BOOST_TEST(ep.secret == secret); // from the environment
}

BOOST_AUTO_TEST_CASE(a_bad_endpoint_is_refused_without_its_secret) {
  const std::string secret = "s3cret-value-for-acme-hooks";
  auto cfg = load_with_endpoint("url = \"ftp://hooks.acme.example\"", secret);
  BOOST_REQUIRE(!cfg);
  auto msg = describe(cfg.error());
  BOOST_TEST(msg.find("\"acme\": url must start with http") != std::string::npos,
             msg);
  BOOST_TEST(msg.find(secret) == std::string::npos);
  auto weak = load_with_endpoint("url = \"https://hooks.acme.example/a\"",
                                 "short");
  BOOST_REQUIRE(!weak);
  BOOST_TEST(describe(weak.error()).find("at least 16 characters")
             != std::string::npos);
  BOOST_TEST(describe(weak.error()).find("short") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
