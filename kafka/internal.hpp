#pragma once

// Private to kafka/: helpers over the librdkafka C API. Never include this
// from a public header (it pulls in rdkafka.h).

#include <map>
#include <memory>
#include <string>

#include <librdkafka/rdkafka.h>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/errc.hpp"

namespace agentmem::kafka::detail {

/// Deleter for rd_kafka_conf_t owned by a unique_ptr.
struct conf_deleter {
  void operator()(rd_kafka_conf_t* c) const noexcept {
    if (c)
      rd_kafka_conf_destroy(c);
  }
};

/// Owning handle of a configuration object.
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;

/// Deleter for rd_kafka_topic_partition_list_t.
struct tpl_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    if (l)
      rd_kafka_topic_partition_list_destroy(l);
  }
};

/// Owning handle of a partition list.
using tpl_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, tpl_deleter>;

/// Names whose values must never appear in logs or error messages.
bool is_secret_property(const std::string& name);

/// Sets one property; the error names the property but never echoes the
/// value of a secret one.
caf::error set_property(rd_kafka_conf_t* conf, const std::string& name,
                        const std::string& value);

/// Applies `defaults`, then `overrides` (later wins) to a new conf.
caf::expected<conf_ptr>
make_conf(const std::map<std::string, std::string>& defaults,
          const std::map<std::string, std::string>& overrides);

/// A kafka_error with "<what>: <librdkafka error string>".
caf::error rd_error(const std::string& what, rd_kafka_resp_err_t err);

/// The fatal error librdkafka raised on `rk` (rd_kafka_fatal_error), after
/// which the client is unusable: kafka_error "<client>: fatal error:
/// <reason>"; none while there is none.
caf::error fatal_error(rd_kafka_t* rk, const std::string& client);

/// Routes librdkafka's log lines to spdlog (set on every conf we create).
void install_logger(rd_kafka_conf_t* conf);

} // namespace agentmem::kafka::detail
