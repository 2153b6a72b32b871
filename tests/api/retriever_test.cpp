// pipeline::retriever over real indexes (hnswlib, BM25) and the hashing
// embedder: session smoothing, the temporal and speaker rankings, BM25
// feedback, and re-ranking through the domain::reranker interface.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>

#include "domain/embedding.hpp"
#include "domain/timestamp.hpp"
#include "pipeline/retriever.hpp"

using namespace agentmem;
namespace fs = std::filesystem;

namespace {

constexpr int64_t day = 86'400'000;

struct retriever_env {
  fs::path dir;
  std::shared_ptr<domain::hashing_embedder> emb =
    std::make_shared<domain::hashing_embedder>(128);
  std::shared_ptr<storage::vector_index> index;
  std::shared_ptr<storage::keyword_index> keywords;
  std::vector<memory> ms;

  retriever_env() {
    char tmpl[] = "/tmp/agentmem-rt-XXXXXX";
    dir = mkdtemp(tmpl);
    storage::vector_index_config cfg;
    cfg.dims = 128;
    cfg.model = emb->model();
    cfg.initial_capacity = 256;
    auto vi = storage::vector_index::open((dir / "v").string(), cfg);
    auto ki = storage::keyword_index::open((dir / "k").string());
    BOOST_REQUIRE(vi && ki);
    index = std::move(*vi);
    keywords = std::move(*ki);
  }

  ~retriever_env() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // A session of turns, one minute apart from `start`.
  void session(const std::string& id, int64_t start,
               std::vector<std::pair<std::string, std::string>> turns) {
    for (size_t i = 0; i < turns.size(); ++i) {
      memory m;
      m.point_id = ms.size() + 1;
      m.memory_id = "m" + std::to_string(m.point_id);
      m.user_id = "u";
      m.session_id = id;
      m.memory_type = memory_types::conversation;
      m.ts_ms = start + static_cast<int64_t>(i) * 60'000;
      m.turn_ts_ms = m.ts_ms;
      m.speaker = turns[i].first;
      m.text = turns[i].first + ": " + turns[i].second;
      ms.push_back(std::move(m));
    }
  }

  void index_all() {
    for (auto& m : ms) {
      std::vector<std::vector<float>> v;
      BOOST_REQUIRE(!emb->embed({m.text}, v));
      m.vector = v[0];
    }
    BOOST_REQUIRE(index->upsert(ms));
    keywords->upsert(ms);
  }

  pipeline::fusion_params off() const {
    pipeline::fusion_params p;
    p.vector_weight = 0.2;
    p.neighbor_weight = 0;
    p.prf.docs = 0;
    p.temporal_weight = 0;
    p.speaker_weight = 0;
    return p;
  }

  std::vector<uint64_t> ask(const pipeline::retriever& r, const std::string& q,
                            const pipeline::fusion_params& p,
                            const std::string& mode = "hybrid", size_t k = 5,
                            storage::vector_filter f = {}) {
    f.user_id = "u";
    auto hits = r.search(q, mode, k, f, p);
    BOOST_REQUIRE(hits);
    std::vector<uint64_t> out;
    for (auto& h : *hits)
      out.push_back(h.point_id);
    return out;
  }
};

size_t rank_of(const std::vector<uint64_t>& v, uint64_t id) {
  return static_cast<size_t>(std::find(v.begin(), v.end(), id) - v.begin());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(retriever_suite, retriever_env)

BOOST_AUTO_TEST_CASE(session_smoothing_lifts_the_reply_to_a_matching_turn) {
  // The answer ("Yes, last Saturday!") shares no word with the query; the
  // turn before it does.
  session("s1", 0, {{"Ann", "Did you run the Berlin marathon?"},
                    {"Bob", "Yes, last Saturday! Finished in four hours."},
                    {"Ann", "I baked bread today."}});
  session("s2", day, {{"Bob", "Berlin has great museums and a marathon"},
                      {"Ann", "Paris is lovely in spring."},
                      {"Bob", "My cat sleeps all day."}});
  index_all();
  pipeline::retriever r{emb, index, keywords, off()};
  auto plain = ask(r, "Berlin marathon", off(), "keyword", 10);
  BOOST_TEST(rank_of(plain, 2) == plain.size()); // not found at all
  auto p = off();
  p.neighbor_weight = 0.5;
  auto smooth = ask(r, "Berlin marathon", p, "keyword", 10);
  BOOST_TEST(rank_of(smooth, 2) < smooth.size());
  // A neighbour outside the filter stays out.
  storage::vector_filter f;
  f.session_id = "s2";
  for (auto id : ask(r, "Berlin marathon", p, "hybrid", 10, f))
    BOOST_TEST(id >= 4u);
}

BOOST_AUTO_TEST_CASE(a_date_in_the_query_ranks_memories_of_that_time) {
  auto june = domain::days_from_civil(2023, 6, 10) * day;
  auto aug = domain::days_from_civil(2023, 8, 20) * day;
  session("s1", june, {{"Ann", "We went camping by the lake."},
                       {"Bob", "Sounds fun."}});
  session("s2", aug, {{"Ann", "camping camping camping, Ann loves camping"},
                      {"Bob", "Ann, camping again? Camping is Ann's thing!"}});
  index_all();
  pipeline::retriever r{emb, index, keywords, off()};
  auto q = "Where did Ann go camping in June 2023?";
  auto before = ask(r, q, off());
  auto p = off();
  p.temporal_weight = 1;
  auto after = ask(r, q, p);
  BOOST_TEST(rank_of(after, 1) == 0u);
  BOOST_TEST(rank_of(before, 1) > 0u); // August's turns win on words alone
}

BOOST_AUTO_TEST_CASE(a_named_speaker_ranks_that_persons_turns) {
  session("s1", 0, {{"Ann", "I love hiking in the Alps."},
                    {"Bob", "Ann, hiking is great, hiking with Ann!"},
                    {"Ann", "The Alps were long."}});
  index_all();
  pipeline::retriever r{emb, index, keywords, off()};
  auto q = "What hiking does Ann do?";
  BOOST_TEST(rank_of(ask(r, q, off()), 2) == 0u); // Bob says "Ann" twice
  auto p = off();
  p.speaker_weight = 1;
  auto with = ask(r, q, p);
  BOOST_TEST(rank_of(with, 1) == 0u);
  BOOST_TEST(rank_of(with, 2) > 0u);
}

namespace {

// Scores documents by how often they contain the query's last word: a
// deterministic reranker that disagrees with BM25 on purpose.
struct counting_reranker : domain::reranker {
  size_t calls = 0;
  caf::expected<std::vector<double>>
  score(std::string_view query,
        const std::vector<std::string_view>& docs) override {
    ++calls;
    auto word = std::string{query.substr(query.rfind(' ') + 1)};
    std::vector<double> out;
    for (auto d : docs) {
      double n = 0;
      for (size_t p = d.find(word); p != std::string_view::npos;
           p = d.find(word, p + 1))
        ++n;
      out.push_back(n);
    }
    return out;
  }
  std::string model() const override {
    return "counting";
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(rerank_orders_the_top_candidates_by_the_rerankers_score) {
  session("s1", 0, {{"Ann", "apple pie recipe with apple and more apple"},
                    {"Bob", "recipe for pie: one pie, then pie again pie"},
                    {"Ann", "unrelated chatter"}});
  index_all();
  auto rr = std::make_shared<counting_reranker>();
  pipeline::retriever r{
    emb, index, keywords, off(), rr,
    [this](const std::vector<uint64_t>& ids)
      -> caf::expected<std::vector<std::optional<std::string>>> {
      std::vector<std::optional<std::string>> out;
      for (auto id : ids)
        out.push_back(ms[id - 1].text);
      return out;
    }};
  auto p = off();
  p.rerank_depth = 10;
  auto hits = ask(r, "apple recipe pie", p, "hybrid", 2);
  BOOST_TEST(rr->calls == 1u);
  BOOST_REQUIRE(hits.size() == 2u);
  BOOST_TEST(hits[0] == 2u); // most "pie"
  BOOST_TEST(hits[1] == 1u);
  // Depth 0 (the default) never calls the reranker.
  ask(r, "apple recipe pie", off());
  BOOST_TEST(rr->calls == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
