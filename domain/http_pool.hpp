#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace httplib {
class Client;
}

namespace agentmem::domain {

/// A provider's API root split for cpp-httplib: `origin`
/// ("scheme://host[:port]") and `prefix` (the path, without trailing '/').
struct http_endpoint {
  std::string origin;
  std::string prefix;
};

/// Splits `url` ("http(s)://host[:port][/path]"). errc::invalid_config
/// (the detail starts with `what`) when the scheme is not http/https, the
/// host is missing, or https is asked without OpenSSL.
caf::expected<http_endpoint> parse_endpoint(const std::string& url,
                                            const std::string& what);

/// `s` with every occurrence of `secret` replaced by "[redacted]", cut to
/// 300 bytes: provider replies may echo the API key.
std::string scrub_secret(std::string s, const std::string& secret);

/// Keep-alive cpp-httplib clients of one origin, reused across requests
/// (take, then give back; a client whose connection broke is dropped
/// instead). Clients get the connect and read/write timeouts and, when
/// `api_key` is not empty, `Authorization: Bearer`. Thread-safe.
class http_pool {
public:
  http_pool(std::string origin, std::chrono::milliseconds connect_timeout,
            std::chrono::milliseconds request_timeout, std::string api_key);
  ~http_pool();
  std::unique_ptr<httplib::Client> take();
  void give_back(std::unique_ptr<httplib::Client> c);
  const std::string& origin() const {
    return origin_;
  }

private:
  std::string origin_;
  std::chrono::milliseconds connect_timeout_, request_timeout_;
  std::string api_key_;
  std::mutex mtx_;
  std::vector<std::unique_ptr<httplib::Client>> idle_;
};

} // namespace agentmem::domain
