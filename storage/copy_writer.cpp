#include "storage/copy_writer.hpp"

#include <cstdio>
#include <cstring>

#include <libpq-fe.h>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>

#include "domain/timestamp.hpp"
#include "storage/pg_connection.hpp"
#include "storage/staged_rows.hpp" // append_text_array_literal

namespace agentmem::storage::detail {

void append_copy_text(std::string& line, std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  for (; p != end; ++p) {
    char esc;
    switch (*p) {
      case '\\': esc = '\\'; break;
      case '\n': esc = 'n'; break;
      case '\r': esc = 'r'; break;
      case '\t': esc = 't'; break;
      default: continue;
    }
    line.append(run, p);
    line += '\\';
    line += esc;
    run = p + 1;
  }
  line.append(run, end);
}

void append_float_hex(std::string& out, const std::vector<float>& values) {
  static constexpr char digits[] = "0123456789abcdef";
  auto at = out.size();
  out.resize(at + values.size() * 8);
  char* p = out.data() + at;
  for (float f : values) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) {
      auto byte = (bits >> (8 * i)) & 0xffu;
      *p++ = digits[byte >> 4];
      *p++ = digits[byte & 0xf];
    }
  }
}

void append_timestamptz_ms(std::string& line, timestamptz_ms t) {
  constexpr int64_t day_ms = 86'400'000;
  int64_t days = t.ms / day_ms;
  int64_t in_day = t.ms % day_ms;
  if (in_day < 0) {
    in_day += day_ms;
    --days;
  }
  auto c = domain::civil_from_days(days);
  char buf[40];
  int n = std::snprintf(
    buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld.%03lld+00",
    static_cast<long long>(c.year), c.month, c.day,
    static_cast<long long>(in_day / 3'600'000),
    static_cast<long long>(in_day / 60'000 % 60),
    static_cast<long long>(in_day / 1'000 % 60),
    static_cast<long long>(in_day % 1'000));
  line.append(buf, static_cast<size_t>(n));
}

void append_copy_bytea(std::string& line, const std::vector<float>& values) {
  line += "\\\\x"; // "\x", its backslash escaped for COPY
  append_float_hex(line, values);
}

// pqxx::tablewriter is libpqxx 6.4's public way to send a preformatted
// line (stream_to keeps write_raw_line private); it is marked deprecated
// in favour of stream_to, whose escaping this class exists to avoid.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
copy_writer::copy_writer(pqxx::transaction_base& tx, const std::string& table,
                         const std::vector<std::string>& columns)
  : out_(std::make_unique<pqxx::tablewriter>(tx, table, columns.begin(),
                                             columns.end())) {
  line_.reserve(4096);
}
#pragma GCC diagnostic pop

copy_writer::~copy_writer() = default;

void copy_writer::send() {
  out_->write_raw_line(line_);
}

void copy_writer::complete() {
  out_->complete();
}

void copy_writer::field(const text_array& a) {
  array_.clear();
  append_text_array_literal(array_, a.values);
  append_copy_text(line_, array_);
  line_ += '\t';
}

// --- binary format ---------------------------------------------------------

namespace {

// "PGCOPY\n\377\r\n\0", flags (no OIDs), header extension length.
constexpr char binary_header[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n',
                                  '\377', '\r', '\n', '\0', 0, 0, 0, 0,
                                  0, 0, 0, 0};

// ms between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC).
constexpr int64_t pg_epoch_ms = 946'684'800'000;

// The libpqxx exception libpqxx 6.4 throws for `sqlstate` (its result.cxx
// mapping, for the classes a COPY can fail with), thrown.
[[noreturn]] void throw_sql_error(const std::string& msg,
                                  const std::string& query,
                                  const std::string& sqlstate) {
  const char* code = sqlstate.c_str();
  auto cls = sqlstate.substr(0, 2);
  if (cls == "08")
    throw pqxx::broken_connection{msg};
  if (cls == "0A")
    throw pqxx::feature_not_supported{msg, query, code};
  if (cls == "22")
    throw pqxx::data_exception{msg, query, code};
  if (cls == "23") {
    if (sqlstate == "23001")
      throw pqxx::restrict_violation{msg, query, code};
    if (sqlstate == "23502")
      throw pqxx::not_null_violation{msg, query, code};
    if (sqlstate == "23503")
      throw pqxx::foreign_key_violation{msg, query, code};
    if (sqlstate == "23505")
      throw pqxx::unique_violation{msg, query, code};
    if (sqlstate == "23514")
      throw pqxx::check_violation{msg, query, code};
    throw pqxx::integrity_constraint_violation{msg, query, code};
  }
  if (sqlstate == "40001")
    throw pqxx::serialization_failure{msg};
  if (sqlstate == "40P01")
    throw pqxx::deadlock_detected{msg};
  if (cls == "40")
    throw pqxx::transaction_rollback{msg};
  if (sqlstate == "42501")
    throw pqxx::insufficient_privilege{msg, query, code};
  if (cls == "42")
    throw pqxx::syntax_error{msg, query, code};
  if (sqlstate == "53100")
    throw pqxx::disk_full{msg, query, code};
  if (sqlstate == "53200")
    throw pqxx::out_of_memory{msg, query, code};
  if (sqlstate == "53300")
    throw pqxx::too_many_connections{msg};
  if (cls == "53")
    throw pqxx::insufficient_resources{msg, query, code};
  throw pqxx::sql_error{msg, query, code};
}

// Reads the results after the COPY's end; throws for the first error.
void read_copy_results(PGconn* conn, const std::string& query) {
  std::string msg, sqlstate;
  bool failed = false;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed) {
      failed = true;
      msg = PQresultErrorMessage(r);
      const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      sqlstate = code == nullptr ? "" : code;
    }
    PQclear(r);
  }
  if (!failed)
    return;
  if (PQstatus(conn) != CONNECTION_OK)
    throw pqxx::broken_connection{msg};
  throw_sql_error(msg, query, sqlstate);
}

} // namespace

binary_copy_writer::binary_copy_writer(pqxx::transaction_base& tx,
                                       pg_connection& conn,
                                       const std::string& table,
                                       const std::vector<std::string>& columns) {
  if (&tx.conn() != static_cast<pqxx::connection_base*>(&conn))
    throw pqxx::usage_error{"binary_copy_writer: " + table
                            + ": the transaction runs on another connection"};
  conn_ = conn.raw_handle();
  if (conn_ == nullptr)
    throw pqxx::broken_connection{"binary_copy_writer: " + table
                                  + ": the connection is closed"};
  sql_ = "COPY " + table + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0)
      sql_ += ", ";
    sql_ += tx.quote_name(columns[i]);
  }
  sql_ += ") FROM STDIN (FORMAT binary)";
  // Through libpqxx: it issues the transaction's BEGIN or a
  // subtransaction's SAVEPOINT first (both lazily), and maps a failure to
  // start. Its result is PGRES_COPY_IN, which libpqxx passes through.
  tx.exec(sql_);
  buf_.reserve(flush_bytes + 8192);
  buf_.append(binary_header, sizeof binary_header);
}

binary_copy_writer::~binary_copy_writer() {
  if (!done_)
    end_with_error();
}

void binary_copy_writer::end_with_error() noexcept {
  done_ = true;
  if (PQputCopyEnd(conn_, "binary_copy_writer: abandoned before complete()")
      == 1) {
    while (PGresult* r = PQgetResult(conn_))
      PQclear(r);
  }
}

void binary_copy_writer::flush() {
  if (buf_.empty())
    return;
  if (PQputCopyData(conn_, buf_.data(), static_cast<int>(buf_.size())) != 1) {
    std::string msg = PQerrorMessage(conn_);
    end_with_error();
    throw pqxx::broken_connection{"COPY (binary): " + msg};
  }
  buf_.clear();
}

void binary_copy_writer::complete() {
  put_int(int16_t{-1}); // the trailer
  flush();
  done_ = true;
  if (PQputCopyEnd(conn_, nullptr) != 1)
    throw pqxx::broken_connection{"COPY (binary): "
                                  + std::string{PQerrorMessage(conn_)}};
  read_copy_results(conn_, sql_);
}

void binary_copy_writer::field(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  put_int(int32_t{4});
  put_int(bits);
}

void binary_copy_writer::field(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  put_int(int32_t{8});
  put_int(bits);
}

void binary_copy_writer::field(timestamptz_ms t) {
  put_int(int32_t{8});
  put_int(static_cast<int64_t>((t.ms - pg_epoch_ms) * 1000));
}

void binary_copy_writer::field(const bytea_floats& v) {
  if (v.values.empty())
    return field(nullptr);
  // memories.embedding is float32 little-endian (the text path's hex).
  static_assert(sizeof(float) == 4);
  auto bytes = v.values.size() * sizeof(float);
  put_int(static_cast<int32_t>(bytes));
  auto at = buf_.size();
  buf_.resize(at + bytes);
  auto* p = buf_.data() + at;
  for (float f : v.values) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i)
      *p++ = static_cast<char>((bits >> (8 * i)) & 0xffu);
  }
}

void binary_copy_writer::field(jsonb_text j) {
  // jsonb's binary input: a version byte (1), then the JSON text.
  put_int(static_cast<int32_t>(j.json.size() + 1));
  buf_ += '\1';
  buf_.append(j.json.data(), j.json.size());
}

void binary_copy_writer::field(const text_array& a) {
  // array_recv: dimensions, has-NULLs flag, element type (text, OID 25),
  // then per dimension its length and lower bound; then the elements.
  constexpr int32_t text_oid = 25;
  size_t bytes = 12 + (a.values.empty() ? 0 : 8);
  for (auto& v : a.values)
    bytes += 4 + v.size();
  put_int(static_cast<int32_t>(bytes));
  put_int(int32_t{a.values.empty() ? 0 : 1});
  put_int(int32_t{0});
  put_int(text_oid);
  if (!a.values.empty()) {
    put_int(static_cast<int32_t>(a.values.size()));
    put_int(int32_t{1});
  }
  for (auto& v : a.values)
    put_text(v);
}

} // namespace agentmem::storage::detail
