// Retrieval quality floors on a slice of the LoCoMo development file
// (conversation conv-30: 369 turns, 105 questions), in process
// (pipeline::run_locomo_sweep: contract decoder, extraction with retrieval
// context, both indexes, pipeline::retriever), for the offline default and
// for bge-small-en-v1.5 served by tests/embedding/server.py through the
// HTTP provider. The floors sit a few points under the values measured
// when they were set (docs/retrieval.md), so a ranking regression fails.

#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "domain/http_embedder.hpp"
#include "messages/errc.hpp"
#include "pipeline/locomo_bench.hpp"
#include "tests/embedding/embedding_server.hpp"

using namespace agentmem;

namespace {

const pipeline::recall_row* find(const std::vector<pipeline::recall_row>& rows,
                                  const std::string& provider,
                                  const std::string& mode) {
  for (auto& r : rows)
    if (r.provider == provider && r.mode == mode && r.group == "all"
        && r.setting == "defaults")
      return &r;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_SUITE(locomo_slice)

BOOST_AUTO_TEST_CASE(recall_on_a_locomo_dev_slice_stays_above_its_floors) {
  const std::string data =
    std::string{AGENTMEM_SOURCE_DIR} + "/../shared/data/locomo/locomo-dev.json";
  BOOST_TEST_REQUIRE(std::filesystem::exists(data),
                     data << " is missing (the shared LoCoMo data)");
  test::embedding_server bge{{"--model", "bge-small-en-v1.5"}};
  domain::http_embedder_config http;
  http.base_url = bge.base_url();
  http.model = "bge-small-en-v1.5";
  http.max_in_flight = 1; // the server embeds one request at a time
  http.request_timeout = std::chrono::minutes{5};
  http.query_prefix =
    "Represent this sentence for searching relevant passages: ";
  auto model = domain::make_embedder("openai", 384, http);
  BOOST_REQUIRE(model);
  auto hashing = domain::make_embedder("hashing", 384);
  BOOST_REQUIRE(hashing);
  char tmpl[] = "/tmp/agentmem-locomo-slice-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl));
  pipeline::locomo_sweep_options o;
  o.data = data;
  o.work_dir = tmpl;
  o.samples = {"conv-30"};
  o.sweep = false;
  o.providers = {{"hashing", *hashing, nullptr}, {"bge", *model, nullptr}};
  auto rows = pipeline::run_locomo_sweep(o);
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  if (!rows)
    BOOST_FAIL(describe(rows.error()));
  BOOST_TEST_MESSAGE(pipeline::to_markdown(*rows));
  struct floor {
    const char* provider;
    const char* mode;
    double r10, r50;
  };
  // Measured on conv-30 with the defaults (BM25 k1 0.4, b 0.4) when set
  // (R@10 / R@50; each floor is the measured value, rounded down, minus 3):
  // hashing keyword 82.0 / 93.1, hashing hybrid 82.8 / 93.3, bge vector
  // 64.7 / 88.7, bge hybrid 82.8 / 94.0. (With k1 1.2, b 0.75 they were
  // 82.1 / 92.2, 82.4 / 92.4, 64.7 / 88.7 and 80.9 / 96.1: bge hybrid R@50
  // on this slice fell by 2.1 while on the whole file it stayed at 93.3,
  // docs/retrieval.md, so its floor is 91 instead of 93.)
  for (auto f : {floor{"hashing", "keyword", 79, 90},
                 floor{"hashing", "hybrid", 79, 90},
                 floor{"bge", "vector", 61, 85},
                 floor{"bge", "hybrid", 79, 91}}) {
    auto* r = find(*rows, f.provider, f.mode);
    BOOST_TEST_CONTEXT(f.provider << " " << f.mode) {
      BOOST_TEST_REQUIRE(r != nullptr);
      BOOST_TEST(r->questions == 105u);
      BOOST_TEST(r->r10 >= f.r10);
      BOOST_TEST(r->r50 >= f.r50);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
