#include "domain/strict_input.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "messages/errc.hpp"

namespace agentmem::domain::strict {

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

size_t utf8_count(std::string_view s) noexcept {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

bool has_nul(std::string_view s) noexcept {
  return !s.empty() && std::memchr(s.data(), 0, s.size()) != nullptr;
}

bool has_control(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

caf::error check_text(std::string_view field, std::string_view value,
                      size_t min_chars, size_t max_chars,
                      bool allow_control) {
  auto bad = [&](const std::string& what) {
    return make_error(errc::invalid_request, std::string{field} + what);
  };
  auto len = utf8_length(value);
  if (!len)
    return bad(" is not valid UTF-8");
  if (*len < min_chars || *len > max_chars)
    return bad(" must be " + std::to_string(min_chars) + "-"
               + std::to_string(max_chars) + " characters long");
  if (!allow_control && has_control(value))
    return bad(" must not contain control characters");
  if (has_nul(value))
    return bad(" must not contain NUL characters");
  return {};
}

caf::error check_id(std::string_view field, std::string_view value) {
  return check_text(field, value, 1, max_id_chars, false);
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

bool json_number_grammar(std::string_view s) noexcept {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      ++i;
    return i > start;
  };
  if (i < n && s[i] == '-')
    ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits())
      return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (!digits())
      return false;
  }
  return i == n;
}

} // namespace agentmem::domain::strict
