#include "storage/change_records.hpp"

#include <charconv>
#include <cmath>

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
  int exp = 0; // to_chars writes no terminator: parse up to sci.ptr
  if (e != sci.ptr) {
    const char* digits = e + 1;
    if (digits != sci.ptr && *digits == '+')
      ++digits;
    std::from_chars(digits, sci.ptr, exp);
  }
  if (exp >= -4 && exp < 6) {
    auto fix = std::to_chars(buf, buf + sizeof buf, x,
                             std::chars_format::fixed);
    out.append(buf, fix.ptr);
    return;
  }
  out.append(buf, sci.ptr);
}

void append_add_record(std::string& out, const memory& m,
                       std::string_view changed_at, std::string_view source) {
  // The fields in memory_change_row's order; the nullable ones are
  // written from empty-means-NULL strings, as memory_row() stores them.
  auto text = [&](const char* key, std::string_view v) {
    out += ",\"";
    out += key;
    out += "\":";
    append_json_string(out, v);
  };
  auto nullable = [&](const char* key, const std::string& v) {
    if (!v.empty())
      return text(key, v);
    out += ",\"";
    out += key;
    out += "\":null";
  };
  out += "{\"schema\":\"agent.memory.v1\",\"op\":\"ADD\"";
  text("memory_id", m.memory_id);
  text("user_id", m.user_id);
  text("session_id", m.session_id);
  text("memory_type", m.memory_type);
  out += ",\"version\":1";
  text("text", m.text);
  out += ",\"importance\":";
  append_json_real(out, static_cast<float>(m.importance));
  out += ",\"tags\":[";
  for (size_t i = 0; i < m.tags.size(); ++i) {
    if (i > 0)
      out += ',';
    append_json_string(out, m.tags[i]);
  }
  out += ']';
  nullable("role", m.role);
  nullable("speaker", m.speaker);
  text("event_id", m.event_id);
  nullable("agent_type", m.agent_type);
  nullable("agent_name", m.agent_name);
  nullable("project_id", m.project_id);
  // memory_change_time(): to_char's "YYYY-MM-DD"T"HH24:MI:SS.MS"Z"" in UTC.
  text("ts", domain::format_rfc3339_ms(m.ts_ms));
  text("changed_at", changed_at);
  text("source", source);
  out += '}';
}

} // namespace agentmem::storage::detail
