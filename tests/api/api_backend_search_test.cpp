// pipeline::api_backend over real indexes (hnswlib, BM25) and a real
// RocksDB hot state: payload filters in every mode, `neighbors` context
// expansion and the query-plan metric.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <set>

#include "domain/embedding.hpp"
#include "metrics/registry.hpp"
#include "pipeline/api_backend.hpp"

using namespace agentmem;
namespace fs = std::filesystem;

namespace {

struct search_env {
  fs::path dir;
  std::shared_ptr<domain::hashing_embedder> emb =
    std::make_shared<domain::hashing_embedder>(64);
  std::shared_ptr<storage::shard_set> shards;
  std::shared_ptr<storage::hot_state> hot;
  std::unique_ptr<pipeline::api_backend> be;
  std::vector<memory> ms;

  search_env() {
    char tmpl[] = "/tmp/agentmem-be-XXXXXX";
    dir = mkdtemp(tmpl);
    storage::shard_set_config cfg;
    cfg.dir = (dir / "shards").string();
    cfg.vectors.dims = 64;
    cfg.vectors.model = emb->model();
    cfg.vectors.initial_capacity = 128;
    shards = std::make_shared<storage::shard_set>(cfg);
    // The memories below have no Kafka partition: partition 0's shard.
    auto shard = shards->open(0);
    auto hs = storage::hot_state::open((dir / "h").string());
    BOOST_REQUIRE(shard && hs);
    shards->set_phase(0, storage::shard_phase::serving);
    hot = std::move(*hs);
    be = std::make_unique<pipeline::api_backend>(
      emb, shards, hot, "postgresql://unused",
      std::make_shared<actors::health>());
    // Session "s1": 12 turns about different things, one minute apart,
    // added newest first; tags alternate; an episodic memory in the middle;
    // session "s2" has a turn about the same thing as s1's turn 6.
    const char* topics[] = {"breakfast pancakes", "the weather in Lisbon",
                            "a jazz concert",     "tax forms",
                            "knee surgery",       "the dentist",
                            "a marathon in Berlin", "my sister's wedding",
                            "a new laptop",       "gardening tomatoes",
                            "a broken bicycle",   "the chess club"};
    for (int i = 11; i >= 0; --i)
      add("s1", memory_types::conversation, i, std::string{"Ann: "} + topics[i],
          i % 2 ? std::vector<std::string>{"sport", "health"}
                : std::vector<std::string>{"travel"});
    add("s1", memory_types::episodic, 100, "Tool call calendar marathon entry",
        {"sport"}, 6 * 60'000 + 30'000);
    add("s2", memory_types::conversation, 200, "Bob: a marathon in Berlin",
        {"sport"});
    std::vector<std::string_view> texts;
    for (auto& m : ms)
      texts.push_back(m.text);
    std::vector<std::vector<float>> vecs;
    BOOST_REQUIRE(!emb->embed(texts, vecs));
    for (size_t i = 0; i < ms.size(); ++i)
      ms[i].vector = vecs[i];
    BOOST_REQUIRE(shards->upsert(ms));
    BOOST_REQUIRE(!hot->put_docs(ms));
  }

  ~search_env() {
    be.reset();
    shards.reset();
    hot.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void add(const std::string& session, const char* type, int n,
           const std::string& text, std::vector<std::string> tags,
           int64_t offset = -1) {
    memory m;
    m.point_id = static_cast<uint64_t>(n + 1);
    m.memory_id = "m" + std::to_string(n);
    m.event_id = "e" + std::to_string(n);
    m.user_id = "ann";
    m.session_id = session;
    m.memory_type = type;
    m.ts_ms = 1'700'000'000'000 + (offset >= 0 ? offset : n * 60'000);
    m.turn_ts_ms = m.ts_ms;
    m.text = text;
    m.tags = std::move(tags);
    // Scope: even turns by agent "coach" in project "p-run", odd ones by
    // "doc" without a project; importance grows with n.
    m.agent_type = "assistant";
    m.agent_name = n % 2 ? "doc" : "coach";
    m.project_id = n % 2 ? "" : "p-run";
    m.importance = n < 100 ? 0.05 * n : 0.9;
    ms.push_back(std::move(m));
  }

  // A query that every memory matches somewhat, in `mode`, top 20: the
  // filter tests see each filter's whole effect.
  static api::search_request broad_request(const char* mode) {
    api::search_request req;
    req.query = "a marathon in Berlin and the weather in Lisbon";
    req.mode = mode;
    req.top_k = 20;
    return req;
  }

  std::vector<api::search_hit> search(api::search_request req) {
    req.user_id = "ann";
    auto r = be->search(req);
    BOOST_REQUIRE(r);
    return *r;
  }
};

std::vector<std::string> ids(const std::vector<api::context_turn>& ts) {
  std::vector<std::string> out;
  for (auto& t : ts)
    out.push_back(t.memory_id);
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(api_backend_search, search_env)

BOOST_AUTO_TEST_CASE(neighbors_return_the_surrounding_turns_of_the_session) {
  api::search_request req;
  req.query = "marathon in Berlin";
  req.mode = "keyword";
  req.top_k = 3;
  req.neighbors = 2;
  req.filter.session_id = "s1";
  req.filter.memory_types = {memory_types::conversation};
  auto hits = search(req);
  BOOST_REQUIRE(!hits.empty());
  BOOST_TEST(hits[0].memory_id == "m6");
  BOOST_TEST((ids(hits[0].context_before)
              == std::vector<std::string>{"m4", "m5"}));
  BOOST_TEST((ids(hits[0].context_after)
              == std::vector<std::string>{"m7", "m8"}));
  BOOST_TEST(hits[0].context_before[1].text == "Ann: the dentist");
  BOOST_TEST(hits[0].context_after[0].ts_ms == 1'700'000'000'000 + 7 * 60'000);
  // The episodic memory at 6m30s sits between turns 6 and 7; s2's turn
  // has no neighbours at all.
  req.filter = {};
  req.top_k = 10;
  req.neighbors = 1;
  for (auto& h : search(req)) {
    if (h.memory_id == "m100") {
      BOOST_TEST(ids(h.context_before) == std::vector<std::string>{"m6"});
      BOOST_TEST(ids(h.context_after) == std::vector<std::string>{"m7"});
    } else if (h.memory_id == "m200") {
      BOOST_TEST(h.context_before.empty());
      BOOST_TEST(h.context_after.empty());
    }
  }
  req.neighbors = 0;
  for (auto& h : search(req))
    BOOST_TEST((h.context_before.empty() && h.context_after.empty()));
}

BOOST_AUTO_TEST_CASE(tag_filters_apply_in_every_mode) {
  std::map<std::string, std::vector<std::string>> tags_of;
  for (auto& m : ms)
    tags_of[m.memory_id] = m.tags;
  auto has = [&](const std::string& id, const std::string& t) {
    auto& ts = tags_of[id];
    return std::find(ts.begin(), ts.end(), t) != ts.end();
  };
  for (const char* mode : {"vector", "keyword", "hybrid"}) {
    BOOST_TEST_CONTEXT("mode " << mode) {
      auto req = broad_request(mode);
      req.filter.tags = {"travel", "health"};
      auto any = search(req);
      BOOST_TEST(!any.empty());
      for (auto& h : any)
        BOOST_TEST((has(h.memory_id, "travel") || has(h.memory_id, "health")));
      req.filter.tags = {"sport", "health"};
      req.filter.tags_all = true;
      auto all = search(req);
      BOOST_TEST(!all.empty());
      for (auto& h : all)
        BOOST_TEST((has(h.memory_id, "sport") && has(h.memory_id, "health")));
      req.filter.tags = {"sport", "no-such-tag"};
      BOOST_TEST(search(req).empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(scope_and_importance_filters_apply_in_every_mode) {
  std::map<std::string, const memory*> by_id;
  for (auto& m : ms)
    by_id[m.memory_id] = &m;
  for (const char* mode : {"vector", "keyword", "hybrid"}) {
    BOOST_TEST_CONTEXT("mode " << mode) {
      auto req = broad_request(mode);
      auto all = search(req);
      BOOST_TEST(all.size() == ms.size());
      for (auto& h : all) { // every hit carries its stored scope
        auto& m = *by_id.at(h.memory_id);
        BOOST_TEST(h.importance == static_cast<double>(
                                     static_cast<float>(m.importance)),
                   boost::test_tools::tolerance(1e-6));
        BOOST_TEST(h.agent_name == m.agent_name);
        BOOST_TEST(h.project_id == m.project_id);
      }
      req.filter.project_id = "p-run";
      auto in_project = search(req);
      BOOST_TEST(in_project.size() == 8u); // turns 0, 2, ..., 10, m100, m200
      for (auto& h : in_project)
        BOOST_TEST(by_id.at(h.memory_id)->project_id == "p-run");
      req.filter = {};
      req.filter.agent_name = "doc";
      req.filter.min_importance = 0.25; // n >= 5, odd: 5, 7, 9, 11
      req.query = "the dentist, a wedding, tomatoes and the chess club";
      auto doc = search(req);
      BOOST_TEST(doc.size() == 4u);
      for (auto& h : doc) {
        BOOST_TEST(by_id.at(h.memory_id)->agent_name == "doc");
        BOOST_TEST(h.importance >= 0.25);
      }
      req.filter = {};
      req.filter.agent_type = "no-such-agent";
      BOOST_TEST(search(req).empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_changed_importance_is_filtered_at_once) {
  // An in-place change (dedup, PATCH) re-upserts the memory: the payload's
  // importance follows, so min_importance sees the new value.
  api::search_request req;
  req.query = "tax forms";
  req.mode = "keyword";
  req.filter.min_importance = 0.5;
  auto before = search(req);
  for (auto& h : before)
    BOOST_TEST(h.memory_id != "m3");
  auto m3 = *std::find_if(ms.begin(), ms.end(),
                          [](auto& m) { return m.memory_id == "m3"; });
  m3.importance = 0.8;
  BOOST_REQUIRE(shards->upsert({m3}));
  auto after = search(req);
  BOOST_REQUIRE(!after.empty());
  BOOST_TEST(after[0].memory_id == "m3");
  BOOST_TEST(after[0].importance == 0.8);
}

BOOST_AUTO_TEST_CASE(vector_searches_count_their_query_plan) {
  auto& exact = metrics::global().get_counter(
    "agentmem_search_plan_total", "", {{"plan", "exact"}});
  auto& none = metrics::global().get_counter(
    "agentmem_search_plan_total", "", {{"plan", "none"}});
  auto e0 = exact.value(), n0 = none.value();
  api::search_request req;
  req.query = "tax forms";
  req.mode = "vector";
  search(req); // 14 points: far below the full-scan threshold
  BOOST_TEST(exact.value() == e0 + 1);
  req.filter.session_id = "no-such-session";
  BOOST_TEST(search(req).empty());
  BOOST_TEST(none.value() == n0 + 1);
}

BOOST_AUTO_TEST_SUITE_END()
