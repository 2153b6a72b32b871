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
/// timestamptz_ms and bytea_floats. Errors are libpqxx's exceptions (pqxx::sql_error when the
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
};

} // namespace agentmem::storage::detail
