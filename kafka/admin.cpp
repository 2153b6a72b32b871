#include "kafka/admin.hpp"

#include <memory>

#include <spdlog/spdlog.h>

#include "kafka/internal.hpp"

namespace agentmem::kafka {

namespace {

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const noexcept {
    rd_kafka_destroy(rk);
  }
};

struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const noexcept {
    rd_kafka_queue_destroy(q);
  }
};

struct event_deleter {
  void operator()(rd_kafka_event_t* ev) const noexcept {
    rd_kafka_event_destroy(ev);
  }
};

struct options_deleter {
  void operator()(rd_kafka_AdminOptions_t* o) const noexcept {
    rd_kafka_AdminOptions_destroy(o);
  }
};

// Owns the NewTopic objects handed to rd_kafka_CreateTopics.
struct new_topics {
  std::vector<rd_kafka_NewTopic_t*> items;
  ~new_topics() {
    rd_kafka_NewTopic_destroy_array(items.data(), items.size());
  }
};

} // namespace

caf::error create_topics(const std::string& brokers,
                         const std::vector<topic_spec>& topics,
                         const std::map<std::string, std::string>& props,
                         std::chrono::milliseconds timeout) {
  if (topics.empty())
    return caf::none;
  auto conf = detail::make_conf(
    {{"bootstrap.servers", brokers}, {"client.id", "agentmem-admin"}}, props);
  if (!conf)
    return std::move(conf.error());
  char errstr[512];
  std::unique_ptr<rd_kafka_t, rk_deleter> rk{
    rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof(errstr))};
  if (rk == nullptr)
    return make_error(errc::kafka_error,
                      std::string{"admin: cannot create client: "} + errstr);
  conf->release();

  new_topics nts;
  for (auto& t : topics) {
    auto* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions,
                                     t.replication_factor, errstr,
                                     sizeof(errstr));
    if (nt == nullptr)
      return make_error(errc::kafka_error, "admin: invalid topic " + t.name
                                             + ": " + errstr);
    nts.items.push_back(nt);
    for (auto& [k, v] : t.configs)
      if (auto err = rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()))
        return detail::rd_error("admin: topic " + t.name + " config " + k,
                                err);
  }

  std::unique_ptr<rd_kafka_AdminOptions_t, options_deleter> options{
    rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS)};
  const int ms = static_cast<int>(timeout.count());
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, errstr,
                                                sizeof(errstr))
        != RD_KAFKA_RESP_ERR_NO_ERROR
      || rd_kafka_AdminOptions_set_operation_timeout(options.get(), ms, errstr,
                                                     sizeof(errstr))
           != RD_KAFKA_RESP_ERR_NO_ERROR)
    return make_error(errc::kafka_error,
                      std::string{"admin: bad timeout: "} + errstr);

  std::unique_ptr<rd_kafka_queue_t, queue_deleter> queue{
    rd_kafka_queue_new(rk.get())};
  rd_kafka_CreateTopics(rk.get(), nts.items.data(), nts.items.size(),
                        options.get(), queue.get());
  // The request timeout makes librdkafka answer by itself; the margin only
  // guards against a lost result.
  std::unique_ptr<rd_kafka_event_t, event_deleter> ev{
    rd_kafka_queue_poll(queue.get(), ms + 2000)};
  if (ev == nullptr)
    return make_error(errc::timeout, "admin: CreateTopics got no answer in "
                                       + std::to_string(ms) + " ms");
  if (auto err = rd_kafka_event_error(ev.get())) {
    std::string detail = std::string{"admin: CreateTopics failed: "}
                         + rd_kafka_event_error_string(ev.get());
    return make_error(err == RD_KAFKA_RESP_ERR__TIMED_OUT ? errc::timeout
                                                          : errc::kafka_error,
                      std::move(detail));
  }
  const auto* res = rd_kafka_event_CreateTopics_result(ev.get());
  if (res == nullptr)
    return make_error(errc::kafka_error, "admin: unexpected result event");
  size_t n = 0;
  const auto** results = rd_kafka_CreateTopics_result_topics(res, &n);
  std::string failures;
  bool timed_out = false;
  for (size_t i = 0; i < n; ++i) {
    auto err = rd_kafka_topic_result_error(results[i]);
    const char* name = rd_kafka_topic_result_name(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::info("kafka admin: created topic {}", name);
      continue;
    }
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      continue;
    timed_out = timed_out || err == RD_KAFKA_RESP_ERR__TIMED_OUT
                || err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT;
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    if (!failures.empty())
      failures += "; ";
    failures += std::string{name} + ": " + (msg ? msg : rd_kafka_err2str(err));
  }
  if (!failures.empty())
    return make_error(timed_out ? errc::timeout : errc::kafka_error,
                      "admin: CreateTopics failed for " + failures);
  return caf::none;
}

} // namespace agentmem::kafka
