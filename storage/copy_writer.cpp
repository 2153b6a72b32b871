#include "storage/copy_writer.hpp"

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
