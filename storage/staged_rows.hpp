#pragma once

// Internal to storage/: a batch's rows for one statement, sent as array
// parameters (one per column) and read in SQL as
// `FROM unnest($1::text[], $2::bigint[], ...) AS name(columns)`.
//
// Why not a temp table: every staging temp table is truncated at every
// commit that touched any temp table (PostgreSQL's ON COMMIT DELETE ROWS
// truncates them all, each with its TOAST table and index): ≈ 0.19 ms per
// table and commit, ≈ 2.6 ms per batch for eleven tables, ≈ 10 % of the
// writer backend's CPU in 60-record batches (docs/performance.md, eighth
// and ninth rounds). Rows that one statement reads, or a few statements
// without joins whose plan could go wrong on unnest's fixed estimate of
// ten rows in a cached plan, are staged here instead.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "storage/copy_writer.hpp" // bytea_floats

namespace agentmem::storage::detail {

/// Appends `s` to `out` as one double-quoted element of an array literal:
/// `"` and `\` are backslash-escaped, every other byte is taken literally
/// (PostgreSQL 15 docs, "Arrays", 8.15.6 Array Input and Output Syntax).
void append_array_element(std::string& out, std::string_view s);

/// Appends the text[] input literal of `xs` to `out`: {"a","b\"c"}, each
/// element as append_array_element writes it; {} when empty.
void append_text_array_literal(std::string& out,
                               const std::vector<std::string>& xs);

/// Rows of one statement as array parameters. Field types as in
/// copy_writer: const char* (nullptr = NULL), std::string and
/// std::string_view (text), nullptr (NULL), bool, integers, float/double
/// (shortest text that reads back to the same value), std::optional<T>
/// (nullopt = NULL) and bytea_floats. Array-typed columns are not
/// supported (a multi-dimensional array must be rectangular). The server
/// rejects a value its column type cannot read when the statement runs
/// (pqxx::data_exception).
class staged_rows {
public:
  /// A column: its name in SQL and its element type ("text", "bigint", ...).
  struct column {
    const char* name;
    const char* type;
  };

  explicit staged_rows(std::vector<column> columns);

  /// Appends one row; the fields in the order of the columns.
  template <class... Fields>
  void row(const Fields&... fields) {
    static_assert(sizeof...(Fields) > 0);
    at_ = 0;
    (field(fields), ...);
    ++rows_;
  }

  size_t size() const {
    return rows_;
  }
  bool empty() const {
    return rows_ == 0;
  }

  /// "unnest($<first>::<type>[], ...) AS <alias>(<columns>)": a FROM item
  /// whose parameters are params(), numbered from `first`. Its text does
  /// not depend on the rows (one prepared statement for every batch).
  std::string from(const std::string& alias, int first = 1) const;

  /// The array literals, one per column: the statement's parameters.
  std::vector<std::string> params() const;

private:
  std::string& next() {
    auto& a = arrays_[at_++];
    a += rows_ == 0 ? '{' : ',';
    return a;
  }
  void field(std::nullptr_t) {
    next() += "NULL";
  }
  void field(const char* s) {
    if (s == nullptr)
      return field(nullptr);
    append_array_element(next(), s);
  }
  void field(const std::string& s) {
    append_array_element(next(), s);
  }
  void field(std::string_view s) {
    append_array_element(next(), s);
  }
  void field(bool b) {
    next() += b ? 't' : 'f';
  }
  void field(const bytea_floats& v);
  template <class T>
  std::enable_if_t<std::is_arithmetic_v<T>> field(T x) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, x);
    next().append(buf, r.ptr);
  }
  template <class T>
  void field(const std::optional<T>& x) {
    if (!x)
      return field(nullptr);
    field(*x);
  }

  std::vector<column> columns_;
  std::vector<std::string> arrays_;
  size_t at_ = 0;
  size_t rows_ = 0;
};

} // namespace agentmem::storage::detail
