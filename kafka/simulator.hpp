#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::kafka {

/// Settings of the synthetic activity generator.
struct simulator_config {
  /// Bootstrap servers for `run_simulator` ("host:port[,...]").
  std::string brokers;
  /// Topic to publish to (contract v1 topic by default).
  std::string topic = "agent.activity.v1";
  /// Number of simulated users (>= 1); user ids "user-0001" ...
  int users = 20;
  /// Events per second (> 0); also spaces the event timestamps.
  double rate = 200;
  /// Seconds `run_simulator` runs (rate × duration events); >= 0.
  double duration_s = 10;
  /// Seed of every random choice: same seed, same events.
  uint64_t seed = 42;
  /// Passthrough librdkafka producer properties (SASL/TLS, ...).
  std::map<std::string, std::string> properties;
  /// `ts` of the first event in ms since the Unix epoch (UTC); 0 = the
  /// time the generator is created. Event i has ts = start + i × 1000/rate.
  int64_t start_time_ms = 0;
};

/// Deterministic source of synthetic contract-v1 events: users running
/// sessions with agents (session_start, alternating user/assistant
/// `message` turns about travel, cooking, code reviews, budgets, fitness and
/// language learning, `tool_call`, `task` and `file_upload` events, then
/// session_end). Each event is one JSON object satisfying event contract v1;
/// event ids are UUID-like, unique per (seed, counter). Everything except
/// `ts` (see simulator_config::start_time_ms) depends only on the seed,
/// `users` and the event's index.
class activity_generator {
public:
  /// Prepares `cfg.users` users (at least 1) from `cfg.seed`.
  explicit activity_generator(const simulator_config& cfg);

  /// Frees the generator state.
  ~activity_generator();

  activity_generator(const activity_generator&) = delete;
  activity_generator& operator=(const activity_generator&) = delete;

  /// The next event as (key = user_id, value = compact JSON text).
  std::pair<std::string, std::string> next();

  /// Events produced by `next()` so far.
  uint64_t generated() const;

  /// Generator state; defined in simulator.cpp.
  struct state;

private:
  std::unique_ptr<state> state_;
};

/// The first `n` events of `activity_generator(cfg)` as (key, json) pairs;
/// deterministic for a given seed (and start_time_ms, for `ts`). The last
/// ts is start + n × 1000/rate ms: keep n / rate under 24 h (e.g. raise
/// `rate` for large n), or the decoder rejects the later events as too far
/// in the future (timestamp_out_of_range).
std::vector<std::pair<std::string, std::string>>
generate_events(const simulator_config& cfg, size_t n);

/// Publishes round(rate × duration_s) events of `activity_generator(cfg)`
/// (start_time_ms = now unless set) to `cfg.topic`, key = user_id, paced at
/// `cfg.rate` events/s so each event's ts is close to its send time; then
/// flushes (30 s at most). Stops early when `*stop` becomes true.
/// Returns the number of events delivered.
/// Errors: invalid_config (users < 1, rate <= 0, duration_s < 0 or not
/// finite), kafka_error / timeout from the producer.
caf::expected<uint64_t> run_simulator(const simulator_config& cfg,
                                      const std::atomic<bool>* stop = nullptr);

} // namespace agentmem::kafka
