#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::api {

/// SHA-256 digest (32 bytes).
using sha256_digest = std::array<unsigned char, 32>;

/// SHA-256 of `data` (OpenSSL EVP).
sha256_digest sha256(std::string_view data);

/// Lower-case hex of a digest (64 characters).
std::string to_hex(const sha256_digest& d);

/// What a token may touch.
enum class token_scope_kind {
  admin,  ///< every user and admin-only operations
  users,  ///< exactly the user_ids in token_entry::users
  prefix, ///< every user_id starting with token_entry::prefix (a tenant)
};

/// One configured API token: the SHA-256 of the secret, never the secret.
struct token_entry {
  /// Safe to log and to use as a metric label: `name=` of the token line,
  /// else "sha256:" + the first 8 hex digits of the hash.
  std::string name;
  sha256_digest hash{};
  token_scope_kind kind = token_scope_kind::users;
  std::vector<std::string> users; ///< kind == users
  std::string prefix;             ///< kind == prefix (non-empty)

  /// True when this token may act on `user_id`.
  bool allows(std::string_view user_id) const;
  bool is_admin() const {
    return kind == token_scope_kind::admin;
  }
};

/// Parses token lines (docs/security.md):
///
///   sha256:<64 hex> admin            [name=<label>]
///   sha256:<64 hex> users=alice,bob  [name=<label>]
///   sha256:<64 hex> prefix=acme-     [name=<label>]
///
/// Fields are separated by spaces or tabs; blank lines and lines starting
/// with '#' are ignored; ';' also separates lines (for one-line
/// environment variables). `source` names the origin in error messages
/// ("tokens file /etc/agentmem/tokens", "AGENTMEM_TOKENS"). Errors:
/// errc::invalid_config naming source and line (never echoing the hash).
/// Duplicate hashes or names are errors.
caf::expected<std::vector<token_entry>>
parse_token_lines(std::string_view text, const std::string& source);

/// Reads and parses a tokens file. Errors: errc::invalid_config (cannot
/// read, or a parse error). Warns (spdlog) when the file is readable by
/// group or others.
caf::expected<std::vector<token_entry>>
load_tokens_file(const std::string& path);

/// A fresh random token: "am_" + base64url (no padding) of 32 bytes from
/// OpenSSL's RAND_bytes (256 bits). Errors: errc::io_error when the CSPRNG
/// fails.
caf::expected<std::string> new_token();

/// The token line for `token` with the given scope text ("admin",
/// "users=a,b" or "prefix=acme-") and optional name.
std::string token_line(std::string_view token, const std::string& scope,
                       const std::string& name);

/// The scope of `e` as a token line writes it: "admin", "users=a,b" or
/// "prefix=acme-" (passed along with reads forwarded to another node).
std::string scope_text(const token_entry& e);

/// The principal of a read forwarded by another node: scope `scope` (as
/// scope_text writes it, checked like a token line's) and name `name`; it
/// has no token hash. Errors: errc::invalid_request.
caf::expected<token_entry> scope_entry(std::string_view scope,
                                       const std::string& name);

/// Constant-time equality of two secrets (SHA-256 of each, compared with
/// CRYPTO_memcmp): the time taken does not depend on where they differ or
/// on their lengths.
bool same_secret(std::string_view a, std::string_view b);

/// Authentication settings of the HTTP API.
struct auth_config {
  /// true: no token needed, every request acts as an admin named
  /// "anonymous" (local use only; logged loudly at start).
  bool disabled = false;
  std::vector<token_entry> tokens;
};

/// Verifies bearer tokens against the configured hashes. Thread-safe
/// (immutable after construction).
class authenticator {
public:
  explicit authenticator(std::vector<token_entry> tokens);

  /// The entry whose hash equals SHA-256(token), or nullptr. Hashes the
  /// presented token once and compares it with every configured hash with
  /// CRYPTO_memcmp, without stopping at the first match, so the time taken
  /// does not depend on which (or whether a) token matched.
  const token_entry* authenticate(std::string_view token) const;

  size_t size() const {
    return tokens_.size();
  }

private:
  std::vector<token_entry> tokens_;
};

/// The token of an "Authorization: Bearer <token>" header value (scheme
/// case-insensitive, RFC 6750 2.1), or "" when the header is not of that
/// form.
std::string_view bearer_token(std::string_view header_value);

} // namespace agentmem::api
