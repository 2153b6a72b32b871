#include "kafka/producer.hpp"

#include <atomic>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "kafka/internal.hpp"

namespace agentmem::kafka {

struct producer::impl {
  rd_kafka_t* rk = nullptr;
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> produced{0};
  std::mutex mtx;                // guards the two fields below
  uint64_t failed_since_flush = 0;
  std::string first_failure;     // reason of the first failure since flush

  static void dr_msg_cb(rd_kafka_t*, const rd_kafka_message_t* m,
                        void* opaque) {
    auto* self = static_cast<impl*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->delivered.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    self->failed.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> guard{self->mtx};
    if (self->failed_since_flush++ == 0) {
      self->first_failure = rd_kafka_err2str(m->err);
      if (m->rkt != nullptr)
        self->first_failure += std::string{" (topic "}
                               + rd_kafka_topic_name(m->rkt) + ")";
      spdlog::warn("kafka producer: delivery failed: {}", self->first_failure);
    }
  }

};

producer::producer(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

producer::~producer() {
  if (impl_->rk == nullptr)
    return;
  if (rd_kafka_flush(impl_->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    spdlog::warn("kafka producer: destroyed with {} undelivered record(s)",
                 rd_kafka_outq_len(impl_->rk));
  rd_kafka_destroy(impl_->rk);
}

caf::expected<std::unique_ptr<producer>>
producer::create(const std::string& brokers,
                 const std::map<std::string, std::string>& properties) {
  std::map<std::string, std::string> defaults{
    {"bootstrap.servers", brokers},
    {"enable.idempotence", "true"},
    {"linger.ms", "5"},
    {"client.id", "agentmem-producer"},
  };
  auto conf = detail::make_conf(defaults, properties);
  if (!conf)
    return std::move(conf.error());
  auto state = std::make_unique<impl>();
  rd_kafka_conf_set_opaque(conf->get(), state.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &impl::dr_msg_cb);
  char errstr[512];
  rd_kafka_t* rk =
    rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof(errstr));
  if (rk == nullptr)
    return make_error(errc::kafka_error,
                      std::string{"producer: cannot create: "} + errstr);
  conf->release(); // owned by rk now
  state->rk = rk;
  return std::unique_ptr<producer>{new producer(std::move(state))};
}

caf::error producer::produce(
  const std::string& topic, const std::string& key, const std::string& value,
  const std::vector<std::pair<std::string, std::string>>& headers,
  int32_t partition) {
  auto* rk = impl_->rk;
  rd_kafka_headers_t* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = rd_kafka_headers_new(headers.size());
    for (auto& [name, val] : headers)
      rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()),
                          val.data(), static_cast<ssize_t>(val.size()));
  }
  const void* key_ptr = key.empty() ? nullptr : key.data();
  using clock = std::chrono::steady_clock;
  const auto give_up = clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto err = rd_kafka_producev(
      rk, RD_KAFKA_V_TOPIC(topic.c_str()),
      RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
      RD_KAFKA_V_KEY(const_cast<void*>(key_ptr), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
      RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      // The headers now belong to the message. Serve delivery reports now
      // and then (each poll takes a lock; per record it halves throughput).
      if ((impl_->produced.fetch_add(1, std::memory_order_relaxed) & 255) == 0)
        rd_kafka_poll(rk, 0);
      return caf::none;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && clock::now() < give_up) {
      // Make room: deliveries complete while we serve their reports.
      rd_kafka_poll(rk, 100);
      continue;
    }
    if (hdrs != nullptr)
      rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return make_error(errc::timeout,
                        "producer: local queue full for 60 s (topic " + topic
                          + ")");
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      if (auto fatal = detail::fatal_error(impl_->rk, "producer"))
        return fatal;
    }
    return detail::rd_error("producer: cannot produce to " + topic, err);
  }
}

caf::error producer::flush(std::chrono::milliseconds timeout) {
  auto err = rd_kafka_flush(impl_->rk, static_cast<int>(timeout.count()));
  uint64_t failures = 0;
  std::string first;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    failures = impl_->failed_since_flush;
    first = std::move(impl_->first_failure);
    impl_->failed_since_flush = 0;
    impl_->first_failure.clear();
  }
  std::string failed_detail;
  if (failures > 0)
    failed_detail = std::to_string(failures)
                    + " delivery(ies) failed since the last flush; first: "
                    + first;
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    std::string detail = "producer: flush timed out with "
                         + std::to_string(rd_kafka_outq_len(impl_->rk))
                         + " record(s) in flight";
    if (!failed_detail.empty())
      detail += "; " + failed_detail;
    return make_error(errc::timeout, std::move(detail));
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return detail::rd_error("producer: flush failed", err);
  if (failures > 0) {
    if (auto fatal = detail::fatal_error(impl_->rk, "producer"))
      return fatal;
    return make_error(errc::kafka_error, "producer: " + failed_detail);
  }
  return caf::none;
}

size_t producer::in_flight() const {
  return static_cast<size_t>(rd_kafka_outq_len(impl_->rk));
}

uint64_t producer::delivered_total() const {
  return impl_->delivered.load(std::memory_order_relaxed);
}

uint64_t producer::failed_total() const {
  return impl_->failed.load(std::memory_order_relaxed);
}

} // namespace agentmem::kafka
