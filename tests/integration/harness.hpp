#pragma once

// Helpers of the end-to-end tests: temp directories, free ports, child
// processes (the real `agentmem` binary, Prometheus, promtool), the Kafka
// cluster of a test (librdkafka's mock cluster or a real Apache Kafka broker,
// chosen by AGENTMEM_IT_BROKER=mock|real), a paced producer, HTTP calls,
// Prometheus text parsing, Postgres probes and bounded waits. Everything
// here is real: no fake Kafka, Postgres or HTTP. Also used by tests/faults/.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>
#include <httplib.h>

#include "api/auth.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/producer.hpp"
#include "kafka/topic_spec.hpp"
#include "messages/errc.hpp"
#include "storage/postgres_store.hpp"

namespace agentmem::it {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// The admin API token of this test process (random, minted once); every
/// agentmem_node accepts it and every http_client sends it by default.
inline const std::string& test_token() {
  static const std::string token = [] {
    auto t = api::new_token();
    if (!t)
      throw std::runtime_error("cannot mint a test token");
    return *t;
  }();
  return token;
}

/// Path of the agentmem binary under test.
inline std::string agentmem_binary() {
  return std::string{AGENTMEM_BINARY_DIR} + "/pipeline/agentmem";
}

/// Seconds elapsed since `t0`.
inline double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

/// Wall-clock time now, in ms since the Unix epoch.
inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// `ms` (since the epoch, >= 0) as RFC 3339 UTC with milliseconds, e.g.
/// "2024-05-01T10:00:00.250Z" (the "ts" of a published event).
inline std::string rfc3339_ms(int64_t ms) {
  std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

/// 5882 -> "5,882" (for readable failure messages).
inline std::string fmt_count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

/// The error of `x` as text, "" when it holds a value (safe in assertion
/// messages, which Boost.Test evaluates even when the assertion passes).
template <class T>
std::string error_of(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

/// True when the running test case has failed so far (an assertion failed)
/// or is being left by an exception.
inline bool current_test_failed() {
  if (std::uncaught_exceptions() > 0)
    return true;
  try {
    using namespace boost::unit_test;
    if (!framework::test_in_progress())
      return false; // no test runner (bench/scale_bench reuses the harness)
    auto id = framework::current_test_case().p_id;
    return !results_collector.results(id).passed();
  } catch (...) {
    return false;
  }
}

/// The last `n` lines of a text file ("" when it cannot be read).
inline std::string file_tail(const std::string& path, size_t n) {
  std::ifstream in{path};
  if (!in)
    return {};
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(std::move(line));
    if (lines.size() > n)
      lines.pop_front();
  }
  std::string out;
  for (auto& l : lines)
    out += l + '\n';
  return out;
}

/// A fresh directory under /tmp, removed at destruction unless the test
/// failed or AGENTMEM_TEST_KEEP_TMP is set (then its path is printed).
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix) {
    std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path_ = tmpl;
  }

  ~temp_dir() {
    const char* keep = std::getenv("AGENTMEM_TEST_KEEP_TMP");
    if (current_test_failed() || (keep && *keep && std::string{keep} != "0")) {
      std::cerr << "[integration] kept " << path_ << '\n';
      return;
    }
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const {
    return path_;
  }

  std::string operator/(const std::string& name) const {
    return (fs::path{path_} / name).string();
  }

private:
  std::string path_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
/// it back, close).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot pick a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

/// A child process started with fork/exec: stdin from /dev/null, stdout and
/// stderr appended to `log_path`, its own process group, SIGKILL when the
/// test process dies (PR_SET_PDEATHSIG; spawn from a long-lived thread).
/// The destructor SIGKILLs and reaps it if it still runs.
class child_process {
public:
  child_process(std::vector<std::string> argv, const std::string& log_path)
    : argv_(std::move(argv)) {
    if (argv_.empty())
      throw std::invalid_argument("child_process: empty argv");
    std::vector<char*> args;
    for (auto& a : argv_)
      args.push_back(a.data());
    args.push_back(nullptr);
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                     0644);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0)
      throw std::runtime_error("cannot open " + log_path + " or /dev/null");
    pid_t parent = ::getpid();
    long max_fd = ::sysconf(_SC_OPEN_MAX);
    if (max_fd <= 0 || max_fd > 65536)
      max_fd = 65536;
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(127);
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP})
        ::sigaction(s, &dfl, nullptr);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      for (long fd = 3; fd < max_fd; ++fd)
        ::close(static_cast<int>(fd));
      ::execv(args[0], args.data());
      static const char msg[] = "exec failed\n";
      (void) !::write(2, msg, sizeof(msg) - 1);
      ::_exit(127);
    }
    ::close(out);
    ::close(in);
    if (pid < 0)
      throw std::runtime_error("fork failed for " + argv_[0]);
    pid_ = pid;
  }

  ~child_process() {
    kill_and_reap();
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const {
    return pid_;
  }

  /// True while the child has not exited (reaps it when it has).
  bool running() {
    if (exited_)
      return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = st;
    }
    return !exited_;
  }

  /// Sends `sig` if the child still runs.
  void signal(int sig) {
    if (running())
      ::kill(pid_, sig);
  }

  /// Waits up to `timeout` for the child to exit; its wait status, or
  /// nullopt when it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    while (running()) {
      if (steady::now() >= deadline)
        return std::nullopt;
      std::this_thread::sleep_for(20ms);
    }
    return status_;
  }

  /// SIGKILL (if running) and reap.
  void kill_and_reap() {
    if (pid_ <= 0 || exited_)
      return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    status_ = st;
  }

  /// "exit code 2", "killed by signal 9", or "running".
  std::string describe_status() {
    if (running())
      return "running";
    if (WIFEXITED(status_))
      return "exit code " + std::to_string(WEXITSTATUS(status_));
    if (WIFSIGNALED(status_))
      return "killed by signal " + std::to_string(WTERMSIG(status_));
    return "wait status " + std::to_string(status_);
  }

private:
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

/// Runs a command to completion with `input` on its stdin; returns its wait
/// status and everything it wrote to stdout and stderr (merged).
inline std::pair<int, std::string> run_with_input(std::vector<std::string> argv,
                                                  const std::string& input,
                                                  const std::string& work_file) {
  std::string in_path = work_file + ".in";
  std::string out_path = work_file + ".out";
  {
    std::ofstream f{in_path, std::ios::binary};
    f << input;
  }
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  int in = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0644);
  if (in < 0 || out < 0)
    throw std::runtime_error("cannot open " + in_path + " / " + out_path);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(in);
  ::close(out);
  if (pid < 0)
    throw std::runtime_error("fork failed for " + argv[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  std::ifstream f{out_path, std::ios::binary};
  std::stringstream ss;
  ss << f.rdbuf();
  return {st, ss.str()};
}

// --- Kafka -------------------------------------------------------------------

/// Which Kafka the end-to-end tests talk to.
enum class broker_kind {
  mock, ///< librdkafka's mock cluster, inside the test process
  real, ///< a real Apache Kafka broker (scripts/kafka-broker.sh), one per test
};

/// "mock" or "real".
inline const char* to_string(broker_kind k) {
  return k == broker_kind::real ? "real" : "mock";
}

/// $AGENTMEM_IT_BROKER: "real" or "mock"; unset or empty means mock. Any
/// other value throws std::runtime_error (a typo must not silently test the
/// mock).
inline broker_kind broker_from_env() {
  const char* v = std::getenv("AGENTMEM_IT_BROKER");
  std::string s = v ? v : "";
  if (s.empty() || s == "mock")
    return broker_kind::mock;
  if (s == "real")
    return broker_kind::real;
  throw std::runtime_error("AGENTMEM_IT_BROKER must be 'real' or 'mock', got '"
                           + s + "'");
}

/// Path of scripts/kafka-broker.sh in the source tree.
inline std::string kafka_broker_script() {
  return std::string{AGENTMEM_SOURCE_DIR} + "/scripts/kafka-broker.sh";
}

/// Runs `scripts/kafka-broker.sh <args>` to completion, at most `timeout`
/// (then SIGKILLs it); stdout and stderr go to `log_path` (replaced).
/// Returns "" on exit status 0, else what happened and the output's tail.
inline std::string run_broker_script(const std::vector<std::string>& args,
                                     const std::string& log_path,
                                     std::chrono::milliseconds timeout) {
  std::error_code ec;
  fs::remove(log_path, ec);
  std::vector<std::string> argv{"/bin/bash", kafka_broker_script()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string cmd = "kafka-broker.sh";
  for (auto& a : args)
    cmd += " " + a;
  child_process p{argv, log_path};
  auto st = p.wait_exit(timeout);
  if (!st) {
    p.kill_and_reap();
    return cmd + " did not finish within "
           + std::to_string(
               std::chrono::duration_cast<std::chrono::seconds>(timeout).count())
           + " s; output:\n" + file_tail(log_path, 30);
  }
  if (WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
    return {};
  return cmd + " failed (" + p.describe_status() + "); output:\n"
         + file_tail(log_path, 30);
}

/// Runs `scripts/kafka-broker.sh install` once per test process (Maven
/// resolves the broker's jars; a no-op when they are in place). Throws
/// std::runtime_error when it fails.
inline void ensure_kafka_installed() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    auto log = (fs::temp_directory_path()
                / ("agentmem-kafka-install-" + std::to_string(::getpid())
                   + ".log"))
                 .string();
    auto t0 = steady::now();
    error = run_broker_script({"install"}, log, std::chrono::minutes(15));
    std::error_code ec;
    fs::remove(log, ec);
    if (error.empty() && seconds_since(t0) > 1)
      std::cerr << "[integration] kafka-broker.sh install took "
                << seconds_since(t0) << " s\n";
  });
  if (!error.empty())
    throw std::runtime_error("cannot install the Kafka broker: " + error);
}

/// The Kafka cluster of one test, with its topics created:
///   - broker_kind::mock: kafka::mock_cluster in this process;
///   - broker_kind::real: a real broker started with
///     `scripts/kafka-broker.sh start --dir <work_dir>/kafka` (after a
///     one-time `install`), each topic created with `create-topic NAME
///     --partitions N`; the destructor runs `stop --dir D --clean` (also when
///     the test failed; the tail of the broker log is printed first). A
///     watchdog process runs that same stop if the test process dies
///     without destroying this object (crash, ctest timeout), since the
///     broker runs in its own session and would outlive it.
/// Construction throws std::runtime_error (with the script's output) and
/// leaves nothing running when the cluster or a topic cannot be made.
class test_kafka {
public:
  test_kafka(broker_kind kind, const std::vector<kafka::topic_spec>& topics,
             const std::string& work_dir)
    : kind_(kind), dir_((fs::path{work_dir} / "kafka").string()) {
    if (kind_ == broker_kind::mock) {
      auto m = kafka::mock_cluster::start(1, topics);
      if (!m)
        throw std::runtime_error("mock cluster: " + agentmem::describe(m.error()));
      mock_ = std::move(*m);
      bootstrap_ = mock_->bootstrap();
      return;
    }
    ensure_kafka_installed();
    start_watchdog();
    try {
      if (auto err = start_broker(std::chrono::minutes(2)); !err.empty())
        throw std::runtime_error(err);
      for (auto& t : topics) {
        auto err = run_broker_script(
          {"create-topic", t.name, "--dir", dir_, "--partitions",
           std::to_string(t.partitions)},
          dir_ + ".create-topic.log", std::chrono::minutes(2));
        if (!err.empty())
          throw std::runtime_error(err);
      }
      std::error_code ec;
      fs::remove(dir_ + ".create-topic.log", ec);
    } catch (...) {
      cleanup(false);
      throw;
    }
  }

  ~test_kafka() {
    cleanup(current_test_failed());
  }

  test_kafka(const test_kafka&) = delete;
  test_kafka& operator=(const test_kafka&) = delete;

  broker_kind kind() const {
    return kind_;
  }

  bool real() const {
    return kind_ == broker_kind::real;
  }

  /// "127.0.0.1:PORT" (the first bootstrap address of a real broker; it
  /// never changes: start_broker() fails instead).
  const std::string& bootstrap() const {
    return bootstrap_;
  }

  /// The broker dir (real brokers only).
  const std::string& dir() const {
    return dir_;
  }

  /// "librdkafka mock cluster at ..." / "real Kafka broker at ... (dir ...)".
  std::string summary() const {
    return real() ? "real Kafka broker at " + bootstrap_ + " (dir " + dir_ + ")"
                  : "librdkafka mock cluster at " + bootstrap_;
  }

  /// Real broker only: `kafka-broker.sh stop --dir D` (clean shutdown, data
  /// and port kept). Returns "" or what failed.
  std::string stop_broker(std::chrono::milliseconds timeout = std::chrono::minutes(1)) {
    if (!real())
      return "stop_broker: the mock cluster cannot be stopped and restarted";
    auto err = run_broker_script({"stop", "--dir", dir_}, dir_ + ".stop.log",
                                 timeout);
    return err;
  }

  /// Real broker only: `kafka-broker.sh start --dir D` and re-reads
  /// D/bootstrap. After a restart the address must be the one agentmem was
  /// configured with: a different port is an error (agentmem is never
  /// reconfigured). Returns "" or what failed.
  std::string start_broker(std::chrono::milliseconds timeout = std::chrono::minutes(2)) {
    if (!real())
      return "start_broker: the mock cluster cannot be stopped and restarted";
    auto err = run_broker_script(
      {"start", "--dir", dir_, "--timeout",
       std::to_string(
         std::chrono::duration_cast<std::chrono::seconds>(timeout).count())},
      dir_ + ".start.log", timeout + std::chrono::seconds(30));
    if (!err.empty())
      return err;
    std::ifstream f{fs::path{dir_} / "bootstrap"};
    std::string b;
    std::getline(f, b);
    if (b.empty())
      return "kafka-broker.sh start succeeded but " + dir_
             + "/bootstrap is empty";
    if (bootstrap_.empty()) {
      bootstrap_ = b;
    } else if (b != bootstrap_) {
      return "the restarted broker listens on " + b + ", not on " + bootstrap_
             + " as before (port taken meanwhile?); agentmem is configured "
               "with "
             + bootstrap_ + " and is deliberately not reconfigured";
    }
    return {};
  }

private:
  // A child in its own session blocked on a pipe from this process: one
  // byte means "cleaned up, exit"; EOF without it means this process died,
  // so it execs `kafka-broker.sh stop --dir D --clean`.
  void start_watchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    std::vector<std::string> argv{"/bin/bash", kafka_broker_script(), "stop",
                                  "--dir", dir_, "--clean"};
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    long max_fd = ::sysconf(_SC_OPEN_MAX);
    if (max_fd <= 0 || max_fd > 65536)
      max_fd = 65536;
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::setsid();
      int rd = fds[0];
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      for (long fd = 3; fd < max_fd; ++fd)
        if (fd != rd)
          ::close(static_cast<int>(fd));
      char c;
      ssize_t n;
      do {
        n = ::read(rd, &c, 1);
      } while (n < 0 && errno == EINTR);
      if (n == 1)
        ::_exit(0);
      ::close(rd);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[0]);
    if (devnull >= 0)
      ::close(devnull);
    if (pid < 0) {
      ::close(fds[1]);
      throw std::runtime_error("fork failed (kafka watchdog)");
    }
    watchdog_pid_ = pid;
    watchdog_fd_ = fds[1];
  }

  void cleanup(bool failed) noexcept {
    try {
      if (mock_) {
        mock_.reset();
        return;
      }
      if (!real())
        return;
      if (failed) {
        auto log = (fs::path{dir_} / "broker.log").string();
        std::cerr << "[integration] tail of " << log << ":\n"
                  << file_tail(log, 40) << std::endl;
      }
      auto err = run_broker_script({"stop", "--dir", dir_, "--clean"},
                                   dir_ + ".stop.log", std::chrono::minutes(1));
      if (!err.empty())
        std::cerr << "[integration] " << err << std::endl;
      std::error_code ec;
      for (auto* suffix : {".stop.log", ".start.log", ".status.log",
                           ".create-topic.log"})
        fs::remove(dir_ + suffix, ec);
    } catch (...) {
    }
    if (watchdog_fd_ >= 0) {
      (void) !::write(watchdog_fd_, "x", 1);
      ::close(watchdog_fd_);
      watchdog_fd_ = -1;
    }
    if (watchdog_pid_ > 0) {
      int st = 0;
      while (::waitpid(watchdog_pid_, &st, 0) < 0 && errno == EINTR) {
      }
      watchdog_pid_ = -1;
    }
  }

  broker_kind kind_;
  std::string dir_;
  std::string bootstrap_;
  std::unique_ptr<kafka::mock_cluster> mock_;
  pid_t watchdog_pid_ = -1;
  int watchdog_fd_ = -1;
};

/// Publishes `events` (key, value) to `topic` at a steady pace over
/// `duration` on its own thread, then flushes (at most `flush_timeout`);
/// joined (after stopping early) by the destructor, so a failed REQUIRE in
/// the test never leaves a running thread behind. `events` and `p` must
/// outlive it.
class paced_producer {
public:
  paced_producer(kafka::producer& p, std::string topic,
                 const std::vector<std::pair<std::string, std::string>>& events,
                 std::chrono::milliseconds duration,
                 std::chrono::milliseconds flush_timeout = std::chrono::seconds(60))
    : thread_([this, &p, topic = std::move(topic), &events, duration,
               flush_timeout] { run(p, topic, events, duration, flush_timeout); }) {
  }

  ~paced_producer() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  paced_producer(const paced_producer&) = delete;
  paced_producer& operator=(const paced_producer&) = delete;

  void join() {
    if (thread_.joinable())
      thread_.join();
  }

  /// Records handed to the producer so far.
  size_t sent() const {
    return sent_;
  }

  /// True once every record was handed over and the flush returned.
  bool done() const {
    return done_;
  }

  /// The first error, "" if none (valid after join()).
  std::string error() {
    std::lock_guard<std::mutex> guard{mtx_};
    return error_;
  }

private:
  void run(kafka::producer& p, const std::string& topic,
           const std::vector<std::pair<std::string, std::string>>& events,
           std::chrono::milliseconds duration,
           std::chrono::milliseconds flush_timeout) {
    auto t0 = steady::now();
    const double per_event_ns =
      std::chrono::duration<double, std::nano>(duration).count()
      / static_cast<double>(std::max<size_t>(events.size(), 1));
    for (size_t i = 0; i < events.size() && !stop_; ++i) {
      auto due = t0
                 + std::chrono::nanoseconds(
                   static_cast<int64_t>(per_event_ns * static_cast<double>(i)));
      std::this_thread::sleep_until(due);
      if (auto err = p.produce(topic, events[i].first, events[i].second)) {
        fail("produce #" + std::to_string(i) + ": " + agentmem::describe(err));
        done_ = true;
        return;
      }
      sent_ = i + 1;
    }
    if (auto err = p.flush(flush_timeout))
      fail("flush: " + agentmem::describe(err));
    done_ = true;
  }

  void fail(std::string what) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (error_.empty())
      error_ = std::move(what);
  }

  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<size_t> sent_{0};
  std::mutex mtx_;
  std::string error_;
  std::thread thread_; // last: starts after the members above exist
};

// --- HTTP --------------------------------------------------------------------

/// An HTTP response, or the transport error (status -1).
struct http_response {
  int status = -1;
  std::string body;
  std::string error;
};

/// A keep-alive HTTP client for 127.0.0.1:<port>. Targets are sent as given
/// (the caller percent-encodes).
class http_client {
public:
  /// `token`: bearer token sent with every request ("" = none).
  explicit http_client(uint16_t port, std::chrono::seconds timeout = 10s,
                       const std::string& token = test_token())
    : cli_("127.0.0.1", port) {
    if (!token.empty())
      cli_.set_bearer_token_auth(token);
    cli_.set_url_encode(false);
    cli_.set_keep_alive(true);
    cli_.set_connection_timeout(timeout);
    cli_.set_read_timeout(timeout);
    cli_.set_write_timeout(timeout);
  }

  http_response get(const std::string& target) {
    return convert(cli_.Get(target.c_str()));
  }

  http_response post_json(const std::string& target, const std::string& body) {
    return convert(cli_.Post(target.c_str(), body, "application/json"));
  }

  /// Any method; `body` (JSON) is sent for POST, PUT and PATCH.
  http_response send(const std::string& method, const std::string& target,
                     const std::string& body = {}) {
    if (method == "POST")
      return post_json(target, body);
    if (method == "PUT")
      return convert(cli_.Put(target.c_str(), body, "application/json"));
    if (method == "PATCH")
      return convert(cli_.Patch(target.c_str(), body, "application/json"));
    if (method == "DELETE")
      return convert(cli_.Delete(target.c_str()));
    return get(target);
  }

  http_response del(const std::string& target) {
    return convert(cli_.Delete(target.c_str()));
  }

private:
  static http_response convert(const httplib::Result& r) {
    http_response out;
    if (!r) {
      out.error = httplib::to_string(r.error());
      return out;
    }
    out.status = r->status;
    out.body = r->body;
    return out;
  }

  httplib::Client cli_;
};

/// Percent-encodes everything but unreserved characters (RFC 3986).
inline std::string url_encode(const std::string& s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Sum of the samples of metric `name` in a Prometheus text exposition
/// (every label set whose label text contains `label_part`, when given);
/// nullopt when no sample matched.
inline std::optional<double> metric_value(const std::string& text,
                                          const std::string& name,
                                          const std::string& label_part = {}) {
  std::istringstream in{text};
  std::string line;
  std::optional<double> sum;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size())
      continue;
    char next = line[name.size()];
    std::string labels;
    size_t value_pos;
    if (next == '{') {
      auto close = line.rfind('}');
      if (close == std::string::npos)
        continue;
      labels = line.substr(name.size(), close - name.size() + 1);
      value_pos = close + 1;
    } else if (next == ' ') {
      value_pos = name.size();
    } else {
      continue;
    }
    if (!label_part.empty() && labels.find(label_part) == std::string::npos)
      continue;
    std::istringstream v{line.substr(value_pos)};
    std::string tok;
    v >> tok;
    sum = sum.value_or(0) + std::strtod(tok.c_str(), nullptr);
  }
  return sum;
}

// --- Postgres ----------------------------------------------------------------

/// `s` as an SQL string literal.
inline std::string sql_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += '\'';
    out += c;
  }
  return out + "'";
}

/// Read-only checks against the database agentmem writes to.
class pg_probe {
public:
  explicit pg_probe(const std::string& url) {
    auto s = storage::postgres_store::connect(url);
    if (!s)
      throw std::runtime_error("cannot connect to the test database: "
                               + describe(s.error()));
    store_ = std::move(*s);
  }

  /// A one-row, one-column integer query; nullopt on error (e.g. the
  /// tables do not exist yet).
  std::optional<int64_t> try_scalar(const std::string& sql) {
    auto v = store_->scalar(sql);
    if (!v)
      return std::nullopt;
    return *v;
  }

  /// Like try_scalar, but an error throws (naming the query).
  int64_t scalar(const std::string& sql) {
    auto v = store_->scalar(sql);
    if (!v)
      throw std::runtime_error("query failed: " + sql + ": "
                               + describe(v.error()));
    return *v;
  }

  /// How many of `values` (distinct) occur in table.column; chunked IN
  /// lists. Together with count(*) == values.size() on a UNIQUE column
  /// this proves set equality.
  int64_t count_present(const std::string& table, const std::string& column,
                        const std::vector<std::string>& values) {
    int64_t total = 0;
    const size_t chunk = 500;
    for (size_t i = 0; i < values.size(); i += chunk) {
      std::string sql = "SELECT count(DISTINCT " + column + ") FROM " + table
                        + " WHERE " + column + " IN (";
      for (size_t j = i; j < std::min(values.size(), i + chunk); ++j) {
        if (j > i)
          sql += ',';
        sql += sql_quote(values[j]);
      }
      sql += ")";
      total += scalar(sql);
    }
    return total;
  }

  /// Sum of kafka_offsets.next_offset of `group` on `topic` (0 when none).
  std::optional<int64_t> stored_offsets(const std::string& group,
                                        const std::string& topic) {
    return try_scalar("SELECT coalesce(sum(next_offset), 0)::bigint FROM "
                      "kafka_offsets WHERE consumer_group = "
                      + sql_quote(group) + " AND topic = " + sql_quote(topic));
  }

private:
  std::unique_ptr<storage::postgres_store> store_;
};

// --- waiting -----------------------------------------------------------------

/// Polls `done` every `interval` until it returns true or `timeout` passes.
/// Returns "" on success, else "timed out after N s waiting for <what>;
/// have <status()>". `abort_reason` (optional) is checked each round: a
/// non-empty result stops the wait early with that reason.
inline std::string
wait_until(const std::string& what, std::chrono::milliseconds timeout,
           const std::function<bool()>& done,
           const std::function<std::string()>& status,
           const std::function<std::string()>& abort_reason = {},
           std::chrono::milliseconds interval = 200ms) {
  auto t0 = steady::now();
  while (true) {
    if (done())
      return {};
    if (abort_reason) {
      auto why = abort_reason();
      if (!why.empty())
        return "gave up after " + std::to_string(int(seconds_since(t0)))
               + " s waiting for " + what + ": " + why + "; have " + status();
    }
    if (steady::now() - t0 >= timeout)
      return "timed out after "
             + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                timeout)
                                .count())
             + " s waiting for " + what + "; have " + status();
    std::this_thread::sleep_for(interval);
  }
}

/// High watermark of each partition 0..partitions-1 of `topic`, asked with
/// `kcat -Q` (timestamp -1 = latest); -1 where kcat gave no answer. For
/// failure diagnostics only.
inline std::vector<int64_t> high_watermarks(const std::string& brokers,
                                            const std::string& topic,
                                            int partitions,
                                            const std::string& work_file) {
  std::vector<int64_t> out(static_cast<size_t>(partitions), -1);
  std::vector<std::string> argv{"/usr/bin/kcat", "-b", brokers, "-Q"};
  for (int p = 0; p < partitions; ++p) {
    argv.push_back("-t");
    argv.push_back(topic + ":" + std::to_string(p) + ":-1");
  }
  auto [status, text] = run_with_input(argv, "", work_file);
  // Lines: "<topic> [<p>] offset <n>"
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    auto lb = line.find(" [");
    auto rb = line.find("] offset ");
    if (lb == std::string::npos || rb == std::string::npos)
      continue;
    int p = std::atoi(line.c_str() + lb + 2);
    if (p >= 0 && p < partitions)
      out[static_cast<size_t>(p)] = std::atoll(line.c_str() + rb + 9);
  }
  return out;
}

/// "p0 stored/high, p1 ..." for every partition where Postgres' stored next
/// offset differs from the high watermark. For failure diagnostics.
inline std::string offsets_report(pg_probe& pg, const std::string& brokers,
                                  const std::string& group,
                                  const std::string& topic, int partitions,
                                  const std::string& work_file) {
  auto high = high_watermarks(brokers, topic, partitions, work_file);
  std::string out;
  int64_t high_sum = 0;
  for (int p = 0; p < partitions; ++p) {
    auto stored = pg.try_scalar(
      "SELECT coalesce(max(next_offset), -1) FROM kafka_offsets WHERE "
      "consumer_group = "
      + sql_quote(group) + " AND topic = " + sql_quote(topic)
      + " AND partition = " + std::to_string(p));
    high_sum += std::max<int64_t>(high[static_cast<size_t>(p)], 0);
    if (stored.value_or(-1) != high[static_cast<size_t>(p)])
      out += " p" + std::to_string(p) + " " + std::to_string(stored.value_or(-1))
             + "/" + std::to_string(high[static_cast<size_t>(p)]);
  }
  return "high watermarks sum to " + fmt_count(high_sum)
         + "; partitions with stored/high offsets differing:"
         + (out.empty() ? std::string{" none"} : out);
}

/// The agentmem metrics that explain a stalled consumer.
inline std::string consumer_metrics_report(const std::string& metrics_text) {
  std::string out;
  for (auto* name :
       {"agentmem_events_consumed_total", "agentmem_events_committed_total",
        "agentmem_batches_in_flight", "agentmem_consumer_paused",
        "agentmem_consumer_lag_records", "agentmem_actor_restarts_total",
        "agentmem_postgres_retries_total", "agentmem_index_vectors"}) {
    auto v = metric_value(metrics_text, name);
    out += std::string{out.empty() ? "" : ", "} + name + "="
           + (v ? std::to_string(static_cast<int64_t>(*v)) : "?");
  }
  return out;
}

// --- agentmem ----------------------------------------------------------------

/// What goes into one node's agentmem.toml.
struct node_options {
  node_options() = default;

  /// A node that consumes `topic_name` of `cluster` as consumer group
  /// `group` (dead letters to `topic_name`.dlq), stores into `pg_url` and
  /// keeps its data in `dir`; every other field keeps its default.
  node_options(const test_kafka& cluster, const std::string& topic_name,
               std::string group, std::string pg_url, std::string dir)
    : brokers(cluster.bootstrap()),
      topic(topic_name),
      dlq_topic(topic_name + ".dlq"),
      group_id(std::move(group)),
      postgres_url(std::move(pg_url)),
      data_dir(std::move(dir)) {
  }

  std::string brokers;
  std::string topic = "agent.activity.v1";
  std::string dlq_topic = "agent.activity.v1.dlq";
  std::string group_id = "agentmem";
  std::string postgres_url; ///< secret: written to the file, never printed
  std::string data_dir;
  uint16_t http_port = 0; ///< 0: pick a free port at construction
  int snapshot_interval_ms = 2000;
  int shutdown_timeout_ms = 20000;
  /// [pipeline] keys written only when > 0 (else agentmem's defaults).
  int max_batch_records = 0;
  int max_batch_wait_ms = 0;
  int max_in_flight = 0;
  /// Lines of the node's tokens file ([auth] tokens_file); empty: one
  /// admin line for test_token().
  std::string tokens_text;
  /// Appended verbatim after the generated sections, e.g.
  /// "[testing]\nfault_stage = \"writer\"\n" or "[supervisor]\n...".
  std::string extra_toml;
  /// librdkafka passthrough: short group timeouts so that a SIGKILLed
  /// member leaves the mock cluster's group within seconds.
  std::map<std::string, std::string> kafka_properties = {
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "500"},
    {"fetch.wait.max.ms", "50"},
  };
};

/// `s` as a TOML basic string.
inline std::string toml_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

/// The real agentmem binary running `agentmem run --config <dir>/agentmem.toml`
/// as a child process; output goes to <dir>/agentmem.log (appended across
/// restarts). The destructor SIGKILLs it and, when the test failed, prints
/// the tail of the log.
class agentmem_node {
public:
  agentmem_node(node_options opts, const std::string& work_dir)
    : opts_(std::move(opts)),
      config_path_((fs::path{work_dir} / "agentmem.toml").string()),
      log_path_((fs::path{work_dir} / "agentmem.log").string()) {
    if (opts_.http_port == 0)
      opts_.http_port = free_port();
    auto tokens_path = (fs::path{work_dir} / "tokens").string();
    {
      std::ofstream t{tokens_path};
      t << (opts_.tokens_text.empty()
              ? api::token_line(test_token(), "admin", "it") + "\n"
              : opts_.tokens_text);
      if (!t)
        throw std::runtime_error("cannot write " + tokens_path);
    }
    fs::permissions(tokens_path,
                    fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream f{config_path_};
    f << "[kafka]\n"
      << "brokers = " << toml_str(opts_.brokers) << "\n"
      << "topic = " << toml_str(opts_.topic) << "\n"
      << "dlq_topic = " << toml_str(opts_.dlq_topic) << "\n"
      << "group_id = " << toml_str(opts_.group_id) << "\n"
      << "[kafka.properties]\n";
    for (auto& [k, v] : opts_.kafka_properties)
      f << toml_str(k) << " = " << toml_str(v) << "\n";
    f << "[postgres]\n"
      << "url = " << toml_str(opts_.postgres_url) << "\n"
      << "[storage]\n"
      << "data_dir = " << toml_str(opts_.data_dir) << "\n"
      << "[http]\n"
      << "host = \"127.0.0.1\"\n"
      << "port = " << opts_.http_port << "\n"
      << "[auth]\n"
      << "tokens_file = " << toml_str(tokens_path) << "\n"
      << "[pipeline]\n"
      << "snapshot_interval_ms = " << opts_.snapshot_interval_ms << "\n"
      << "shutdown_timeout_ms = " << opts_.shutdown_timeout_ms << "\n";
    if (opts_.max_batch_records > 0)
      f << "max_batch_records = " << opts_.max_batch_records << "\n";
    if (opts_.max_batch_wait_ms > 0)
      f << "max_batch_wait_ms = " << opts_.max_batch_wait_ms << "\n";
    if (opts_.max_in_flight > 0)
      f << "max_in_flight = " << opts_.max_in_flight << "\n";
    f << opts_.extra_toml;
    if (!f)
      throw std::runtime_error("cannot write " + config_path_);
  }

  ~agentmem_node() {
    bool failed = current_test_failed();
    if (proc_)
      proc_->kill_and_reap();
    if (failed)
      std::cerr << "[integration] tail of " << log_path_ << ":\n"
                << file_tail(log_path_, 60) << std::endl;
  }

  agentmem_node(const agentmem_node&) = delete;
  agentmem_node& operator=(const agentmem_node&) = delete;

  /// Spawns agentmem and waits (at most `timeout`) until GET /readyz says
  /// 200. Returns "" or why it did not become ready (with the log tail).
  std::string start(std::chrono::milliseconds timeout = 60s) {
    if (running())
      return "agentmem_node::start: the previous process still runs";
    ++starts_;
    {
      std::ofstream f{log_path_, std::ios::app};
      f << "=== integration test: start #" << starts_ << " ===" << std::endl;
    }
    proc_ = std::make_unique<child_process>(
      std::vector<std::string>{agentmem_binary(), "run", "--config",
                               config_path_},
      log_path_);
    http_client http{opts_.http_port, 2s};
    std::string last;
    auto err = wait_until(
      "agentmem (start #" + std::to_string(starts_) + ", pid "
        + std::to_string(proc_->pid()) + ") to answer GET /readyz with 200",
      timeout,
      [&] {
        auto r = http.get("/readyz");
        last = r.status < 0 ? r.error
                            : std::to_string(r.status) + " " + r.body;
        return r.status == 200;
      },
      [&] { return "last answer: " + last; },
      [&] {
        return proc_->running() ? std::string{}
                                : "agentmem exited (" + proc_->describe_status()
                                    + ")";
      },
      100ms);
    if (!err.empty())
      return err + "\n--- agentmem log tail ---\n" + file_tail(log_path_, 40);
    return {};
  }

  /// SIGKILL and reap (no chance to flush anything).
  void kill9() {
    if (proc_)
      proc_->kill_and_reap();
  }

  /// SIGTERM, then wait up to `timeout` for a clean exit; returns the exit
  /// description ("exit code 0" is clean). SIGKILLs after the timeout.
  std::string terminate(std::chrono::milliseconds timeout = 45s) {
    if (!proc_)
      return "not started";
    proc_->signal(SIGTERM);
    if (!proc_->wait_exit(timeout)) {
      proc_->kill_and_reap();
      return "did not exit within "
             + std::to_string(
                 std::chrono::duration_cast<std::chrono::seconds>(timeout)
                   .count())
             + " s after SIGTERM (SIGKILLed)";
    }
    return proc_->describe_status();
  }

  /// True while the child runs.
  bool running() {
    return proc_ && proc_->running();
  }

  /// "" while running, else how it ended (for wait_until's abort_reason).
  std::string death() {
    if (running())
      return {};
    return "agentmem is not running ("
           + (proc_ ? proc_->describe_status() : std::string{"never started"})
           + ")\n--- agentmem log tail ---\n" + file_tail(log_path_, 40);
  }

  uint16_t port() const {
    return opts_.http_port;
  }

  /// PID of the current (or last) process, -1 before the first start.
  pid_t pid() const {
    return proc_ ? proc_->pid() : -1;
  }

  /// Waits up to `timeout` for the process to exit by itself; its exit
  /// description ("exit code 0", "killed by signal 9") or "running".
  std::string wait_exit(std::chrono::milliseconds timeout) {
    if (!proc_)
      return "not started";
    proc_->wait_exit(timeout);
    return proc_->describe_status();
  }

  const node_options& options() const {
    return opts_;
  }

  const std::string& log_path() const {
    return log_path_;
  }

  /// GET /metrics body ("" on failure).
  std::string metrics() {
    http_client http{opts_.http_port, 5s};
    auto r = http.get("/metrics");
    return r.status == 200 ? r.body : std::string{};
  }

  /// One metric from GET /metrics (sum over label sets).
  std::optional<double> metric(const std::string& name,
                               const std::string& label_part = {}) {
    return metric_value(metrics(), name, label_part);
  }

private:
  node_options opts_;
  std::string config_path_;
  std::string log_path_;
  std::unique_ptr<child_process> proc_;
  int starts_ = 0;
};

/// Publishes `events` (key, value) to `topic` at `brokers` and flushes
/// (at most 30 s); any failure fails the test case (REQUIRE).
inline void
publish_events(const std::string& brokers, const std::string& topic,
               const std::vector<std::pair<std::string, std::string>>& events) {
  auto prod = kafka::producer::create(brokers);
  BOOST_REQUIRE_MESSAGE(prod, error_of(prod));
  for (auto& [k, v] : events)
    BOOST_REQUIRE(!(*prod)->produce(topic, k, v));
  BOOST_REQUIRE(!(*prod)->flush(std::chrono::seconds(30)));
}

/// Waits (at most `timeout`) until the offsets stored for `group`/`topic`
/// sum to `total`, i.e. every published record was committed; stops early
/// when `node` dies. Returns "" or why not (wait_until's message).
inline std::string
wait_stored_offsets(pg_probe& pg, agentmem_node& node,
                    const std::string& group, const std::string& topic,
                    int64_t total, std::chrono::milliseconds timeout = 60s) {
  return wait_until(
    "stored offsets of " + topic + " to sum to " + fmt_count(total), timeout,
    [&] { return pg.stored_offsets(group, topic) == total; },
    [&] { return fmt_count(pg.stored_offsets(group, topic).value_or(-1)); },
    [&] { return node.death(); });
}

} // namespace agentmem::it
