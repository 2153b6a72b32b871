#include "kafka/internal.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

namespace agentmem::kafka::detail {

bool is_secret_property(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const char* s : {"password", "secret", "token", "key.pem",
                        "certificate.pem", "sasl.jaas", "sasl.oauthbearer.config"})
    if (n.find(s) != std::string::npos)
      return true;
  return false;
}

caf::error set_property(rd_kafka_conf_t* conf, const std::string& name,
                        const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr,
                        sizeof(errstr))
      != RD_KAFKA_CONF_OK) {
    std::string detail = "invalid property '" + name + "'";
    if (!is_secret_property(name))
      detail += std::string{": "} + errstr;
    return make_error(errc::kafka_error, std::move(detail));
  }
  return caf::none;
}

namespace {

void log_cb(const rd_kafka_t* rk, int level, const char* fac,
            const char* buf) {
  // syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug.
  const char* name = rk ? rd_kafka_name(rk) : "rdkafka";
  if (level <= 3)
    spdlog::error("[{}] {}: {}", name, fac, buf);
  else if (level == 4)
    spdlog::warn("[{}] {}: {}", name, fac, buf);
  else if (level <= 6)
    spdlog::info("[{}] {}: {}", name, fac, buf);
  else
    spdlog::debug("[{}] {}: {}", name, fac, buf);
}

} // namespace

void install_logger(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, log_cb);
}

caf::expected<conf_ptr>
make_conf(const std::map<std::string, std::string>& defaults,
          const std::map<std::string, std::string>& overrides) {
  conf_ptr conf{rd_kafka_conf_new()};
  install_logger(conf.get());
  for (auto* m : {&defaults, &overrides})
    for (auto& [k, v] : *m)
      if (auto err = set_property(conf.get(), k, v))
        return err;
  return conf;
}

caf::error rd_error(const std::string& what, rd_kafka_resp_err_t err) {
  return make_error(errc::kafka_error, what + ": " + rd_kafka_err2str(err));
}

caf::error fatal_error(rd_kafka_t* rk, const std::string& client) {
  char buf[512];
  if (rk == nullptr
      || rd_kafka_fatal_error(rk, buf, sizeof(buf))
           == RD_KAFKA_RESP_ERR_NO_ERROR)
    return caf::none;
  return make_error(errc::kafka_error, client + ": fatal error: " + buf);
}

} // namespace agentmem::kafka::detail
