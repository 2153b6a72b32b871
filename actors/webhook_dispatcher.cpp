#include "actors/webhook_dispatcher.hpp"

#include <algorithm>
#include <map>

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("whtick")>;

// "https://host:port/path?q" -> ("https://host:port", "/path?q").
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto path_at = url.find('/', scheme_end == std::string::npos
                                 ? 0
                                 : scheme_end + 3);
  if (path_at == std::string::npos)
    return {url, "/"};
  return {url.substr(0, path_at), url.substr(path_at)};
}

// What one POST came to: "" for a 2xx answer, else why not.
std::string post(const webhook_endpoint& ep,
                 const webhook_dispatcher_config& cfg,
                 const storage::webhook_delivery& d) {
  auto [base, path] = split_url(ep.url);
  httplib::Client cli{base};
  auto secs = [](std::chrono::milliseconds ms) {
    return std::make_pair(static_cast<time_t>(ms.count() / 1000),
                          static_cast<time_t>((ms.count() % 1000) * 1000));
  };
  auto [ts, tus] = secs(cfg.timeout);
  cli.set_connection_timeout(ts, tus);
  cli.set_read_timeout(ts, tus);
  cli.set_write_timeout(ts, tus);
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto stamp = std::to_string(now_s);
  httplib::Headers headers{
    {"X-Agentmem-Timestamp", stamp},
    {"X-Agentmem-Signature",
     "sha256=" + webhook_signature(ep.secret, stamp, d.payload)},
    {"X-Agentmem-Delivery", std::to_string(d.id)},
    {"X-Agentmem-Attempt", std::to_string(d.attempts + 1)},
    {"User-Agent", "agentmem-webhooks"}};
  auto res = cli.Post(path, headers, d.payload, "application/json");
  if (!res)
    return "request failed: " + httplib::to_string(res.error());
  if (res->status >= 200 && res->status < 300)
    return {};
  return "HTTP " + std::to_string(res->status);
}

std::vector<storage::webhook_outcome>
deliver(caf::stateful_actor<webhook_dispatcher_state>* self,
        const webhook_dispatcher_config& cfg,
        const std::map<std::string, const webhook_endpoint*>& endpoints,
        const std::vector<storage::webhook_delivery>& ds) {
  using storage::webhook_outcome;
  std::vector<webhook_outcome> out;
  auto deadline = std::chrono::steady_clock::now() + cfg.pass_budget;
  const storage::webhook_delivery* blocked = nullptr; // key waiting to retry
  for (auto& d : ds) {
    if (blocked && blocked->endpoint == d.endpoint && blocked->key == d.key)
      continue;
    if (std::chrono::steady_clock::now() >= deadline)
      break;
    auto ep = endpoints.find(d.endpoint);
    std::string err;
    if (ep == endpoints.end())
      err = "endpoint " + d.endpoint + " is no longer configured";
    else
      err = post(*ep->second, cfg, d);
    if (err.empty()) {
      out.push_back({webhook_outcome::delivered, d.id, 0, {}});
      continue;
    }
    const int failures = d.attempts + 1;
    if (failures >= cfg.max_attempts) {
      out.push_back({webhook_outcome::dead, d.id, 0,
                     err + " (attempt " + std::to_string(failures) + " of "
                       + std::to_string(cfg.max_attempts) + ")"});
      continue;
    }
    auto delay = webhook_backoff(failures, cfg.backoff_initial,
                                 cfg.backoff_max, self->state.rng);
    out.push_back({webhook_outcome::retry, d.id, delay.count(), err});
    blocked = &d;
  }
  return out;
}

caf::expected<storage::webhook_pass>
pass(caf::stateful_actor<webhook_dispatcher_state>* self,
     const webhook_dispatcher_config& cfg,
     const std::map<std::string, const webhook_endpoint*>& endpoints) {
  auto& st = self->state;
  if (!st.queue) {
    auto q = storage::webhook_queue::connect(cfg.postgres_url);
    if (!q)
      return q.error();
    st.queue = std::move(*q);
  }
  auto r = st.queue->dispatch(
    cfg.per_key, cfg.max_records,
    [&](const std::vector<storage::webhook_delivery>& ds) {
      return deliver(self, cfg, endpoints, ds);
    });
  if (!r) {
    st.queue.reset();
    return r.error();
  }
  st.delivered->inc(static_cast<double>(r->delivered));
  st.retries->inc(static_cast<double>(r->retried));
  st.dead->inc(static_cast<double>(r->dead));
  if (r->dead > 0)
    spdlog::warn("[webhooks] {} record(s) dead-lettered to "
                 "memory_webhook_dead_letters",
                 r->dead);
  if (auto pending = st.queue->pending())
    st.pending->set(static_cast<double>(*pending));
  return r;
}

} // namespace

std::string webhook_signature(const std::string& secret,
                              const std::string& timestamp,
                              const std::string& body) {
  std::string msg;
  msg.reserve(timestamp.size() + 1 + body.size());
  msg.append(timestamp).append(1, '.').append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac,
       &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 0xf];
  }
  return out;
}

std::chrono::milliseconds webhook_backoff(int failures,
                                          std::chrono::milliseconds initial,
                                          std::chrono::milliseconds max,
                                          std::mt19937_64& rng) {
  int64_t d = std::max<int64_t>(1, initial.count());
  for (int i = 1; i < failures && d < max.count(); ++i)
    d *= 2;
  d = std::min<int64_t>(d, std::max<int64_t>(1, max.count()));
  std::uniform_int_distribution<int64_t> half{d / 2, d};
  return std::chrono::milliseconds{half(rng)};
}

caf::behavior webhook_dispatcher(
  caf::stateful_actor<webhook_dispatcher_state>* self,
  webhook_dispatcher_config cfg) {
  auto& reg = metrics::global();
  auto& st = self->state;
  st.delivered = &reg.get_counter(
    "agentmem_webhook_deliveries_total",
    "Webhook POSTs of agent.memory.v1 records acknowledged with a 2xx.");
  st.retries = &reg.get_counter(
    "agentmem_webhook_retries_total",
    "Failed webhook POSTs that will be retried after a backoff.");
  st.dead = &reg.get_counter(
    "agentmem_webhook_dead_letters_total",
    "Webhook records moved to memory_webhook_dead_letters after the last "
    "attempt.");
  st.errors = &reg.get_counter(
    "agentmem_webhook_dispatch_errors_total",
    "Failed dispatch passes (Postgres errors; retried).");
  st.pending = &reg.get_gauge("agentmem_webhook_queue_pending",
                              "Webhook deliveries waiting in the queue.");
  // Endpoints by name, pointing into the shared, immutable config.
  auto c = std::make_shared<const webhook_dispatcher_config>(std::move(cfg));
  auto endpoints =
    std::make_shared<std::map<std::string, const webhook_endpoint*>>();
  for (auto& ep : c->endpoints)
    endpoints->emplace(ep.name, &ep);
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      auto r = pass(self, *c, *endpoints);
      if (!r) {
        self->state.errors->inc();
        spdlog::warn("[webhooks] dispatch failed, retrying: {}",
                     describe(r.error()));
      }
      if (r && r->attempted == c->max_records)
        self->send(self, tick_atom::value);
      else
        self->delayed_send(self, c->interval, tick_atom::value);
    },
  };
}

} // namespace agentmem::actors
