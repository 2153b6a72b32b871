#include "storage/copy_writer.hpp"

#include <cstdio>
#include <cstring>

#include <pqxx/pqxx>
#include <pqxx/tablewriter>

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
  // civil_from_days (Hinnant): days since 1970-01-01 -> year, month, day.
  int64_t z = days + 719'468;
  int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  int64_t doe = z - era * 146'097;
  int64_t yoe = (doe - doe / 1'460 + doe / 36'524 - doe / 146'096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[40];
  int n = std::snprintf(
    buf, sizeof buf, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld.%03lld+00",
    static_cast<long long>(y), static_cast<long long>(m),
    static_cast<long long>(d), static_cast<long long>(in_day / 3'600'000),
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
