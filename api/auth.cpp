#include "api/auth.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "api/codec.hpp"
#include "domain/text.hpp"
#include "messages/errc.hpp"

namespace agentmem::api {

namespace {

caf::error bad_line(const std::string& source, size_t line,
                    const std::string& what) {
  return make_error(errc::invalid_config, source + " line "
                                            + std::to_string(line) + ": "
                                            + what);
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
      ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r')
      ++j;
    if (j > i)
      out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

} // namespace

sha256_digest sha256(std::string_view data) {
  sha256_digest out{};
  unsigned int len = 0;
  // EVP_Digest is the one-shot form of EVP_DigestInit/Update/Final.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(),
                 nullptr)
        != 1
      || len != out.size())
    throw std::runtime_error("EVP_Digest(SHA-256) failed");
  return out;
}

std::string to_hex(const sha256_digest& d) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(d.size() * 2);
  for (auto b : d) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

bool token_entry::allows(std::string_view user_id) const {
  switch (kind) {
    case token_scope_kind::admin: return true;
    case token_scope_kind::prefix:
      return !prefix.empty() && starts_with(user_id, prefix);
    case token_scope_kind::users:
      return std::find(users.begin(), users.end(), user_id) != users.end();
  }
  return false;
}

caf::expected<std::vector<token_entry>>
parse_token_lines(std::string_view text, const std::string& source) {
  std::vector<token_entry> out;
  std::set<std::string> hashes, names;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find_first_of("\n;", pos);
    auto line = text.substr(pos, end == std::string_view::npos
                                   ? std::string_view::npos
                                   : end - pos);
    pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++line_no;
    auto fields = split_ws(line);
    if (fields.empty() || fields[0].front() == '#')
      continue;
    token_entry e;
    auto h = fields[0];
    if (!starts_with(h, "sha256:") || h.size() != 7 + 64)
      return bad_line(source, line_no,
                      "expected 'sha256:<64 hex digits>' as the first field "
                      "(a token hash, never the token itself; see `agentmem "
                      "token new`)");
    for (size_t i = 0; i < 32; ++i) {
      int hi = domain::hex_digit_value(h[7 + 2 * i]);
      int lo = domain::hex_digit_value(h[8 + 2 * i]);
      if (hi < 0 || lo < 0)
        return bad_line(source, line_no, "the hash is not hexadecimal");
      e.hash[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    if (fields.size() < 2)
      return bad_line(source, line_no,
                      "missing scope: admin, users=<id,...> or "
                      "prefix=<user_id prefix>");
    bool have_scope = false;
    for (size_t f = 1; f < fields.size(); ++f) {
      auto fld = fields[f];
      if (starts_with(fld, "name=")) {
        e.name = std::string{fld.substr(5)};
        if (e.name.empty() || e.name.size() > 64
            || !std::all_of(e.name.begin(), e.name.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c))
                        || c == '-' || c == '_' || c == '.';
               }))
          return bad_line(source, line_no,
                          "name must be 1..64 characters of [A-Za-z0-9._-]");
        continue;
      }
      if (have_scope)
        return bad_line(source, line_no,
                        "more than one scope; use one of admin, users=..., "
                        "prefix=...");
      have_scope = true;
      if (fld == "admin") {
        e.kind = token_scope_kind::admin;
      } else if (starts_with(fld, "users=")) {
        e.kind = token_scope_kind::users;
        std::string list{fld.substr(6)};
        std::stringstream ss{list};
        for (std::string u; std::getline(ss, u, ',');) {
          if (auto err = check_id("user_id", u))
            return bad_line(source, line_no, "users=: invalid user_id");
          e.users.push_back(u);
        }
        if (e.users.empty())
          return bad_line(source, line_no, "users= needs at least one user_id");
      } else if (starts_with(fld, "prefix=")) {
        e.kind = token_scope_kind::prefix;
        e.prefix = std::string{fld.substr(7)};
        if (e.prefix.empty() || check_id("user_id", e.prefix))
          return bad_line(source, line_no,
                          "prefix= needs a non-empty user_id prefix");
      } else {
        return bad_line(source, line_no,
                        "unknown field; expected admin, users=..., "
                        "prefix=... or name=...");
      }
    }
    if (!have_scope)
      return bad_line(source, line_no,
                      "missing scope: admin, users=<id,...> or "
                      "prefix=<user_id prefix>");
    auto hex = to_hex(e.hash);
    if (e.name.empty())
      e.name = "sha256:" + hex.substr(0, 8);
    if (!hashes.insert(hex).second)
      return bad_line(source, line_no, "the same token hash appears twice");
    if (!names.insert(e.name).second)
      return bad_line(source, line_no, "duplicate token name " + e.name);
    out.push_back(std::move(e));
  }
  return out;
}

caf::expected<std::vector<token_entry>>
load_tokens_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::invalid_config,
                      "cannot read tokens file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    spdlog::warn("auth: tokens file {} is accessible by group/others (mode "
                 "{:o}); chmod 600 it",
                 path, st.st_mode & 0777);
  return parse_token_lines(ss.str(), "tokens file " + path);
}

caf::expected<std::string> new_token() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return make_error(errc::io_error, "RAND_bytes failed");
  static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "am_";
  uint32_t acc = 0;
  int bits = 0;
  for (auto b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += b64[(acc >> bits) & 63];
    }
  }
  if (bits > 0)
    out += b64[(acc << (6 - bits)) & 63];
  OPENSSL_cleanse(raw, sizeof raw);
  return out;
}

std::string token_line(std::string_view token, const std::string& scope,
                       const std::string& name) {
  auto line = "sha256:" + to_hex(sha256(token)) + " " + scope;
  if (!name.empty())
    line += " name=" + name;
  return line;
}

authenticator::authenticator(std::vector<token_entry> tokens)
  : tokens_(std::move(tokens)) {
}

const token_entry* authenticator::authenticate(std::string_view token) const {
  if (token.empty())
    return nullptr;
  auto h = sha256(token);
  const token_entry* found = nullptr;
  for (auto& e : tokens_) {
    // No early exit: every configured hash is compared.
    bool eq = CRYPTO_memcmp(h.data(), e.hash.data(), h.size()) == 0;
    found = eq ? &e : found;
  }
  return found;
}

std::string_view bearer_token(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  if (v.size() < 7)
    return {};
  static constexpr std::string_view scheme = "bearer";
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i])
      return {};
  if (v[6] != ' ')
    return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ')
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  if (v.find_first_of(" \t") != std::string_view::npos)
    return {};
  return v;
}

std::string scope_text(const token_entry& e) {
  switch (e.kind) {
    case token_scope_kind::admin: return "admin";
    case token_scope_kind::prefix: return "prefix=" + e.prefix;
    case token_scope_kind::users: break;
  }
  std::string out = "users=";
  for (size_t i = 0; i < e.users.size(); ++i)
    out += (i > 0 ? "," : "") + e.users[i];
  return out;
}

caf::expected<token_entry> scope_entry(std::string_view scope,
                                       const std::string& name) {
  if (scope.empty() || scope.find_first_of(" \t\n;#") != std::string_view::npos)
    return make_error(errc::invalid_request, "invalid forwarded scope");
  // The token-line parser checks the scope (users, prefix); the hash is a
  // placeholder no token can have.
  auto parsed = parse_token_lines("sha256:" + std::string(64, '0') + " "
                                    + std::string{scope},
                                  "forwarded scope");
  if (!parsed || parsed->size() != 1)
    return make_error(errc::invalid_request, "invalid forwarded scope");
  auto e = std::move(parsed->front());
  e.name = name;
  return e;
}

bool same_secret(std::string_view a, std::string_view b) {
  auto x = sha256(a);
  auto y = sha256(b);
  return CRYPTO_memcmp(x.data(), y.data(), x.size()) == 0;
}

} // namespace agentmem::api
