#include "storage/pg_programs.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include <libpq-fe.h>

#include "messages/errc.hpp"
#include "storage/pg_cluster.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace agentmem::storage {

namespace {

bool has_programs(const fs::path& dir, const std::vector<std::string>& programs) {
  std::error_code ec;
  return !dir.empty()
         && std::all_of(programs.begin(), programs.end(), [&](auto& p) {
              auto path = dir / p;
              return ::access(path.c_str(), X_OK) == 0
                     && !fs::is_directory(path, ec);
            });
}

// `pg_config --bindir` (libpq-dev ships pg_config on $PATH); "" if absent.
std::string pg_config_bindir() {
  std::unique_ptr<FILE, int (*)(FILE*)> p{
    ::popen("pg_config --bindir 2>/dev/null", "r"), ::pclose};
  if (!p)
    return {};
  char buf[4096];
  std::string out;
  while (auto n = std::fread(buf, 1, sizeof buf, p.get()))
    out.append(buf, n);
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())))
    out.pop_back();
  return out;
}

// `value` quoted for a conninfo string: '...' with \ and ' escaped.
std::string conninfo_quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'')
      out += '\\';
    out += c;
  }
  return out + "'";
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

} // namespace

std::string find_pg_bindir(const std::vector<std::string>& programs) {
  if (const char* env = std::getenv("AGENTMEM_PG_BINDIR"); env && *env)
    return has_programs(env, programs) ? std::string{env} : std::string{};
  std::error_code ec;
  int best_version = -1;
  fs::path best;
  for (fs::directory_iterator it{"/usr/lib/postgresql", ec}, end;
       !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.empty()
        || !std::all_of(name.begin(), name.end(),
                        [](unsigned char c) { return std::isdigit(c); }))
      continue;
    int version = std::atoi(name.c_str());
    if (version > best_version && has_programs(it->path() / "bin", programs)) {
      best_version = version;
      best = it->path() / "bin";
    }
  }
  if (best_version >= 0)
    return best.string();
  if (auto dir = pg_config_bindir(); has_programs(dir, programs))
    return dir;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss{path};
    std::string part;
    while (std::getline(ss, part, ':'))
      if (has_programs(part, programs))
        return part;
  }
  return {};
}

caf::expected<pg_client_target> split_password(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = ::PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err ? err : "out of memory";
    if (err)
      ::PQfreemem(err);
    return make_error(errc::invalid_config,
                      "postgres URL " + pg_cluster::redact(url) + ": "
                        + pg_cluster::redact_in(why, url));
  }
  pg_client_target out;
  for (auto* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr)
      continue;
    if (std::strcmp(o->keyword, "password") == 0) {
      out.password = o->val;
      continue;
    }
    if (std::strcmp(o->keyword, "sslpassword") == 0) {
      out.ssl_password = o->val;
      continue;
    }
    if (!out.conninfo.empty())
      out.conninfo += ' ';
    out.conninfo += std::string{o->keyword} + "=" + conninfo_quote(o->val);
  }
  ::PQconninfoFree(opts);
  return out;
}

caf::expected<std::string> run_pg_program(const std::string& bindir,
                                          const std::string& program,
                                          const std::vector<std::string>& args,
                                          const std::string& url) {
  auto target = split_password(url);
  if (!target)
    return std::move(target.error());
  if (!target->ssl_password.empty())
    return make_error(errc::invalid_config,
                      program + " cannot be given the URL's sslpassword "
                                "without showing it on its command line; use "
                                "a client key without a passphrase (mode "
                                "0600) for backup and restore");
  std::vector<std::string> argv_s{(fs::path{bindir} / program).string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  argv_s.push_back("--no-password");
  argv_s.push_back("--dbname=" + target->conninfo);
  std::vector<char*> argv;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // The inherited environment, with PGPASSWORD replaced when the URL has
  // a password.
  std::vector<std::string> env_s;
  for (char** e = environ; e && *e; ++e)
    if (target->password.empty() || std::strncmp(*e, "PGPASSWORD=", 11) != 0)
      env_s.emplace_back(*e);
  if (!target->password.empty())
    env_s.push_back("PGPASSWORD=" + target->password);
  std::vector<char*> envp;
  for (auto& e : env_s)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    return make_error(errc::io_error, errno_text("pipe"));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(),
                         envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    return make_error(errc::io_error,
                      "cannot start " + argv_s[0] + ": " + std::strerror(rc));
  }
  std::string output;
  char buf[4096];
  for (;;) {
    auto got = ::read(err_pipe[0], buf, sizeof buf);
    if (got > 0)
      output.append(buf, static_cast<size_t>(got));
    else if (got == 0 || errno != EINTR)
      break;
  }
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  output = pg_cluster::redact_in(output, url);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return output;
  if (output.size() > 4000)
    output = "..." + output.substr(output.size() - 4000);
  while (!output.empty()
         && std::isspace(static_cast<unsigned char>(output.back())))
    output.pop_back();
  std::string how = WIFEXITED(status)
                      ? "exit status " + std::to_string(WEXITSTATUS(status))
                      : "killed by signal " + std::to_string(WTERMSIG(status));
  return make_error(errc::io_error, program + " failed (" + how + "): " + output);
}

} // namespace agentmem::storage
