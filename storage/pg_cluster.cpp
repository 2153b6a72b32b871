#include "storage/pg_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "messages/errc.hpp"
#include "storage/pg_programs.hpp"

namespace fs = std::filesystem;

namespace agentmem::storage {

namespace {

constexpr const char* password_file_name = "agentmem.password";
constexpr const char* log_file_name = "postgres.log";
constexpr const char* role_name = "agentmem";
constexpr const char* database_name = "agentmem";
constexpr auto ready_timeout = std::chrono::seconds(30);
constexpr auto stop_timeout = std::chrono::seconds(60);
constexpr int max_port_attempts = 5;

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Where initdb/postgres live (storage/pg_programs.hpp).
std::string find_bindir() {
  return find_pg_bindir({"initdb", "postgres"});
}

std::string random_password() {
  std::random_device rd;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i) { // 128 bits -> 32 hex characters
    auto word = rd();
    for (int j = 0; j < 4; ++j) {
      auto byte = static_cast<unsigned>((word >> (8 * j)) & 0xffu);
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
  }
  return out;
}

std::string trim(std::string s) {
  auto ws = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && ws(s.back()))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && ws(s[i]))
    ++i;
  return s.substr(i);
}

// Who the child processes run as: the current user, or (as root) the
// `postgres` system user.
struct identity {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

caf::expected<identity> child_identity() {
  identity who;
  if (::geteuid() != 0)
    return who;
  struct passwd pwd;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r("postgres", &pwd, buf.data(), buf.size(), &found) != 0
      || found == nullptr)
    return make_error(errc::io_error,
                      "running as root but there is no `postgres` system "
                      "user to run initdb/postgres as");
  who.drop = true;
  who.uid = pwd.pw_uid;
  who.gid = pwd.pw_gid;
  return who;
}

// Makes `dir` owned by the server's user (recursively) and every ancestor
// traversable by others, so that a server running as `postgres` can reach
// a directory that root created (e.g. below a 0700 mkdtemp directory).
caf::error prepare_ownership(const fs::path& dir, const identity& who) {
  if (!who.drop)
    return caf::none;
  for (auto p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0)
      return make_error(errc::io_error, errno_text("stat " + p.string()));
    if ((st.st_mode & S_IXOTH) == 0
        && ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0)
      return make_error(errc::io_error, errno_text("chmod o+x " + p.string()));
    if (p == p.root_path())
      break;
  }
  if (::lchown(dir.c_str(), who.uid, who.gid) != 0)
    return make_error(errc::io_error, errno_text("chown " + dir.string()));
  std::error_code ec;
  for (fs::recursive_directory_iterator it{dir, ec}, end; !ec && it != end;
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), who.uid, who.gid) != 0)
      return make_error(errc::io_error,
                        errno_text("chown " + it->path().string()));
  }
  if (ec)
    return make_error(errc::io_error,
                      "walking " + dir.string() + ": " + ec.message());
  return caf::none;
}

// Everything a child needs, prepared before fork() so that the child only
// makes async-signal-safe calls.
struct child_args {
  std::vector<std::string> storage;
  std::vector<char*> argv;
  std::vector<std::string> env_storage;
  std::vector<char*> envp;

  child_args(std::vector<std::string> args) : storage(std::move(args)) {
    for (auto& s : storage)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    env_storage = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C",
                   "LANG=C", "TZ=UTC"};
    for (auto& s : env_storage)
      envp.push_back(s.data());
    envp.push_back(nullptr);
  }
};

// Forks and execs `args`. The child reads stdin from `in_fd` (or
// /dev/null), writes stdout+stderr to `out_fd`, closes every other
// descriptor, drops to `who` and, for the server, gets its own process
// group and SIGINT when the calling thread exits.
caf::expected<pid_t> spawn(child_args& args, int in_fd, int out_fd,
                           const identity& who, bool server) {
  int devnull = -1;
  if (in_fd < 0) {
    devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
      return make_error(errc::io_error, errno_text("open /dev/null"));
    in_fd = devnull;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    auto err = make_error(errc::io_error, errno_text("fork"));
    if (devnull >= 0)
      ::close(devnull);
    return err;
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (server)
      ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0)
      ::_exit(126);
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
    {
      long max_fd = ::sysconf(_SC_OPEN_MAX);
      for (long fd = 3; fd < (max_fd > 0 ? max_fd : 1024); ++fd)
        ::close(static_cast<int>(fd));
    }
    if (who.drop) {
      gid_t groups[1] = {who.gid};
      if (::setgroups(1, groups) != 0 || ::setgid(who.gid) != 0
          || ::setuid(who.uid) != 0) {
        static const char msg[] = "agentmem: cannot switch to postgres user\n";
        [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
        ::_exit(126);
      }
    }
    if (server) {
      // Set after setuid: a credential change clears the death signal.
      ::prctl(PR_SET_PDEATHSIG, SIGINT);
      if (::getppid() != parent)
        ::_exit(0);
    }
    ::execve(args.argv[0], args.argv.data(), args.envp.data());
    static const char msg[] = "agentmem: exec failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  if (devnull >= 0)
    ::close(devnull);
  return pid;
}

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Runs initdb, feeding the password through a pipe as --pwfile=/dev/stdin
// so that it never touches the disk in clear outside the password file.
caf::error run_initdb(const std::string& bindir, const fs::path& dir,
                      const std::string& password, const identity& who) {
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0)
    return make_error(errc::io_error, errno_text("pipe"));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return make_error(errc::io_error, errno_text("pipe"));
  }
  // initdb re-opens /dev/stdin (a root-owned 0600 pipe inode): hand the
  // pipe to the user initdb runs as.
  if (who.drop && ::fchown(in_pipe[0], who.uid, who.gid) != 0) {
    auto err = make_error(errc::io_error, errno_text("fchown pipe"));
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]})
      ::close(fd);
    return err;
  }
  child_args args{{bindir + "/initdb", "-D", dir.string(), "-U", role_name,
                   "--auth=scram-sha-256", "--pwfile=/dev/stdin",
                   "--encoding=UTF8", "--no-locale", "--no-instructions"}};
  auto pid = spawn(args, in_pipe[0], out_pipe[1], who, false);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (!pid) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return std::move(pid.error());
  }
  // The password is a few bytes: it fits the pipe buffer, no deadlock.
  auto line = password + "\n";
  [[maybe_unused]] auto n = ::write(in_pipe[1], line.data(), line.size());
  ::close(in_pipe[1]);
  std::string output;
  char buf[4096];
  for (;;) {
    auto got = ::read(out_pipe[0], buf, sizeof buf);
    if (got > 0)
      output.append(buf, static_cast<size_t>(got));
    else if (got == 0 || errno != EINTR)
      break;
  }
  ::close(out_pipe[0]);
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (output.size() > 2000)
      output = output.substr(output.size() - 2000);
    return make_error(errc::io_error,
                      "initdb failed (" + describe_status(status)
                        + "): " + output);
  }
  return caf::none;
}

caf::expected<uint16_t> free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(errc::io_error, errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    auto err = make_error(errc::io_error, errno_text("bind 127.0.0.1:0"));
    ::close(fd);
    return err;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_from(const fs::path& file, std::streamoff offset,
                      size_t max_tail) {
  std::ifstream in{file, std::ios::binary};
  if (!in)
    return {};
  in.seekg(offset);
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  if (text.size() > max_tail)
    text = text.substr(text.size() - max_tail);
  return text;
}

// RFC 3986 percent-encoding of a query value (libpq decodes it).
std::string percent_encoded(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'
        || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

// Through the server's unix socket when it has one: a local connection
// without the TCP/IP stack. Loopback TCP was ≈ 11 % of the batch writer's
// backend CPU in small batches (perf, docs/performance.md "Ninth round").
std::string make_url(const std::string& password, uint16_t port,
                     const std::string& db, const std::string& socket_dir) {
  if (!socket_dir.empty())
    return std::string{"postgresql://"} + role_name + ":" + password + "@/"
           + db + "?host=" + percent_encoded(socket_dir)
           + "&port=" + std::to_string(port);
  return std::string{"postgresql://"} + role_name + ":" + password
         + "@127.0.0.1:" + std::to_string(port) + "/" + db;
}

bool valid_db_name(const std::string& name) {
  if (name.empty() || name.size() > 63)
    return false;
  if (!(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_';
  });
}

bool is_uri(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

} // namespace

bool pg_cluster::available() {
  return !find_bindir().empty();
}

caf::expected<std::unique_ptr<pg_cluster>>
pg_cluster::start(const std::string& dir_arg, uint16_t port) {
  auto bindir = find_bindir();
  if (bindir.empty())
    return make_error(errc::io_error,
                      "PostgreSQL binaries (initdb, postgres) not found; set "
                      "AGENTMEM_PG_BINDIR or install the postgresql package");
  if (dir_arg.empty())
    return make_error(errc::io_error, "empty cluster directory");
  auto who = child_identity();
  if (!who)
    return std::move(who.error());
  std::error_code ec;
  fs::path dir = fs::absolute(dir_arg, ec).lexically_normal();
  if (ec)
    return make_error(errc::io_error, "bad directory " + dir_arg);
  if (dir.has_filename() == false)
    dir = dir.parent_path(); // strip a trailing slash
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::io_error,
                      "cannot create " + dir.string() + ": " + ec.message());
  // postgres refuses data directories with group/other access.
  if (::chmod(dir.c_str(), 0700) != 0)
    return make_error(errc::io_error, errno_text("chmod 0700 " + dir.string()));
  auto password_path = dir / password_file_name;
  std::string password;
  if (fs::exists(dir / "PG_VERSION")) {
    std::ifstream in{password_path};
    if (!in)
      return make_error(errc::io_error,
                        "cluster in " + dir.string() + " has no "
                          + password_file_name
                          + "; remove the directory to start afresh");
    std::getline(in, password);
    password = trim(password);
    if (password.empty())
      return make_error(errc::io_error,
                        password_path.string() + " is empty");
  } else {
    if (auto err = prepare_ownership(dir, *who))
      return err;
    password = random_password();
    if (auto err = run_initdb(bindir, dir, password, *who))
      return err;
    // Written after initdb, which wants an empty directory.
    int fd = ::open(password_path.c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      return make_error(errc::io_error,
                        errno_text("create " + password_path.string()));
    auto line = password + "\n";
    bool ok = ::write(fd, line.data(), line.size())
              == static_cast<ssize_t>(line.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok)
      return make_error(errc::io_error,
                        errno_text("write " + password_path.string()));
  }
  auto log_path = dir / log_file_name;
  int log_fd = ::open(log_path.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0)
    return make_error(errc::io_error, errno_text("open " + log_path.string()));
  if (auto err = prepare_ownership(dir, *who)) {
    ::close(log_fd);
    return err;
  }
  // Unix socket paths are limited to 107 bytes; fall back to TCP only.
  std::string socket_dir = dir.string();
  if (socket_dir.size() + sizeof("/.s.PGSQL.65535") > 107)
    socket_dir.clear();
  std::unique_ptr<pg_cluster> self{new pg_cluster};
  self->dir_ = dir.string();
  self->password_ = password;
  caf::error last_error;
  for (int attempt = 0; attempt < max_port_attempts; ++attempt) {
    uint16_t use_port = port;
    if (use_port == 0) {
      auto p = free_loopback_port();
      if (!p) {
        ::close(log_fd);
        return std::move(p.error());
      }
      use_port = *p;
    }
    auto log_offset = ::lseek(log_fd, 0, SEEK_END);
    child_args args{{bindir + "/postgres", "-D", dir.string(),
                     "-c", "listen_addresses=127.0.0.1",
                     "-c", "port=" + std::to_string(use_port),
                     "-c", "unix_socket_directories=" + socket_dir,
                     "-c", "fsync=on",
                     "-c", "synchronous_commit=on",
                     "-c", "shared_buffers=128MB",
                     "-c", "max_connections=50",
                     "-c", "timezone=UTC",
                     "-c", "log_timezone=UTC",
                     "-c", "logging_collector=off"}};
    auto pid = spawn(args, -1, log_fd, *who, true);
    if (!pid) {
      ::close(log_fd);
      return std::move(pid.error());
    }
    self->pid_ = *pid;
    self->port_ = use_port;
    self->socket_dir_ = socket_dir;
    // Wait until the server accepts authenticated connections.
    auto admin = make_url(password, use_port, "postgres", socket_dir);
    admin += admin.find('?') == std::string::npos ? '?' : '&';
    admin += "connect_timeout=2";
    auto deadline = std::chrono::steady_clock::now() + ready_timeout;
    bool exited = false;
    bool ready = false;
    int status = 0;
    std::string connect_error;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(*pid, &status, WNOHANG) == *pid) {
        exited = true;
        break;
      }
      try {
        pqxx::connection conn{admin};
        pqxx::nontransaction tx{conn};
        auto r = tx.exec("SELECT 1 FROM pg_database WHERE datname = "
                         + tx.quote(database_name));
        if (r.empty())
          tx.exec(std::string{"CREATE DATABASE "} + database_name + " OWNER "
                  + role_name);
        ready = true;
        break;
      } catch (const pqxx::broken_connection& e) {
        connect_error = redact_in(e.what(), admin);
      } catch (const std::exception& e) {
        // The server is up but the statement failed: not transient.
        connect_error = redact_in(e.what(), admin);
        self->stop();
        ::close(log_fd);
        return make_error(errc::postgres_error,
                          "preparing database agentmem: " + connect_error);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (ready) {
      ::close(log_fd);
      return self;
    }
    auto tail = read_from(log_path, log_offset, 2000);
    if (exited) {
      self->pid_ = -1;
      last_error = make_error(errc::io_error,
                              "postgres exited during start-up ("
                                + describe_status(status) + "), see "
                                + log_path.string() + ": " + tail);
      bool port_taken = tail.find("could not bind") != std::string::npos
                        || tail.find("could not create any TCP/IP")
                             != std::string::npos;
      if (port == 0 && port_taken)
        continue; // lost the race for the picked port: pick another
    } else {
      self->stop();
      last_error = make_error(errc::timeout,
                              "postgres not ready within 30 s ("
                                + connect_error + "), see "
                                + log_path.string() + ": " + tail);
    }
    break;
  }
  ::close(log_fd);
  return last_error;
}

pg_cluster::~pg_cluster() {
  stop();
}

std::string pg_cluster::url() const {
  return make_url(password_, port_, database_name, socket_dir_);
}

std::string pg_cluster::redacted_url() const {
  return make_url("***", port_, database_name, socket_dir_);
}

uint16_t pg_cluster::port() const {
  return port_;
}

const std::string& pg_cluster::dir() const {
  return dir_;
}

std::string pg_cluster::log_path() const {
  return (fs::path{dir_} / log_file_name).string();
}

bool pg_cluster::running() const {
  return pid_ > 0;
}

caf::error pg_cluster::stop() {
  if (pid_ <= 0)
    return caf::none;
  auto pid = pid_;
  pid_ = -1;
  auto wait_until = [pid](std::chrono::steady_clock::time_point deadline,
                          int& status) {
    for (;;) {
      auto r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD))
        return true;
      if (std::chrono::steady_clock::now() >= deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  int status = 0;
  ::kill(pid, SIGINT); // fast shutdown: abort sessions, checkpoint, exit
  if (wait_until(std::chrono::steady_clock::now() + stop_timeout, status)) {
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
      return make_error(errc::io_error, "postgres exited with "
                                          + describe_status(status)
                                          + ", see " + log_path());
    return caf::none;
  }
  ::kill(pid, SIGQUIT); // immediate shutdown
  if (!wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(5),
                  status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return make_error(errc::timeout,
                    "postgres did not finish a fast shutdown within 60 s");
}

caf::expected<std::string>
pg_cluster::recreate_database(const std::string& admin_url,
                              const std::string& name) {
  if (auto err = drop_database(admin_url, name))
    return err;
  try {
    pqxx::connection conn{admin_url};
    pqxx::nontransaction tx{conn};
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  } catch (const std::exception& e) {
    return make_error(errc::postgres_error,
                      "CREATE DATABASE " + name + ": "
                        + redact_in(e.what(), admin_url));
  }
  return with_database(admin_url, name);
}

caf::error pg_cluster::drop_database(const std::string& admin_url,
                                     const std::string& name) {
  if (!valid_db_name(name))
    return make_error(errc::invalid_request, "bad database name: " + name);
  try {
    pqxx::connection conn{admin_url};
    pqxx::nontransaction tx{conn};
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name)
            + " WITH (FORCE)");
  } catch (const std::exception& e) {
    return make_error(errc::postgres_error,
                      "DROP DATABASE " + name + ": "
                        + redact_in(e.what(), admin_url));
  }
  return caf::none;
}

std::string pg_cluster::with_database(const std::string& url,
                                      const std::string& db) {
  if (!is_uri(url))
    return url + " dbname=" + db;
  auto authority = url.find("://") + 3;
  auto query = url.find_first_of("?#", authority);
  auto end = query == std::string::npos ? url.size() : query;
  auto slash = url.find('/', authority);
  if (slash == std::string::npos || slash > end)
    return url.substr(0, end) + "/" + db + url.substr(end);
  return url.substr(0, slash + 1) + db + url.substr(end);
}

std::string pg_cluster::redact(const std::string& url) {
  std::string out = url;
  if (is_uri(out)) {
    auto authority = out.find("://") + 3;
    auto end = out.find_first_of("/?#", authority);
    if (end == std::string::npos)
      end = out.size();
    auto at = out.rfind('@', end);
    if (at != std::string::npos && at >= authority) {
      auto colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at)
        out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // `password=` (and `sslpassword=`, the client key's passphrase) as a URI
  // query parameter or a conninfo keyword.
  for (size_t pos = 0;
       (pos = out.find("password", pos)) != std::string::npos;) {
    auto key = pos >= 3 && out.compare(pos - 3, 3, "ssl") == 0 ? pos - 3 : pos;
    bool key_start = key == 0 || out[key - 1] == '?' || out[key - 1] == '&'
                     || std::isspace(static_cast<unsigned char>(out[key - 1]));
    auto eq = pos + 8;
    while (eq < out.size() && out[eq] == ' ')
      ++eq;
    if (!key_start || eq >= out.size() || out[eq] != '=') {
      pos += 8;
      continue;
    }
    auto v = eq + 1;
    while (v < out.size() && out[v] == ' ')
      ++v;
    auto v_end = v;
    if (v < out.size() && out[v] == '\'') {
      for (v_end = v + 1; v_end < out.size() && out[v_end] != '\''; ++v_end)
        if (out[v_end] == '\\')
          ++v_end;
      v_end = std::min(out.size(), v_end + 1);
    } else {
      while (v_end < out.size() && out[v_end] != '&' && out[v_end] != '#'
             && !std::isspace(static_cast<unsigned char>(out[v_end])))
        ++v_end;
    }
    out.replace(v, v_end - v, "***");
    pos = v + 3;
  }
  return out;
}

std::string pg_cluster::redact_in(const std::string& text,
                                  const std::string& url) {
  std::vector<std::string> secrets;
  auto add_decoded = [&secrets](const std::string& raw) {
    secrets.push_back(raw);
    std::string dec;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%' && i + 2 < raw.size()
          && std::isxdigit(static_cast<unsigned char>(raw[i + 1]))
          && std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
        dec += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        dec += raw[i];
      }
    }
    secrets.push_back(dec);
  };
  if (is_uri(url)) {
    auto authority = url.find("://") + 3;
    auto end = url.find_first_of("/?#", authority);
    if (end == std::string::npos)
      end = url.size();
    auto at = url.rfind('@', end);
    if (at != std::string::npos && at >= authority) {
      auto colon = url.find(':', authority);
      if (colon != std::string::npos && colon < at)
        add_decoded(url.substr(colon + 1, at - colon - 1));
    }
  }
  // `password=` values (URI query parameter or conninfo keyword), parsed
  // like redact() does.
  for (size_t pos = 0;
       (pos = url.find("password", pos)) != std::string::npos;) {
    auto eq = pos + 8;
    while (eq < url.size() && url[eq] == ' ')
      ++eq;
    pos += 8;
    if (eq >= url.size() || url[eq] != '=')
      continue;
    auto v = eq + 1;
    while (v < url.size() && url[v] == ' ')
      ++v;
    auto v_end = v;
    if (v < url.size() && url[v] == '\'') {
      std::string unq;
      for (v_end = v + 1; v_end < url.size() && url[v_end] != '\''; ++v_end) {
        if (url[v_end] == '\\' && v_end + 1 < url.size())
          ++v_end;
        unq += url[v_end];
      }
      secrets.push_back(unq);
      v_end = std::min(url.size(), v_end + 1);
      secrets.push_back(url.substr(v, v_end - v));
    } else {
      while (v_end < url.size() && url[v_end] != '&' && url[v_end] != '#'
             && !std::isspace(static_cast<unsigned char>(url[v_end])))
        ++v_end;
      add_decoded(url.substr(v, v_end - v));
    }
  }
  // Longest first, so that a secret containing another is replaced whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& x, const std::string& y) {
              return x.size() > y.size();
            });
  std::string out = text;
  for (auto& sec : secrets) {
    if (sec.empty())
      continue;
    for (size_t p = 0; (p = out.find(sec, p)) != std::string::npos; p += 3)
      out.replace(p, sec.size(), "***");
  }
  return out;
}

} // namespace agentmem::storage
