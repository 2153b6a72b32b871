// The collection's embedding space is recorded at first start and a node
// configured with another model or dims refuses to start (real PostgreSQL;
// the openai provider talks to the real model server).

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "messages/errc.hpp"
#include "messages/type_ids.hpp"
#include "pipeline/config.hpp"
#include "pipeline/topology.hpp"
#include "storage/collections.hpp"
#include "storage/postgres_store.hpp"
#include "tests/embedding/embedding_server.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::test::pg_database;

namespace {

void migrate(const std::string& url) {
  auto s = storage::postgres_store::connect(url);
  if (!s)
    throw std::runtime_error(describe(s.error()));
  auto n = (*s)->migrate();
  if (!n)
    throw std::runtime_error(describe(n.error()));
}

std::string code_of(const caf::error& e) {
  return e ? to_string(static_cast<errc>(e.code())) : "none";
}

struct temp_dir {
  temp_dir() {
    char t[] = "/tmp/agentmem-coll-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

} // namespace

BOOST_AUTO_TEST_SUITE(collection_suite)

BOOST_FIXTURE_TEST_CASE(the_first_start_records_the_space_and_later_starts_compare,
                        pg_database) {
  migrate(url);
  using storage::check_collection;
  BOOST_TEST(!check_collection(url, "memories", "hashing-v1-384", 384));
  BOOST_TEST(!check_collection(url, "memories", "hashing-v1-384", 384));
  auto model = check_collection(url, "memories", "all-MiniLM-L6-v2", 384);
  BOOST_TEST(code_of(model) == "invalid_config");
  auto text = describe(model);
  BOOST_TEST(text.find("hashing-v1-384") != std::string::npos);
  BOOST_TEST(text.find("all-MiniLM-L6-v2") != std::string::npos);
  BOOST_TEST(text.find("the model differs") != std::string::npos);
  BOOST_TEST(text.find("re-embed") != std::string::npos);
  auto dims = check_collection(url, "memories", "hashing-v1-384", 256);
  BOOST_TEST(code_of(dims) == "invalid_config");
  BOOST_TEST(describe(dims).find("the dims differ") != std::string::npos);
  // The recorded space is unchanged by refused starts.
  pqxx::connection c{url};
  pqxx::work tx{c};
  auto r = tx.exec("SELECT embedding_model, dims FROM collections");
  BOOST_REQUIRE(r.size() == 1u);
  BOOST_TEST(r[0][0].as<std::string>() == "hashing-v1-384");
  BOOST_TEST(r[0][1].as<int>() == 384);
}

BOOST_FIXTURE_TEST_CASE(query_and_passage_instructions_are_part_of_the_space,
                        pg_database) {
  migrate(url);
  using storage::check_collection;
  const std::string e5 = R"(query_prefix="query: ";passage_prefix="passage: ")";
  BOOST_TEST(!check_collection(url, "memories", "e5-small-v2", 384, e5));
  BOOST_TEST(!check_collection(url, "memories", "e5-small-v2", 384, e5));
  // A restart that forgot the prefixes (or changed them) would embed new
  // texts and queries into another space: refused.
  auto none = check_collection(url, "memories", "e5-small-v2", 384);
  BOOST_TEST(code_of(none) == "invalid_config");
  auto text = describe(none);
  BOOST_TEST(text.find("the query/passage instructions differ")
             != std::string::npos);
  BOOST_TEST(text.find("passage: ") != std::string::npos);
  BOOST_TEST(text.find("no instructions") != std::string::npos);
  BOOST_TEST(code_of(check_collection(url, "memories", "e5-small-v2", 384,
                                      R"(query_prefix="query: ")"))
             == "invalid_config");
  pqxx::connection c{url};
  pqxx::work tx{c};
  BOOST_TEST(tx.exec("SELECT instructions FROM collections")[0][0]
               .as<std::string>()
             == e5);
}

BOOST_FIXTURE_TEST_CASE(an_older_database_takes_the_space_of_its_stored_memories,
                        pg_database) {
  migrate(url);
  {
    // A database written before the collections table existed: its
    // memories say which space their vectors are in.
    pqxx::connection c{url};
    pqxx::work tx{c};
    tx.exec("INSERT INTO memories (memory_id, point_id, memory_type, user_id,"
            " session_id, event_id, ts, importance, chunk_index, text,"
            " embedding_model, dims) VALUES ('m1', 1, 'conversation', 'u',"
            " 's', 'e', now(), 0.5, 0, 'hello', 'hashing-v1-384', 384)");
    tx.commit();
  }
  auto err = storage::check_collection(url, "memories", "all-MiniLM-L6-v2",
                                       384);
  BOOST_TEST(code_of(err) == "invalid_config");
  BOOST_TEST(describe(err).find("hashing-v1-384") != std::string::npos);
  BOOST_TEST(!storage::check_collection(url, "memories", "hashing-v1-384",
                                        384));
}

BOOST_FIXTURE_TEST_CASE(a_node_configured_with_another_model_refuses_to_start,
                        pg_database) {
  migrate(url);
  // The collection was built with the offline embedder...
  BOOST_REQUIRE(!storage::check_collection(url, "memories", "hashing-v1-384",
                                           384));
  // ...and the node is now configured with the real model over HTTP.
  test::embedding_server srv;
  temp_dir dir;
  auto conf = dir.path + "/agentmem.toml";
  {
    std::ofstream f{conf};
    f << "[kafka]\nbrokers = \"127.0.0.1:1\"\n"
      << "[postgres]\nurl = \"env:AGENTMEM_TEST_COLL_PG\"\n"
      << "[storage]\ndata_dir = \"" << dir.path << "/data\"\n"
      << "[auth]\ndisabled = true\n" // the collection check is under test
      << "[embedding]\nprovider = \"openai\"\ndims = 384\n"
      << "base_url = \"" << srv.base_url() << "\"\n"
      << "model = \"all-MiniLM-L6-v2\"\n"
      << "api_key = \"env:AGENTMEM_TEST_EMB_KEY\"\nmax_batch = 16\n";
  }
  ::setenv("AGENTMEM_TEST_COLL_PG", url.c_str(), 1);
  ::setenv("AGENTMEM_TEST_EMB_KEY", "sk-from-env", 1);
  auto cfg = pipeline::load_config(conf);
  BOOST_REQUIRE_MESSAGE(cfg, test::why(cfg));
  BOOST_TEST(cfg->embedding_provider == "openai");
  BOOST_TEST(cfg->embedding_http.api_key == "sk-from-env");
  BOOST_TEST(cfg->embedding_http.max_batch == 16u);
  caf::actor_system_config acfg;
  acfg.add_message_types<caf::id_block::agentmem>();
  caf::actor_system sys{acfg};
  auto node = pipeline::topology::start(sys, *cfg);
  BOOST_REQUIRE(!node);
  BOOST_TEST(code_of(node.error()) == "invalid_config");
  auto text = describe(node.error());
  BOOST_TEST(text.find("embedding space mismatch") != std::string::npos);
  BOOST_TEST(text.find("hashing-v1-384") != std::string::npos);
  BOOST_TEST(text.find("all-MiniLM-L6-v2") != std::string::npos);
  BOOST_TEST(text.find("sk-from-env") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_openai_provider_without_url_or_model_is_rejected) {
  temp_dir dir;
  auto conf = dir.path + "/agentmem.toml";
  {
    std::ofstream f{conf};
    f << "[kafka]\nbrokers = \"127.0.0.1:1\"\n"
      << "[postgres]\nurl = \"postgresql://x\"\n"
      << "[embedding]\nprovider = \"openai\"\nmodel = \"m\"\n";
  }
  auto cfg = pipeline::load_config(conf);
  BOOST_REQUIRE(!cfg);
  BOOST_TEST(describe(cfg.error()).find("embedding.base_url")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
