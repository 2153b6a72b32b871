#include <boost/test/unit_test.hpp>

#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storage/staged_rows.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::detail::bytea_floats;
using agentmem::storage::detail::staged_rows;

namespace {

// Text that needs every array-literal escape or would be read as syntax
// unquoted, plus what must pass through as is.
const std::vector<std::string> tricky_texts = {
  "",
  "NULL",                          // the string, not a NULL element
  "plain",
  "\"quoted\" and \\backslash\\ \\\\",
  "{braces}, commas, and ,{\"}",
  "  leading and trailing blanks  ",
  "tab\there, newline\nand CR\r\nend",
  "ends with a backslash \\",
  "UTF-8: Grüße, 日本語, emoji 🙂",
  "{\"json\": \"with \\\"quotes\\\" and \\\\n\"}",
};

const std::vector<staged_rows::column> columns = {
  {"i", "integer"}, {"s", "text"},    {"n", "bigint"},
  {"r", "real"},    {"d", "double precision"},
  {"b", "boolean"}, {"o", "bigint"},  {"e", "bytea"},
  {"j", "jsonb"}};

} // namespace

BOOST_AUTO_TEST_SUITE(staged_rows_suite)

BOOST_FIXTURE_TEST_CASE(every_field_reads_back_as_written,
                        agentmem::test::pg_database) {
  const std::vector<float> vec = {0.0f, -1.5f, 3.25e-8f,
                                  std::numeric_limits<float>::max(),
                                  std::numeric_limits<float>::denorm_min()};
  const std::vector<float> none;
  staged_rows rows{columns};
  BOOST_TEST(rows.empty());
  int32_t i = 0;
  for (auto& s : tricky_texts) {
    ++i;
    rows.row(i - 1, s, int64_t{-9'007'199'254'740'993}, 0.1f, 1.0 / 3.0,
             i % 2 == 0, std::optional<int64_t>{i}, bytea_floats{vec},
             "{\"k\": \"v\\\\t\"}");
  }
  // NULLs: nullptr, a null const char*, nullopt, an empty vector.
  const char* null_text = nullptr;
  rows.row(i, null_text, nullptr, std::optional<float>{},
           std::optional<double>{}, std::optional<bool>{},
           std::optional<int64_t>{}, bytea_floats{none}, nullptr);
  BOOST_TEST(rows.size() == tricky_texts.size() + 1);
  BOOST_TEST(rows.from("t", 2)
             == "unnest($2::integer[], $3::text[], $4::bigint[], $5::real[],"
                " $6::double precision[], $7::boolean[], $8::bigint[],"
                " $9::bytea[], $10::jsonb[]) AS t(i, s, n, r, d, b, o, e, j)");
  pqxx::connection c{url};
  pqxx::work tx{c};
  // $1 shifts the arrays to $2.. (a statement mixing other parameters).
  auto r = tx.exec_params("SELECT $1::text, i, s, n, r, d, b, o, e, j::text"
                          " FROM " + rows.from("t", 2) + " ORDER BY i",
                          "x", pqxx::prepare::make_dynamic_params(rows.params()));
  BOOST_REQUIRE_EQUAL(r.size(), tricky_texts.size() + 1);
  for (size_t k = 0; k < tricky_texts.size(); ++k) {
    auto row = r[static_cast<pqxx::result::size_type>(k)];
    BOOST_TEST(row[1].as<int32_t>() == static_cast<int32_t>(k));
    BOOST_TEST(row[2].as<std::string>() == tricky_texts[k]);
    BOOST_TEST(row[3].as<int64_t>() == -9'007'199'254'740'993);
    BOOST_TEST(row[4].as<float>() == 0.1f); // shortest text, same value
    BOOST_TEST(row[5].as<double>() == 1.0 / 3.0);
    BOOST_TEST(row[6].as<bool>() == ((k + 1) % 2 == 0));
    BOOST_TEST(row[7].as<int64_t>() == static_cast<int64_t>(k + 1));
    pqxx::binarystring blob{row[8]};
    BOOST_REQUIRE_EQUAL(blob.size(), vec.size() * sizeof(float));
    std::vector<float> back(vec.size());
    std::memcpy(back.data(), blob.data(), blob.size());
    BOOST_TEST(back == vec, boost::test_tools::per_element());
    BOOST_TEST(row[9].as<std::string>() == "{\"k\": \"v\\\\t\"}");
  }
  auto last = r[static_cast<pqxx::result::size_type>(tricky_texts.size())];
  for (int col = 2; col <= 9; ++col)
    BOOST_TEST(last[col].is_null(), "column " << col << " is NULL");
}

BOOST_FIXTURE_TEST_CASE(no_rows_are_empty_arrays,
                        agentmem::test::pg_database) {
  staged_rows rows{columns};
  pqxx::connection c{url};
  pqxx::work tx{c};
  auto r = tx.exec_params("SELECT count(*) FROM " + rows.from("t"),
                          pqxx::prepare::make_dynamic_params(rows.params()));
  BOOST_TEST(r[0][0].as<int64_t>() == 0);
}

BOOST_FIXTURE_TEST_CASE(a_value_the_server_refuses_fails_the_statement,
                        agentmem::test::pg_database) {
  staged_rows rows{{{"j", "jsonb"}}};
  rows.row("{\"ok\": 1}");
  rows.row("{not json");
  pqxx::connection c{url};
  pqxx::work tx{c};
  BOOST_CHECK_THROW(
    tx.exec_params("SELECT j FROM " + rows.from("t"),
                   pqxx::prepare::make_dynamic_params(rows.params())),
    pqxx::sql_error);
}

BOOST_AUTO_TEST_SUITE_END()
