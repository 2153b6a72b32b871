// Removal of points from the vector and keyword indexes (user deletion,
// retention): searches stop finding them, snapshots with removed points
// load back, removed terms leave the keyword snapshot, and a removed point
// can be added again.

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "storage/keyword_index.hpp"
#include "storage/vector_index.hpp"

using namespace agentmem;
using namespace agentmem::storage;
namespace fs = std::filesystem;

namespace {

struct tmp_dir {
  fs::path path;
  tmp_dir() {
    char tmpl[] = "/tmp/agentmem-removal-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~tmp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

constexpr size_t dims = 16;

memory pt(uint64_t id, const std::string& user, int64_t ts,
          const std::string& text, std::mt19937& rng) {
  std::normal_distribution<float> n{0, 1};
  memory m;
  m.memory_id = "m" + std::to_string(id);
  m.point_id = id;
  m.user_id = user;
  m.session_id = "s";
  m.memory_type = "conversation";
  m.ts_ms = ts;
  m.text = text;
  m.vector.resize(dims);
  float norm = 0;
  for (auto& x : m.vector) {
    x = n(rng);
    norm += x * x;
  }
  for (auto& x : m.vector)
    x /= std::sqrt(norm);
  return m;
}

vector_index_config cfg() {
  vector_index_config c;
  c.dims = dims;
  c.model = "test";
  c.initial_capacity = 16;
  c.exact_threshold = 0; // always through HNSW
  return c;
}

std::string bytes_of(const fs::path& dir) {
  std::string all;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) {
      std::ifstream in{e.path(), std::ios::binary};
      all.append(std::istreambuf_iterator<char>{in}, {});
    }
  return all;
}

} // namespace

BOOST_AUTO_TEST_SUITE(removal_suite)

BOOST_AUTO_TEST_CASE(removed_points_are_not_found_survive_a_snapshot_and_can_return) {
  tmp_dir tmp;
  std::mt19937 rng{5};
  std::vector<memory> ms;
  for (uint64_t i = 1; i <= 40; ++i)
    ms.push_back(pt(i, i <= 10 ? "alice" : "bob", 1000 + static_cast<int64_t>(i),
                    "text", rng));
  {
    auto idx = vector_index::open(tmp.path.string(), cfg());
    BOOST_REQUIRE(idx);
    BOOST_REQUIRE(*(*idx)->upsert(ms) == 40u);
    // Alice's points up to ts 1005 go; 6..10 stay.
    auto gone = (*idx)->remove_user("alice", 1005);
    BOOST_REQUIRE(gone);
    BOOST_TEST(gone->size() == 5u);
    BOOST_TEST((*idx)->user_size("alice") == 5u);
    BOOST_TEST((*idx)->size() == 35u);
    auto again = (*idx)->remove({1, 2, 11});
    BOOST_REQUIRE(again);
    BOOST_TEST(again->size() == 1u); // only 11 was still there
    vector_filter f;
    f.user_id = "alice";
    for (auto& hit : (*idx)->search(ms[0].vector.data(), 40, f))
      BOOST_TEST(hit.point_id > 5u);
    BOOST_TEST((*idx)->search(ms[0].vector.data(), 40, f).size() == 5u);
    BOOST_REQUIRE(!(*idx)->save(7));
  }
  auto idx = vector_index::open(tmp.path.string(), cfg());
  BOOST_REQUIRE(idx);
  BOOST_TEST((*idx)->watermark() == 7);
  BOOST_TEST((*idx)->size() == 34u);
  BOOST_TEST(!(*idx)->contains(1));
  BOOST_TEST(!(*idx)->contains(11));
  vector_filter f;
  f.user_id = "bob";
  auto hits = (*idx)->search(ms[10].vector.data(), 40, f);
  BOOST_TEST(hits.size() == 29u); // bob's 30 minus the removed 11
  for (auto& h : hits)
    BOOST_TEST(h.point_id != 11u);
  hits = (*idx)->search(ms[11].vector.data(), 1, f);
  BOOST_REQUIRE(hits.size() == 1u);
  BOOST_TEST(hits[0].point_id == 12u);
  // A removed point can be added again (same id: hnswlib un-deletes it).
  BOOST_TEST(*(*idx)->upsert({ms[0]}) == 1u);
  f.user_id = "alice";
  hits = (*idx)->search(ms[0].vector.data(), 1, f);
  BOOST_REQUIRE(hits.size() == 1u);
  BOOST_TEST(hits[0].point_id == 1u);
  BOOST_TEST(hits[0].score > 0.99f);
}

BOOST_AUTO_TEST_CASE(keyword_removal_drops_postings_and_the_terms_leave_the_snapshot) {
  tmp_dir tmp;
  std::mt19937 rng{6};
  {
    auto kw = keyword_index::open(tmp.path.string());
    BOOST_REQUIRE(kw);
    (*kw)->upsert({pt(1, "alice", 10, "alice quetzalcoatl secret", rng),
                   pt(2, "alice", 20, "alice later garden", rng),
                   pt(3, "bob", 10, "bob garden shed", rng)});
    BOOST_REQUIRE(!(*kw)->save(1));
    BOOST_REQUIRE(bytes_of(tmp.path).find("quetzalcoatl") != std::string::npos);
    BOOST_TEST((*kw)->remove_user("alice", 10) == 1u);
    BOOST_TEST((*kw)->remove({1, 3}) == 1u); // 1 already gone
    vector_filter f;
    f.user_id = "alice";
    BOOST_TEST((*kw)->search("quetzalcoatl", 10, f).empty());
    BOOST_TEST((*kw)->search("garden", 10, f).size() == 1u);
    f.user_id = "bob";
    BOOST_TEST((*kw)->search("garden", 10, f).empty());
    BOOST_REQUIRE(!(*kw)->save(2));
  }
  BOOST_TEST(bytes_of(tmp.path).find("quetzalcoatl") == std::string::npos);
  auto kw = keyword_index::open(tmp.path.string());
  BOOST_REQUIRE(kw);
  BOOST_TEST((*kw)->size() == 1u);
  vector_filter f;
  f.user_id = "alice";
  BOOST_TEST((*kw)->search("garden", 10, f).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
