#include "pipeline/security.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "messages/errc.hpp"

namespace agentmem::pipeline {

caf::expected<api::auth_config> load_auth(const pipeline_config& cfg) {
  api::auth_config out;
  out.disabled = cfg.auth_disabled;
  if (!cfg.auth_tokens_file.empty()) {
    auto t = api::load_tokens_file(cfg.auth_tokens_file);
    if (!t)
      return t.error();
    out.tokens = std::move(*t);
  }
  if (const char* env = std::getenv(tokens_env_var); env && *env) {
    auto t = api::parse_token_lines(env, tokens_env_var);
    if (!t)
      return t.error();
    std::set<std::string> names, hashes;
    for (auto& e : out.tokens) {
      names.insert(e.name);
      hashes.insert(api::to_hex(e.hash));
    }
    for (auto& e : *t) {
      if (!names.insert(e.name).second || !hashes.insert(api::to_hex(e.hash)).second)
        return make_error(errc::invalid_config,
                          std::string{"token "} + e.name + " of "
                            + tokens_env_var
                            + " is also in the tokens file (same name or "
                              "hash)");
      out.tokens.push_back(std::move(e));
    }
  }
  if (out.disabled) {
    if (!out.tokens.empty())
      spdlog::warn("auth: [auth] disabled = true: the {} configured token(s) "
                   "are ignored",
                   out.tokens.size());
    out.tokens.clear();
    return out;
  }
  if (out.tokens.empty())
    return make_error(errc::invalid_config,
                      std::string{"no API tokens configured: set [auth] "
                                  "tokens_file or "}
                        + tokens_env_var
                        + " (mint one with `agentmem token new`), or set "
                          "[auth] disabled = true for local use without "
                          "authentication (docs/security.md)");
  return out;
}

caf::error write_private_file(const std::string& path,
                              const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
  if (fd < 0)
    return make_error(errc::io_error, "cannot create " + path + ": "
                                        + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t done = 0;
  while (ok && done < content.size()) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    if (ok)
      done += static_cast<size_t>(n);
  }
  int err = errno;
  if (::close(fd) != 0)
    ok = false;
  if (!ok)
    return make_error(errc::io_error,
                      "cannot write " + path + ": " + std::strerror(err));
  return caf::none;
}

caf::expected<dev_token> write_dev_token(const std::string& data_dir) {
  namespace fs = std::filesystem;
  auto token = api::new_token();
  if (!token)
    return token.error();
  dev_token out;
  out.token = std::move(*token);
  out.token_path = (fs::path{data_dir} / "dev-token").string();
  out.tokens_file = (fs::path{data_dir} / "tokens").string();
  if (auto err = write_private_file(
        out.tokens_file,
        "# written by `agentmem dev`: the hash of <data dir>/dev-token\n"
          + api::token_line(out.token, "admin", "dev") + "\n"))
    return err;
  if (auto err = write_private_file(out.token_path, out.token + "\n"))
    return err;
  return out;
}

} // namespace agentmem::pipeline
