#include "api/cursor.hpp"

#include <openssl/evp.h>

#include <vector>

#include "api/codec.hpp"
#include "domain/strict_input.hpp"

namespace agentmem::api {

std::string encode_cursor(char kind, const list_position& pos) {
  std::string raw = std::string{kind} + ':' + std::to_string(pos.ts_ms) + ':'
                    + pos.id;
  std::vector<unsigned char> out(4 * ((raw.size() + 2) / 3) + 1);
  int n = EVP_EncodeBlock(out.data(),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  std::string s(reinterpret_cast<char*>(out.data()), static_cast<size_t>(n));
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (auto& c : s)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::optional<list_position> decode_cursor(char kind, std::string_view text,
                                           cursor_id id) {
  if (text.empty() || text.size() > 1024)
    return std::nullopt;
  std::string b64{text};
  for (auto& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt; // base64url only
  }
  size_t pad = (4 - b64.size() % 4) % 4;
  if (pad == 3)
    return std::nullopt;
  b64.append(pad, '=');
  std::vector<unsigned char> out(b64.size());
  int n = EVP_DecodeBlock(out.data(),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0)
    return std::nullopt;
  std::string raw(reinterpret_cast<char*>(out.data()),
                  static_cast<size_t>(n) - pad);
  // "<kind>:<ts>:<id>"
  if (raw.size() < 4 || raw[0] != kind || raw[1] != ':')
    return std::nullopt;
  auto colon = raw.find(':', 2);
  if (colon == std::string::npos || colon == 2 || colon > 22)
    return std::nullopt;
  auto num = std::string_view{raw}.substr(2, colon - 2);
  bool neg = num.front() == '-';
  if (neg)
    num.remove_prefix(1);
  if (num.empty() || num.size() > 18)
    return std::nullopt;
  int64_t v = 0;
  for (char c : num) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  list_position pos;
  pos.ts_ms = neg ? -v : v;
  pos.id = raw.substr(colon + 1);
  bool valid = id == cursor_id::identifier
                 ? !check_id("cursor", pos.id)
                 : !domain::strict::check_text("cursor", pos.id, 0,
                                               2 * domain::strict::max_id_chars
                                                 + 1,
                                               true);
  if (!valid)
    return std::nullopt;
  return pos;
}

caf::error cursor_param(const http::query_params& q, char kind,
                        std::optional<list_position>& after, cursor_id id) {
  if (auto v = q.find("cursor"); v != q.end()) {
    after = decode_cursor(kind, v->second, id);
    if (!after)
      return http::bad("cursor is not a cursor of this listing; send "
                       "next_cursor of the previous page unchanged");
  }
  return {};
}

nlohmann::ordered_json
next_cursor_json(char kind, const std::optional<list_position>& next) {
  return next ? nlohmann::ordered_json(encode_cursor(kind, *next))
              : nlohmann::ordered_json(nullptr);
}

} // namespace agentmem::api
