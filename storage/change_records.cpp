#include "storage/change_records.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "domain/timestamp.hpp"

namespace agentmem::storage::detail {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  for (; p != end; ++p) {
    auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(run, p);
    run = p + 1;
    switch (c) {
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
  }
  out.append(run, end);
  out += '"';
}

void append_json_real(std::string& out, float x) {
  if (std::isnan(x)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(x)) {
    out += x > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  char buf[64];
  if (x == 0.0f) { // Ryu prints zeros without an exponent
    out += std::signbit(x) ? "-0" : "0";
    return;
  }
  // The shortest digits in scientific form tell the decimal exponent; the
  // same digits in fixed form for -4..5 (f2s.c: "match printf defaults").
  auto sci = std::to_chars(buf, buf + sizeof buf, x,
                           std::chars_format::scientific);
  const char* e = buf;
  while (e != sci.ptr && *e != 'e')
    ++e;
  int exp = std::atoi(e + 1);
  if (exp >= -4 && exp < 6) {
    auto fix = std::to_chars(buf, buf + sizeof buf, x,
                             std::chars_format::fixed);
    out.append(buf, fix.ptr);
    return;
  }
  out.append(buf, sci.ptr);
}

void append_json_change_time(std::string& out, int64_t ms) {
  constexpr int64_t day_ms = 86'400'000;
  int64_t days = ms / day_ms;
  int64_t in_day = ms % day_ms;
  if (in_day < 0) {
    in_day += day_ms;
    --days;
  }
  auto c = domain::civil_from_days(days);
  char buf[40];
  int n = std::snprintf(
    buf, sizeof buf, "\"%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ\"",
    static_cast<long long>(c.year), c.month, c.day,
    static_cast<long long>(in_day / 3'600'000),
    static_cast<long long>(in_day / 60'000 % 60),
    static_cast<long long>(in_day / 1'000 % 60),
    static_cast<long long>(in_day % 1'000));
  out.append(buf, static_cast<size_t>(n));
}

namespace {

// A nullable text column written from an empty-means-NULL string.
void append_nullable(std::string& out, const std::string& s) {
  if (s.empty())
    out += "null";
  else
    append_json_string(out, s);
}

} // namespace

void append_add_record(std::string& out, const memory& m,
                       std::string_view changed_at, std::string_view source) {
  out += "{\"schema\":\"agent.memory.v1\",\"op\":\"ADD\",\"memory_id\":";
  append_json_string(out, m.memory_id);
  out += ",\"user_id\":";
  append_json_string(out, m.user_id);
  out += ",\"session_id\":";
  append_json_string(out, m.session_id);
  out += ",\"memory_type\":";
  append_json_string(out, m.memory_type);
  out += ",\"version\":1,\"text\":";
  append_json_string(out, m.text);
  out += ",\"importance\":";
  append_json_real(out, static_cast<float>(m.importance));
  out += ",\"tags\":[";
  for (size_t i = 0; i < m.tags.size(); ++i) {
    if (i > 0)
      out += ',';
    append_json_string(out, m.tags[i]);
  }
  out += "],\"role\":";
  append_nullable(out, m.role);
  out += ",\"speaker\":";
  append_nullable(out, m.speaker);
  out += ",\"event_id\":";
  append_json_string(out, m.event_id);
  out += ",\"agent_type\":";
  append_nullable(out, m.agent_type);
  out += ",\"agent_name\":";
  append_nullable(out, m.agent_name);
  out += ",\"project_id\":";
  append_nullable(out, m.project_id);
  out += ",\"ts\":";
  append_json_change_time(out, m.ts_ms);
  out += ",\"changed_at\":";
  append_json_string(out, changed_at);
  out += ",\"source\":";
  append_json_string(out, source);
  out += '}';
}

} // namespace agentmem::storage::detail
