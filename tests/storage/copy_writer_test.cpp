#include <boost/test/unit_test.hpp>

#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storage/copy_writer.hpp"
#include "storage/pg_connection.hpp"
#include "tests/storage/pg_exec.hpp"
#include "tests/storage/pg_fixture.hpp"

using namespace agentmem;
using agentmem::storage::detail::binary_copy_writer;
using agentmem::storage::detail::bytea_floats;
using agentmem::storage::detail::copy_writer;
using agentmem::storage::detail::jsonb_text;
using agentmem::storage::detail::pg_connection;
using agentmem::storage::detail::text_array;
using agentmem::storage::detail::timestamptz_ms;

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

BOOST_AUTO_TEST_SUITE(binary_copy_writer_suite)

namespace {

constexpr const char* every_type_table =
  " (k integer, s text, b boolean, i2 smallint, i8 bigint, r real,"
  " d double precision, ts timestamptz, e bytea, j jsonb, a text[])";

const std::vector<std::string> every_type_columns = {
  "k", "s", "b", "i2", "i8", "r", "d", "ts", "e", "j", "a"};

// Rows with every field type, NULLs of each and values at the edges; sent
// through `Writer` (the text or the binary writer) in the same order.
template <class Writer>
void write_every_type(Writer& out) {
  const std::vector<float> vec = {0.0f, -1.5f, 3.25e-8f,
                                  std::numeric_limits<float>::max(),
                                  std::numeric_limits<float>::denorm_min()};
  std::vector<float> wide(384);
  for (size_t i = 0; i < wide.size(); ++i)
    wide[i] = static_cast<float>(i) * 0.37f - 50.0f;
  const std::vector<float> none;
  const std::vector<std::string> tags = {
    "", "plain", "with \"quotes\"", "back\\slash", "a,b", "{braces}",
    "NULL", "tab\tand\nnewline", "Grüße 🙂"};
  const std::vector<std::string> no_tags;
  const std::vector<int64_t> ms = {0, -1, 946'684'800'000, 946'684'799'999,
                                   1'714'557'600'123, timestamptz_ms::min,
                                   timestamptz_ms::max, -2'203'891'200'001};
  int32_t k = 0;
  for (auto& text : tricky_texts)
    for (auto t : ms) {
      out.row(k, text, k % 2 == 0, static_cast<int16_t>(-k), int64_t{-k} << 40,
              0.1f * static_cast<float>(k), 1.0 / 3.0 * k, timestamptz_ms{t},
              bytea_floats{k % 3 == 0 ? wide : vec},
              jsonb_text{"{\"k\": [1, \"v\\\\t\"], \"u\": \"日本\"}"},
              text_array{k % 4 == 0 ? no_tags : tags});
      ++k;
    }
  // NULL in every column: nullptr, a null const char*, nullopt, an empty
  // vector.
  const char* null_text = nullptr;
  out.row(k, null_text, std::optional<bool>{}, std::optional<int16_t>{},
          nullptr, std::optional<float>{}, std::optional<double>{},
          std::optional<timestamptz_ms>{}, bytea_floats{none},
          std::optional<jsonb_text>{}, nullptr);
}

} // namespace

// The binary writer's rows are the text writer's (which the suite above
// reads back field by field): the same rows through both, compared by SQL
// in both directions -- more rows than one 64 KiB chunk.
BOOST_FIXTURE_TEST_CASE(binary_rows_read_back_as_the_text_writers_rows,
                        agentmem::test::pg_database) {
  pg_connection c{url};
  {
    pqxx::work tx{c};
    tx.exec(std::string{"CREATE TABLE t_text"} + every_type_table);
    tx.exec(std::string{"CREATE TABLE t_binary"} + every_type_table);
    tx.commit();
  }
  {
    pqxx::work tx{c};
    copy_writer text{tx, "t_text", every_type_columns};
    write_every_type(text);
    text.complete();
    binary_copy_writer binary{tx, c, "t_binary", every_type_columns};
    write_every_type(binary);
    binary.complete();
    tx.commit();
  }
  pqxx::work tx{c};
  auto rows = tx.exec("SELECT count(*) FROM t_binary")[0][0].as<size_t>();
  BOOST_TEST(rows == tricky_texts.size() * 8 + 1);
  BOOST_TEST(tx.exec("SELECT pg_total_relation_size('t_binary')")[0][0]
               .as<int64_t>() > 64 * 1024);
  // IS NOT DISTINCT FROM compares NULLs too; every column, both ways.
  auto differ = tx.exec(
    "SELECT k FROM t_text t FULL JOIN t_binary b USING (k)"
    " WHERE (t.s, t.b, t.i2, t.i8, t.r, t.d, t.ts, t.e, t.j, t.a)"
    " IS DISTINCT FROM (b.s, b.b, b.i2, b.i8, b.r, b.d, b.ts, b.e, b.j, b.a)");
  for (const auto& row : differ)
    BOOST_ERROR("row k = " << row[0].c_str() << " differs");
  BOOST_TEST(tx.exec("SELECT count(*) FROM t_binary WHERE s IS NULL AND b IS"
                     " NULL AND i2 IS NULL AND i8 IS NULL AND r IS NULL AND d"
                     " IS NULL AND ts IS NULL AND e IS NULL AND j IS NULL AND"
                     " a IS NULL")[0][0].as<int>() == 1);
  BOOST_TEST(tx.exec("SELECT count(*) FROM t_binary WHERE a = '{}'")[0][0]
               .as<int>() > 0);
}

// The writer's direct path runs the COPY as the first statement of a
// savepoint, which libpqxx opens lazily: a refused row must roll back to
// it and leave the transaction usable (commit_batch then takes the staged
// path), with libpqxx's exception type for the SQLSTATE.
BOOST_FIXTURE_TEST_CASE(a_refused_row_rolls_back_to_the_savepoint_only,
                        agentmem::test::pg_database) {
  test::exec_sql(url, "CREATE TABLE t (id text PRIMARY KEY, n integer)");
  pg_connection c{url};
  pqxx::work tx{c};
  tx.exec("INSERT INTO t VALUES ('a', 1)");
  std::string sqlstate;
  try {
    pqxx::subtransaction sub{tx, "direct"};
    binary_copy_writer out{sub, c, "t", {"id", "n"}};
    out.row(std::string{"b"}, int32_t{2});
    out.row(std::string{"a"}, int32_t{3}); // stored already
    out.complete();
    sub.commit();
    BOOST_FAIL("the duplicate key was accepted");
  } catch (const pqxx::unique_violation& e) {
    sqlstate = e.sqlstate();
  }
  BOOST_TEST(sqlstate == "23505");
  tx.exec("INSERT INTO t VALUES ('c', 4)");
  tx.commit();
  pqxx::work check{c};
  auto r = check.exec("SELECT string_agg(id || n, ',' ORDER BY id) FROM t");
  BOOST_TEST(r[0][0].as<std::string>() == "a1,c4");
}

BOOST_FIXTURE_TEST_CASE(a_field_of_another_type_is_the_servers_data_exception,
                        agentmem::test::pg_database) {
  test::exec_sql(url, "CREATE TABLE t (n integer)");
  pg_connection c{url};
  pqxx::work tx{c};
  std::string sqlstate;
  try {
    binary_copy_writer out{tx, c, "t", {"n"}};
    out.row(int64_t{1}); // bigint into an integer column
    out.complete();
  } catch (const pqxx::data_exception& e) {
    sqlstate = e.sqlstate();
  }
  BOOST_TEST(sqlstate == "22P03"); // invalid_binary_representation
}

// A writer given up before complete() (the caller threw) ends the COPY
// with an error: nothing is written and the connection is usable.
BOOST_FIXTURE_TEST_CASE(a_writer_given_up_before_complete_writes_nothing,
                        agentmem::test::pg_database) {
  test::exec_sql(url, "CREATE TABLE t (n integer)");
  pg_connection c{url};
  {
    pqxx::work tx{c};
    {
      pqxx::subtransaction sub{tx, "given_up"};
      binary_copy_writer out{sub, c, "t", {"n"}};
      for (int32_t i = 0; i < 20'000; ++i)
        out.row(i);
    }
    tx.exec("INSERT INTO t VALUES (-1)");
    tx.commit();
  }
  pqxx::work tx{c};
  BOOST_TEST(tx.exec("SELECT string_agg(n::text, ',') FROM t")[0][0]
               .as<std::string>() == "-1");
}

BOOST_FIXTURE_TEST_CASE(a_transaction_on_another_connection_is_a_usage_error,
                        agentmem::test::pg_database) {
  pg_connection c{url};
  pg_connection other{url};
  pqxx::work tx{c};
  BOOST_CHECK_THROW((binary_copy_writer{tx, other, "t", {"n"}}),
                    pqxx::usage_error);
}

BOOST_AUTO_TEST_SUITE_END()
