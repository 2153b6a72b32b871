#include "api/codec.hpp"

#include "domain/text.hpp"

namespace agentmem::api {

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

} // namespace agentmem::api
