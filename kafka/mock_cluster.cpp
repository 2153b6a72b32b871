#include "kafka/mock_cluster.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "kafka/internal.hpp"

// After rdkafka.h (pulled in by internal.hpp), as the header demands.
#include <librdkafka/rdkafka_mock.h>

namespace agentmem::kafka {

struct mock_cluster::impl {
  rd_kafka_t* rk = nullptr; // owner of the cluster (book keeping only)
  rd_kafka_mock_cluster_t* cluster = nullptr;
  int brokers = 0;

  ~impl() {
    if (cluster != nullptr)
      rd_kafka_mock_cluster_destroy(cluster);
    if (rk != nullptr)
      rd_kafka_destroy(rk);
  }
};

mock_cluster::mock_cluster(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

mock_cluster::~mock_cluster() = default;

caf::expected<std::unique_ptr<mock_cluster>>
mock_cluster::start(int brokers, const std::vector<topic_spec>& topics) {
  if (brokers < 1)
    return make_error(errc::kafka_error,
                      "mock cluster: needs at least one broker");
  // log_level 4: this handle never connects, so its notice that no
  // bootstrap.servers is configured is noise.
  auto conf = detail::make_conf(
    {{"client.id", "agentmem-mock-owner"}, {"log_level", "4"}}, {});
  if (!conf)
    return std::move(conf.error());
  char errstr[512];
  auto state = std::make_unique<impl>();
  // A producer handle that never produces: the mock cluster needs one for
  // its internal book keeping and lives as long as it.
  state->rk =
    rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof(errstr));
  if (state->rk == nullptr)
    return make_error(errc::kafka_error,
                      std::string{"mock cluster: cannot create handle: "}
                        + errstr);
  conf->release();
  state->cluster = rd_kafka_mock_cluster_new(state->rk, brokers);
  if (state->cluster == nullptr)
    return make_error(errc::kafka_error,
                      "mock cluster: cannot start "
                        + std::to_string(brokers) + " broker(s)");
  state->brokers = brokers;
  spdlog::info("kafka mock cluster: {} broker(s) at {}; it keeps only the "
               "newest ~5 MiB per partition and drops older records "
               "silently (use a real broker for large backlogs)",
               brokers, rd_kafka_mock_cluster_bootstraps(state->cluster));
  std::unique_ptr<mock_cluster> result{new mock_cluster(std::move(state))};
  for (auto& t : topics)
    if (auto err = result->create_topic(t))
      return err;
  return result;
}

std::map<std::string, std::string> mock_cluster::consumer_properties() {
  return {{"fetch.wait.max.ms", "10"}};
}

std::string mock_cluster::bootstrap() const {
  return rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

caf::error mock_cluster::create_topic(const topic_spec& topic) {
  if (topic.name.empty() || topic.partitions < 1)
    return make_error(errc::kafka_error,
                      "mock cluster: invalid topic '" + topic.name + "' with "
                        + std::to_string(topic.partitions) + " partition(s)");
  int rf = topic.replication_factor > 0
             ? std::min(topic.replication_factor, impl_->brokers)
             : std::min(3, impl_->brokers);
  if (auto err = rd_kafka_mock_topic_create(impl_->cluster, topic.name.c_str(),
                                            topic.partitions, rf))
    return detail::rd_error("mock cluster: cannot create topic " + topic.name,
                            err);
  return caf::none;
}

int mock_cluster::brokers() const {
  return impl_->brokers;
}

void mock_cluster::set_round_trip_time(std::chrono::milliseconds rtt) {
  // Mock broker ids are 1..brokers.
  for (int32_t id = 1; id <= impl_->brokers; ++id)
    rd_kafka_mock_broker_set_rtt(impl_->cluster, id,
                                 static_cast<int>(rtt.count()));
}

void mock_cluster::fail_requests(int api_key, int error_code, int count) {
  if (count <= 0)
    return;
  std::vector<rd_kafka_resp_err_t> errors(
    static_cast<size_t>(count), static_cast<rd_kafka_resp_err_t>(error_code));
  rd_kafka_mock_push_request_errors_array(impl_->cluster,
                                          static_cast<int16_t>(api_key),
                                          errors.size(), errors.data());
}

} // namespace agentmem::kafka
