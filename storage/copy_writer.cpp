#include "storage/copy_writer.hpp"

#include <cstdio>
#include <cstring>

#include <pqxx/pqxx>
#include <pqxx/tablewriter>

#include "domain/timestamp.hpp"

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

} // namespace agentmem::storage::detail
