#include "domain/http_pool.hpp"

#include <httplib.h>

#include "messages/errc.hpp"

namespace agentmem::domain {

caf::expected<http_endpoint> parse_endpoint(const std::string& url,
                                            const std::string& what) {
  auto bad = [&](std::string why) {
    return make_error(errc::invalid_config, what + ": " + std::move(why));
  };
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos
      || (url.compare(0, scheme_end, "http") != 0
          && url.compare(0, scheme_end, "https") != 0))
    return bad("base_url must start with http:// or https://, got '" + url
               + "'");
  auto path_start = url.find('/', scheme_end + 3);
  http_endpoint out;
  out.origin = url.substr(0, path_start);
  out.prefix = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!out.prefix.empty() && out.prefix.back() == '/')
    out.prefix.pop_back();
  if (out.origin.size() <= scheme_end + 3)
    return bad("base_url has no host: '" + url + "'");
  httplib::Client probe{out.origin};
  if (!probe.is_valid())
    return bad("base_url '" + url + "' is not usable (https needs OpenSSL)");
  return out;
}

std::string scrub_secret(std::string s, const std::string& secret) {
  if (!secret.empty())
    for (size_t p; (p = s.find(secret)) != std::string::npos;)
      s.replace(p, secret.size(), "[redacted]");
  if (s.size() > 300)
    s = s.substr(0, 300) + "...";
  return s;
}

http_pool::http_pool(std::string origin,
                     std::chrono::milliseconds connect_timeout,
                     std::chrono::milliseconds request_timeout,
                     std::string api_key)
  : origin_(std::move(origin)),
    connect_timeout_(connect_timeout),
    request_timeout_(request_timeout),
    api_key_(std::move(api_key)) {
}

http_pool::~http_pool() = default;

std::unique_ptr<httplib::Client> http_pool::take() {
  {
    std::lock_guard<std::mutex> g{mtx_};
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>(origin_);
  auto split = [](std::chrono::milliseconds d) {
    return std::make_pair(static_cast<time_t>(d.count() / 1000),
                          static_cast<time_t>((d.count() % 1000) * 1000));
  };
  auto [cs, cus] = split(connect_timeout_);
  auto [rs, rus] = split(request_timeout_);
  c->set_connection_timeout(cs, cus);
  c->set_read_timeout(rs, rus);
  c->set_write_timeout(rs, rus);
  c->set_keep_alive(true);
  if (!api_key_.empty())
    c->set_bearer_token_auth(api_key_.c_str());
  return c;
}

void http_pool::give_back(std::unique_ptr<httplib::Client> c) {
  std::lock_guard<std::mutex> g{mtx_};
  idle_.push_back(std::move(c));
}

} // namespace agentmem::domain
