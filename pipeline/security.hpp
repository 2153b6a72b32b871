#pragma once

#include <string>

#include <caf/expected.hpp>

#include "api/auth.hpp"
#include "pipeline/config.hpp"

namespace agentmem::pipeline {

/// Environment variable holding extra token lines (api::parse_token_lines
/// format; ';' or newlines separate lines). Read in addition to
/// [auth] tokens_file.
constexpr const char* tokens_env_var = "AGENTMEM_TOKENS";

/// The HTTP API's auth settings of a node: tokens from cfg.auth_tokens_file
/// and $AGENTMEM_TOKENS, or disabled when cfg.auth_disabled. Errors
/// (errc::invalid_config): unreadable/invalid tokens, the same token or
/// name in both sources, and no token at all without [auth] disabled =
/// true ("agentmem run" must not start an open API by accident).
caf::expected<api::auth_config> load_auth(const pipeline_config& cfg);

/// What `agentmem dev` hands the operator.
struct dev_token {
  std::string token;       ///< the secret (print once, never log)
  std::string token_path;  ///< <data_dir>/dev-token, mode 0600
  std::string tokens_file; ///< <data_dir>/tokens (hash line), mode 0600
};

/// Mints a fresh admin token named "dev" (api::new_token), writes its hash
/// line to <data_dir>/tokens and the token to <data_dir>/dev-token, both
/// created with mode 0600 (replacing earlier ones). Errors: errc::io_error.
caf::expected<dev_token> write_dev_token(const std::string& data_dir);

/// Writes `content` to `path` with mode 0600 (created or truncated; the
/// mode is enforced on existing files too). Errors: errc::io_error.
caf::error write_private_file(const std::string& path,
                              const std::string& content);

} // namespace agentmem::pipeline
