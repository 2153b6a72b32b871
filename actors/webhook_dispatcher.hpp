#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "metrics/registry.hpp"
#include "storage/webhook_queue.hpp"

namespace agentmem::actors {

/// One tenant's webhook (config [[webhooks.endpoints]]).
struct webhook_endpoint {
  std::string name;           ///< unique; the queue's endpoint column
  std::string user_id_prefix; ///< the tenant: records of users with it
  std::string url;            ///< http:// or https://host[:port]/path
  std::string secret;         ///< HMAC key: never logged
};

/// Configuration of the webhook dispatcher (config section [webhooks]).
struct webhook_dispatcher_config {
  std::string postgres_url; ///< secret: never logged
  std::vector<webhook_endpoint> endpoints;
  int max_attempts = 8; ///< then the record is dead-lettered
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{300000};
  std::chrono::milliseconds timeout{5000};    ///< connect and read, per POST
  std::chrono::milliseconds interval{1000};   ///< poll period when idle
  std::chrono::milliseconds pass_budget{10000}; ///< no new POST after it (bounds shutdown)
  size_t per_key = 20;      ///< records of one user per pass
  size_t max_records = 500; ///< records per pass
};

/// Lower-case hex HMAC-SHA256 (RFC 2104, FIPS 180-4) of
/// `timestamp + "." + body` under `secret`: the value of the
/// X-Agentmem-Signature header after "sha256=" (docs/operations.md,
/// "Webhooks").
std::string webhook_signature(const std::string& secret,
                              const std::string& timestamp,
                              const std::string& body);

/// Delay before the next attempt after `failures` (>= 1) failed ones:
/// d = min(max, initial * 2^(failures - 1)), then uniformly in [d/2, d]
/// ("equal jitter", AWS Architecture Blog, "Exponential Backoff and
/// Jitter", 2015), so endpoints that failed together do not retry together.
std::chrono::milliseconds webhook_backoff(int failures,
                                          std::chrono::milliseconds initial,
                                          std::chrono::milliseconds max,
                                          std::mt19937_64& rng);

/// State of the webhook dispatcher.
struct webhook_dispatcher_state {
  static inline const char* name = "webhook_dispatcher";
  std::unique_ptr<storage::webhook_queue> queue;
  std::mt19937_64 rng{std::random_device{}()};
  metrics::counter* delivered = nullptr;
  metrics::counter* retries = nullptr;
  metrics::counter* dead = nullptr;
  metrics::counter* errors = nullptr;
  metrics::gauge* pending = nullptr;
};

/// Webhook dispatcher (spawn detached: it blocks on Postgres and HTTP):
/// POSTs the records of memory_webhook_queue (storage::webhook_queue) to
/// their endpoints, one record per request, signed (webhook_signature with
/// the X-Agentmem-Timestamp header's value). A 2xx answer acknowledges the
/// record; anything else (status, timeout, connection error) is retried
/// after webhook_backoff(), and the user's later records wait behind it
/// (in order per user); after max_attempts the record moves to
/// memory_webhook_dead_letters with the last error and the next one goes.
/// At least once: a crash between the POST and the commit sends it again
/// (X-Agentmem-Delivery is the same). Counted in
/// agentmem_webhook_{deliveries,retries,dead_letters}_total.
caf::behavior webhook_dispatcher(
  caf::stateful_actor<webhook_dispatcher_state>* self,
  webhook_dispatcher_config cfg);

} // namespace agentmem::actors
