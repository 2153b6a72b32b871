#include <boost/test/unit_test.hpp>

#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storage/copy_writer.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::detail::bytea_floats;
using agentmem::storage::detail::copy_writer;

namespace {

// Text that needs every COPY escape, plus what must pass through as is.
const std::vector<std::string> tricky_texts = {
  "",
  "plain",
  "back\\slash \\N \\x41 \\\\",
  "tab\there, newline\nand CR\r\nend",
  "\\.",                       // the end-of-data marker, as a whole field
  "ends with a backslash \\",
  "UTF-8: Grüße, 日本語, emoji 🙂",
  "{\"json\": \"with \\\"quotes\\\" and \\\\n\"}",
};

} // namespace

BOOST_AUTO_TEST_SUITE(copy_writer_suite)

BOOST_FIXTURE_TEST_CASE(every_field_reads_back_as_written,
                        agentmem::test::pg_database) {
  pqxx::connection c{url};
  {
    pqxx::work tx{c};
    tx.exec("CREATE TABLE t (i integer, s text, n bigint, r real, d double"
            " precision, b boolean, o bigint, e bytea, j jsonb)");
    tx.commit();
  }
  const std::vector<float> vec = {0.0f, -1.5f, 3.25e-8f,
                                  std::numeric_limits<float>::max(),
                                  std::numeric_limits<float>::denorm_min()};
  const std::vector<float> none;
  {
    pqxx::work tx{c};
    copy_writer out{tx, "t", {"i", "s", "n", "r", "d", "b", "o", "e", "j"}};
    int32_t i = 0;
    for (auto& s : tricky_texts) {
      ++i;
      out.row(i - 1, s, int64_t{-9'007'199'254'740'993}, 0.1f, 1.0 / 3.0,
              i % 2 == 0, std::optional<int64_t>{i}, bytea_floats{vec},
              "{\"k\": \"v\\\\t\"}");
    }
    // NULLs: nullptr, a null const char*, nullopt, an empty vector.
    const char* null_text = nullptr;
    out.row(i, null_text, nullptr, std::optional<float>{},
            std::optional<double>{}, std::optional<bool>{},
            std::optional<int64_t>{}, bytea_floats{none}, nullptr);
    out.complete();
    tx.commit();
  }
  pqxx::work tx{c};
  auto r = tx.exec("SELECT i, s, n, r, d, b, o, e, j::text FROM t ORDER BY i");
  BOOST_REQUIRE_EQUAL(r.size(), tricky_texts.size() + 1);
  for (size_t k = 0; k < tricky_texts.size(); ++k) {
    auto row = r[static_cast<pqxx::result::size_type>(k)];
    BOOST_TEST(row[1].as<std::string>() == tricky_texts[k]);
    BOOST_TEST(row[2].as<int64_t>() == -9'007'199'254'740'993);
    BOOST_TEST(row[3].as<float>() == 0.1f);        // shortest text, same value
    BOOST_TEST(row[4].as<double>() == 1.0 / 3.0);
    BOOST_TEST(row[5].as<bool>() == ((k + 1) % 2 == 0));
    BOOST_TEST(row[6].as<int64_t>() == static_cast<int64_t>(k + 1));
    pqxx::binarystring blob{row[7]};
    BOOST_REQUIRE_EQUAL(blob.size(), vec.size() * sizeof(float));
    std::vector<float> back(vec.size());
    std::memcpy(back.data(), blob.data(), blob.size());
    BOOST_TEST(back == vec, boost::test_tools::per_element());
    BOOST_TEST(row[8].as<std::string>() == "{\"k\": \"v\\\\t\"}");
  }
  auto last = r[static_cast<pqxx::result::size_type>(tricky_texts.size())];
  for (int col = 1; col <= 8; ++col)
    BOOST_TEST(last[col].is_null(), "column " << col << " is NULL");
}

// The writer's direct COPY into memories gives ts as text; the staged path
// computes it in SQL from ms. Both must be the same instant, to the ms.
BOOST_FIXTURE_TEST_CASE(a_timestamp_in_ms_reads_back_as_sqls_epoch_plus_ms,
                        agentmem::test::pg_database) {
  using agentmem::storage::detail::timestamptz_ms;
  pqxx::connection c{url};
  {
    pqxx::work tx{c};
    tx.exec("CREATE TABLE t (ms bigint, ts timestamptz)");
    tx.exec("SET TIME ZONE 'America/St_Johns'"); // the text says +00
    tx.commit();
  }
  // Leap days, the epoch, negative ms (1969 and year 1), month ends, the
  // last ms of year 9999, and a spread of instants between.
  std::vector<int64_t> ms = {0, -1, 1, 999, -86'400'000, 951'782'400'000,
                             951'868'799'999, 4'107'542'399'999,
                             1'714'557'600'123, timestamptz_ms::min,
                             timestamptz_ms::max, -2'203'891'200'001};
  for (int64_t x = timestamptz_ms::min; x < timestamptz_ms::max;
       x += 7'777'777'777'777)
    ms.push_back(x + 12'345);
  {
    pqxx::work tx{c};
    copy_writer out{tx, "t", {"ms", "ts"}};
    for (auto x : ms)
      out.row(x, timestamptz_ms{x});
    out.complete();
    tx.commit();
  }
  pqxx::work tx{c};
  // extract(epoch ...) is numeric (exact) since PostgreSQL 14. The staged
  // path's `epoch + ms * interval` multiplies in float8, exact only while
  // the µs fit in 53 bits (until 2255): compared within that range.
  auto wrong = tx.exec(
    "SELECT ms, ts::text FROM t WHERE extract(epoch FROM ts) * 1000 <> ms"
    " OR (abs(ms) < 9007199254740 AND ts <> timestamptz 'epoch'"
    " + ms * interval '1 millisecond')");
  for (const auto& row : wrong)
    BOOST_ERROR("ms " << row[0].c_str() << " read back as " << row[1].c_str());
  BOOST_TEST(tx.exec("SELECT count(*) FROM t")[0][0].as<size_t>() == ms.size());
}

BOOST_FIXTURE_TEST_CASE(a_row_the_server_refuses_fails_the_copy,
                        agentmem::test::pg_database) {
  pqxx::connection c{url};
  {
    pqxx::work tx{c};
    tx.exec("CREATE TABLE t (j jsonb NOT NULL)");
    tx.commit();
  }
  pqxx::work tx{c};
  auto copy = [&] {
    copy_writer out{tx, "t", {"j"}};
    out.row("{\"ok\": 1}");
    out.row("{not json");
    out.complete();
  };
  BOOST_CHECK_THROW(copy(), pqxx::sql_error);
}

BOOST_AUTO_TEST_SUITE_END()
