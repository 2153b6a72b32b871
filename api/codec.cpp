#include "api/codec.hpp"

#include <algorithm>
#include <cstdio>

#include "domain/text.hpp"
#include "messages/errc.hpp"

namespace agentmem::api {

std::optional<size_t> utf8_length(std::string_view s) noexcept {
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      ++n;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt; // continuation byte, C0/C1 or F5..FF lead byte
    }
    if (s.size() - i < len)
      return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
        || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return std::nullopt;
    i += len;
    ++n;
  }
  return n;
}

caf::error check_id(std::string_view field, std::string_view value) {
  auto bad = [&](const char* what) {
    return make_error(errc::invalid_request, std::string{field} + what);
  };
  auto len = utf8_length(value);
  if (!len)
    return bad(" is not valid UTF-8");
  if (*len == 0 || *len > max_id_chars)
    return bad(" must be 1-128 characters long");
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F)
      return bad(" must not contain control characters");
  }
  return {};
}

std::optional<std::string> percent_decode(std::string_view s,
                                          bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (s.size() - i < 3)
        return std::nullopt;
      int hi = domain::hex_digit_value(s[i + 1]);
      int lo = domain::hex_digit_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

size_t json_nesting_depth(std::string_view text, size_t limit) noexcept {
  size_t depth = 0;
  size_t max = 0;
  bool in_str = false;
  bool esc = false;
  for (char c : text) {
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      max = std::max(max, ++depth);
      if (max > limit)
        return max;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max;
}

} // namespace agentmem::api
