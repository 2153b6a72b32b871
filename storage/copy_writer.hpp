#pragma once

// Internal to storage/ (and bench/, which measures the same COPY): rows of
// one `COPY table (columns) FROM STDIN`, formatted here in PostgreSQL's
// text format and handed to libpqxx as raw lines.
//
// Why not pqxx::stream_to: libpqxx 6.4 formats each field with
// to_string() and then escapes it byte by byte into a new string
// (non-ASCII bytes as 4-byte octal escapes), and joins the fields into a
// third string. For the batch's memory rows -- a 384-dim vector is 3 KB of
// hex -- that was ~20 µs per memory of the writer's time while the server
// waits inside the COPY (the largest client-side cost in a perf profile of
// pipeline_bench's steady run). Here each field is appended to one reused
// line buffer, text is copied in runs between the four bytes COPY needs
// escaped, and a vector is hex-encoded straight into the line.
//
// binary_copy_writer sends the same rows in COPY's binary format, for the
// memories: their 384-dim vector is 1.5 KB of float32 that the text format
// sends as 3 KB of hex for the server to scan twice (the line, then the
// fields) and decode -- ≈ 6 µs per memory row of the writer backend's time
// (docs/performance.md, seventeenth round).

#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pqxx {
class transaction_base;
class tablewriter;
} // namespace pqxx
namespace agentmem::storage::detail {
class pg_connection;
} // namespace agentmem::storage::detail
extern "C" {
typedef struct pg_conn PGconn; // libpq-fe.h
}

namespace agentmem::storage::detail {

/// A bytea column holding float32 values, little-endian (the layout of
/// `memories.embedding`); an empty vector is NULL.
struct bytea_floats {
  const std::vector<float>& values;
};

/// A timestamptz column given as ms since the Unix epoch (UTC); written as
/// "YYYY-MM-DD HH:MM:SS.mmm+00", the value of SQL's
/// `timestamptz 'epoch' + ms * interval '1 millisecond'`. Only years 1 to
/// 9999 (`timestamptz_ms::min` to `::max`): no BC or five-digit years.
struct timestamptz_ms {
  int64_t ms;
  static constexpr int64_t min = -62'135'596'800'000;  // 0001-01-01
  static constexpr int64_t max = 253'402'300'799'999;  // 9999-12-31 ...999
  /// Whether `ms` is within min..max (writable as this type).
  static constexpr bool holds(int64_t ms) {
    return ms >= min && ms <= max;
  }
};

/// A jsonb column given as JSON text (the server parses it); an empty view
/// is not NULL -- pass std::optional<jsonb_text> for a nullable column.
struct jsonb_text {
  std::string_view json;
};

/// A text[] column: one-dimensional, lower bound 1, no NULL elements; an
/// empty vector is the empty array '{}', not NULL.
struct text_array {
  const std::vector<std::string>& values;
};

/// Appends the text of `t` (timestamptz_ms) to `line`; the date from
/// domain::civil_from_days (Howard Hinnant's algorithm).
void append_timestamptz_ms(std::string& line, timestamptz_ms t);

/// Appends `s` to `line` escaped for a COPY text-format field: backslash,
/// newline, carriage return and tab become \\, \n, \r, \t; every other
/// byte (UTF-8 included) is taken literally by the server.
/// (PostgreSQL 15 docs, COPY, "Text Format".)
void append_copy_text(std::string& line, std::string_view s);

/// Appends the bytes of `values` (float32, little-endian) as lowercase hex,
/// 8 digits per float: the digits of a bytea hex input.
void append_float_hex(std::string& out, const std::vector<float>& values);

/// Appends the bytea hex input of `values` ("\x" + append_float_hex), its
/// backslash escaped for COPY.
void append_copy_bytea(std::string& line, const std::vector<float>& values);

/// One COPY ... FROM STDIN in text format. Field types: const char*
/// (nullptr = NULL), std::string and std::string_view (text), nullptr
/// (NULL), bool ("t"/"f"), integers, float/double (shortest text that
/// reads back to the same value), std::optional<T> (nullopt = NULL),
/// timestamptz_ms, bytea_floats, jsonb_text and text_array. Errors are
/// libpqxx's exceptions (pqxx::sql_error when the
/// server rejects a row, at the latest from complete()), as with
/// pqxx::stream_to; storage's connection wrapper turns them into values.
class copy_writer {
public:
  /// Starts `COPY table (columns...) FROM STDIN` in `tx`.
  copy_writer(pqxx::transaction_base& tx, const std::string& table,
              const std::vector<std::string>& columns);
  ~copy_writer();
  copy_writer(const copy_writer&) = delete;
  copy_writer& operator=(const copy_writer&) = delete;

  /// Sends one row; the fields in the order of the columns.
  template <class... Fields>
  void row(const Fields&... fields) {
    line_.clear();
    (field(fields), ...);
    if (!line_.empty())
      line_.pop_back(); // the last field's separator
    send();
  }

  /// Ends the COPY (the server checks the rows' constraints by then).
  void complete();

private:
  void send();

  void field(std::nullptr_t) {
    line_ += "\\N\t";
  }
  void field(const char* s) {
    if (s == nullptr)
      return field(nullptr);
    append_copy_text(line_, s);
    line_ += '\t';
  }
  void field(const std::string& s) {
    append_copy_text(line_, s);
    line_ += '\t';
  }
  void field(std::string_view s) {
    append_copy_text(line_, s);
    line_ += '\t';
  }
  void field(bool b) {
    line_ += b ? "t\t" : "f\t";
  }
  void field(timestamptz_ms t) {
    append_timestamptz_ms(line_, t);
    line_ += '\t';
  }
  void field(const bytea_floats& v) {
    if (v.values.empty())
      return field(nullptr);
    append_copy_bytea(line_, v.values);
    line_ += '\t';
  }
  void field(jsonb_text j) {
    append_copy_text(line_, j.json);
    line_ += '\t';
  }
  void field(const text_array& a);
  template <class T>
  std::enable_if_t<std::is_arithmetic_v<T>> field(T x) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, x);
    line_.append(buf, r.ptr);
    line_ += '\t';
  }
  template <class T>
  void field(const std::optional<T>& x) {
    if (!x)
      return field(nullptr);
    field(*x);
  }

  std::unique_ptr<pqxx::tablewriter> out_;
  std::string line_;
  std::string array_; // text_array's literal, before its COPY escaping
};

/// One `COPY table (columns...) FROM STDIN (FORMAT binary)` (PostgreSQL 15
/// docs, COPY, "Binary Format"). The binary format has no conversions:
/// each field's C++ type names its column's type, and a mismatch is the
/// server's error (SQLSTATE 22P03) -- std::string, std::string_view and
/// const char* (nullptr = NULL): text; bool; int16_t, int32_t, int64_t:
/// smallint, integer, bigint; float, double: real, double precision;
/// timestamptz_ms: timestamptz; bytea_floats: bytea (an empty vector is
/// NULL); jsonb_text: jsonb; text_array: text[]; nullptr: NULL of any
/// type; std::optional<T> (nullopt = NULL).
///
/// Needs the pg_connection (storage/pg_connection.hpp) the transaction
/// runs on, else pqxx::usage_error. The COPY statement goes through libpqxx (which
/// opens the transaction or savepoint first), the rows through libpq.
/// Errors are libpqxx's exception types, by SQLSTATE as libpqxx maps them
/// (pqxx::unique_violation, pqxx::data_exception, ...; at the latest from
/// complete()); pqxx::broken_connection when the connection fails. Rows are
/// sent in chunks of ≈ 64 KiB. Destroyed before complete(), it ends the
/// COPY with an error: the rows are not written and the (sub)transaction
/// is aborted.
class binary_copy_writer {
public:
  /// Starts the COPY in `tx`, a transaction on `conn`.
  binary_copy_writer(pqxx::transaction_base& tx, pg_connection& conn,
                     const std::string& table,
                     const std::vector<std::string>& columns);
  ~binary_copy_writer();
  binary_copy_writer(const binary_copy_writer&) = delete;
  binary_copy_writer& operator=(const binary_copy_writer&) = delete;

  /// Sends one row; the fields in the order of the columns.
  template <class... Fields>
  void row(const Fields&... fields) {
    put_int(static_cast<int16_t>(sizeof...(Fields)));
    (field(fields), ...);
    if (buf_.size() >= flush_bytes)
      flush();
  }

  /// Ends the COPY and reads the server's verdict.
  void complete();

private:
  static constexpr size_t flush_bytes = 64 * 1024;

  void flush();
  void end_with_error() noexcept;

  template <class T>
  void put_int(T x) {
    using U = std::make_unsigned_t<T>;
    auto u = static_cast<U>(x);
    char b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i)
      b[i] = static_cast<char>((u >> (8 * (sizeof(T) - 1 - i))) & 0xffu);
    buf_.append(b, sizeof(T));
  }
  void put_text(std::string_view s) {
    put_int(static_cast<int32_t>(s.size()));
    buf_.append(s.data(), s.size());
  }

  void field(std::nullptr_t) { put_int(int32_t{-1}); }
  void field(const char* s) {
    if (s == nullptr)
      return field(nullptr);
    put_text(s);
  }
  void field(const std::string& s) { put_text(s); }
  void field(std::string_view s) { put_text(s); }
  void field(bool b) {
    put_int(int32_t{1});
    buf_ += static_cast<char>(b ? 1 : 0);
  }
  void field(int16_t x) {
    put_int(int32_t{2});
    put_int(x);
  }
  void field(int32_t x) {
    put_int(int32_t{4});
    put_int(x);
  }
  void field(int64_t x) {
    put_int(int32_t{8});
    put_int(x);
  }
  void field(float x);
  void field(double x);
  void field(timestamptz_ms t);
  void field(const bytea_floats& v);
  void field(jsonb_text j);
  void field(const text_array& a);
  template <class T>
  void field(const std::optional<T>& x) {
    if (!x)
      return field(nullptr);
    field(*x);
  }
  // Any other type (unsigned, long long on LP64, ...) has no column type.
  template <class T>
  void field(const T&) = delete;

  PGconn* conn_ = nullptr;
  std::string buf_;
  std::string sql_;
  bool done_ = false;
};

} // namespace agentmem::storage::detail
