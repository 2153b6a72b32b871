#include "pipeline/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <set>

#include <toml++/toml.h>

#include "messages/errc.hpp"

namespace agentmem::pipeline {

caf::expected<std::string> resolve_env(const std::string& value,
                                       const std::string& key) {
  if (value.rfind("env:", 0) != 0)
    return value;
  auto name = value.substr(4);
  const char* v = std::getenv(name.c_str());
  if (!v)
    return make_error(errc::invalid_config,
                      key + " refers to environment variable " + name
                        + ", which is not set");
  return std::string{v};
}

caf::expected<std::pair<std::string, std::string>>
parse_property_arg(const std::string& kv, const std::string& option) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    return make_error(errc::invalid_config,
                      "expected KEY=VALUE (the value may be env:NAME)");
  auto key = kv.substr(0, eq);
  auto value = resolve_env(kv.substr(eq + 1), option + " " + key);
  if (!value)
    return std::move(value.error());
  return std::pair{std::move(key), std::move(*value)};
}

namespace {

template <class T>
caf::error read_int(const toml::table& t, const char* sect, const char* key,
                    T& out, int64_t lo, int64_t hi) {
  auto node = t[sect][key];
  if (!node)
    return caf::none;
  auto v = node.value<int64_t>();
  if (!v || *v < lo || *v > hi)
    return make_error(errc::invalid_config,
                      std::string{sect} + "." + key + " must be an integer in "
                        + std::to_string(lo) + ".." + std::to_string(hi));
  out = static_cast<T>(*v);
  return caf::none;
}

// A number (integer or float) in [lo, hi].
caf::error read_num(const toml::table& t, const char* sect, const char* key,
                    double& out, double lo, double hi) {
  auto node = t[sect][key];
  if (!node)
    return caf::none;
  auto v = node.value<double>();
  if (!v || !(*v >= lo && *v <= hi))
    return make_error(errc::invalid_config,
                      std::string{sect} + "." + key + " must be a number in "
                        + std::to_string(lo) + ".." + std::to_string(hi));
  out = *v;
  return caf::none;
}

// true or false.
caf::error read_bool(const toml::table& t, const char* sect, const char* key,
                     bool& out) {
  auto node = t[sect][key];
  if (!node)
    return caf::none;
  // value_exact: toml++'s value<bool>() would take an integer 1 as true.
  auto v = node.value_exact<bool>();
  if (!v)
    return make_error(errc::invalid_config, std::string{sect} + "." + key
                                              + " must be true or false");
  out = *v;
  return caf::none;
}

caf::error read_str(const toml::table& t, const char* sect, const char* key,
                    std::string& out) {
  auto node = t[sect][key];
  if (!node)
    return caf::none;
  auto v = node.value<std::string>();
  if (!v)
    return make_error(errc::invalid_config,
                      std::string{sect} + "." + key + " must be a string");
  auto r = resolve_env(*v, std::string{sect} + "." + key);
  if (!r)
    return r.error();
  out = std::move(*r);
  return caf::none;
}

// A duration in milliseconds in [lo, hi].
caf::error read_ms(const toml::table& t, const char* sect, const char* key,
                   std::chrono::milliseconds& out, int64_t lo, int64_t hi) {
  int64_t ms = out.count();
  if (auto err = read_int(t, sect, key, ms, lo, hi))
    return err;
  out = std::chrono::milliseconds{ms};
  return caf::none;
}

// [webhooks] delivery settings and its [[webhooks.endpoints]].
caf::error read_webhooks(const toml::table& t,
                         actors::webhook_dispatcher_config& w) {
  int64_t per_key = static_cast<int64_t>(w.per_key);
  for (auto e : {read_int(t, "webhooks", "max_attempts", w.max_attempts, 1, 100),
                 read_ms(t, "webhooks", "backoff_initial_ms", w.backoff_initial,
                         1, 3600000),
                 read_ms(t, "webhooks", "backoff_max_ms", w.backoff_max, 1,
                         86400000),
                 read_ms(t, "webhooks", "timeout_ms", w.timeout, 100, 600000),
                 read_ms(t, "webhooks", "interval_ms", w.interval, 10, 600000),
                 read_int(t, "webhooks", "per_user_batch", per_key, 1, 10000)})
    if (e)
      return e;
  w.per_key = static_cast<size_t>(per_key);
  auto node = t["webhooks"]["endpoints"];
  if (!node)
    return caf::none;
  auto arr = node.as_array();
  if (!arr)
    return make_error(errc::invalid_config,
                      "webhooks.endpoints must be an array of tables "
                      "([[webhooks.endpoints]])");
  for (size_t i = 0; i < arr->size(); ++i) {
    auto where = "webhooks.endpoints[" + std::to_string(i) + "]";
    auto tbl = (*arr)[i].as_table();
    if (!tbl)
      return make_error(errc::invalid_config, where + " must be a table");
    actors::webhook_endpoint ep;
    for (auto [key, out] : {std::pair{"name", &ep.name},
                            std::pair{"user_id_prefix", &ep.user_id_prefix},
                            std::pair{"url", &ep.url},
                            std::pair{"secret", &ep.secret}}) {
      auto v = (*tbl)[key].value<std::string>();
      if (!v)
        return make_error(errc::invalid_config, where + "." + key
                                                  + " must be a string");
      auto r = resolve_env(*v, where + "." + key);
      if (!r)
        return r.error();
      *out = std::move(*r);
    }
    w.endpoints.push_back(std::move(ep));
  }
  return caf::none;
}

} // namespace

caf::expected<pipeline_config> load_config(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return make_error(errc::invalid_config,
                      "cannot parse " + path + ": "
                        + std::string{e.description()});
  }
  pipeline_config cfg;
  int64_t wait_ms = cfg.max_batch_wait.count();
  int64_t snap_ms = cfg.snapshot_interval.count();
  int64_t stop_ms = cfg.shutdown_timeout.count();
  int64_t window_s = cfg.restart_window.count();
  caf::error err;
  auto chk = [&](caf::error e) {
    if (e && !err)
      err = std::move(e);
  };
  chk(read_str(t, "kafka", "brokers", cfg.brokers));
  chk(read_str(t, "kafka", "topic", cfg.topic));
  chk(read_str(t, "kafka", "dlq_topic", cfg.dlq_topic));
  chk(read_str(t, "kafka", "group_id", cfg.group_id));
  if (auto props = t["kafka"]["properties"].as_table()) {
    for (auto& [k, v] : *props) {
      std::string key{k.str()};
      auto s = v.value<std::string>();
      if (!s) {
        chk(make_error(errc::invalid_config,
                       "kafka.properties." + key + " must be a string"));
        continue;
      }
      auto r = resolve_env(*s, "kafka.properties." + key);
      if (!r)
        chk(r.error());
      else
        cfg.kafka_properties[key] = *r;
    }
  }
  chk(read_bool(t, "kafka", "create_topics", cfg.create_topics));
  chk(read_int(t, "kafka", "topic_partitions", cfg.topic_partitions, 1, 10000));
  chk(read_str(t, "postgres", "url", cfg.postgres_url));
  chk(read_str(t, "storage", "data_dir", cfg.data_dir));
  chk(read_int(t, "storage", "buffer_messages", cfg.buffer_messages, 1, 10000));
  chk(read_int(t, "storage", "buffer_cache_mb", cfg.buffer_cache_mb, 0, 1 << 20));
  chk(read_str(t, "http", "host", cfg.http_host));
  chk(read_int(t, "http", "port", cfg.http_port, 0, 65535));
  chk(read_str(t, "http", "ops_host", cfg.http_ops_host));
  if (t["http"]["ops_port"]) {
    cfg.http_ops_listener = true;
    chk(read_int(t, "http", "ops_port", cfg.http_ops_port, 0, 65535));
  }
  chk(read_str(t, "auth", "tokens_file", cfg.auth_tokens_file));
  chk(read_bool(t, "auth", "disabled", cfg.auth_disabled));
  for (auto [key, out] : {std::pair{"rate_per_s", &cfg.rate_limit_per_s},
                          std::pair{"burst", &cfg.rate_limit_burst}}) {
    if (auto node = t["limits"][key]) {
      auto v = node.value<double>();
      if (!v || *v < 0 || *v > 1e6)
        chk(make_error(errc::invalid_config, std::string{"limits."} + key
                                               + " must be a number in "
                                                 "0..1000000"));
      else
        *out = *v;
    }
  }
  chk(read_int(t, "limits", "max_body_bytes", cfg.max_body_bytes, 1024,
               int64_t{1} << 30));
  chk(read_int(t, "limits", "max_response_bytes", cfg.max_response_bytes,
               1024, int64_t{1} << 30));
  chk(read_int(t, "pipeline", "max_batch_records", cfg.max_batch_records, 1,
               100000));
  chk(read_int(t, "pipeline", "max_batch_wait_ms", wait_ms, 1, 60000));
  chk(read_int(t, "pipeline", "max_in_flight", cfg.max_in_flight, 1, 64));
  chk(read_int(t, "pipeline", "snapshot_interval_ms", snap_ms, 100,
               3600000));
  chk(read_int(t, "pipeline", "shutdown_timeout_ms", stop_ms, 100, 3600000));
  chk(read_str(t, "embedding", "provider", cfg.embedding_provider));
  chk(read_int(t, "embedding", "dims", cfg.embedding_dims, 1, 8192));
  chk(read_num(t, "search", "rrf_k", cfg.rrf_k, 0, 10000));
  chk(read_num(t, "search", "vector_weight", cfg.vector_weight, 0, 100));
  chk(read_num(t, "search", "keyword_weight", cfg.keyword_weight, 0, 100));
  chk(read_num(t, "search", "neighbor_weight", cfg.neighbor_weight, 0, 10));
  chk(read_int(t, "search", "prf_docs", cfg.prf_docs, 0, 1000));
  chk(read_int(t, "search", "prf_terms", cfg.prf_terms, 0, 1000));
  chk(read_num(t, "search", "prf_weight", cfg.prf_weight, 0, 10));
  chk(read_num(t, "search", "temporal_weight", cfg.temporal_weight, 0, 100));
  chk(read_num(t, "search", "speaker_weight", cfg.speaker_weight, 0, 100));
  {
    auto& r = cfg.rerank_http;
    int64_t connect_ms = r.connect_timeout.count();
    int64_t request_ms = r.request_timeout.count();
    chk(read_str(t, "rerank", "base_url", r.base_url));
    chk(read_str(t, "rerank", "model", r.model));
    chk(read_str(t, "rerank", "api_key", r.api_key));
    chk(read_str(t, "rerank", "api", r.api));
    chk(read_int(t, "rerank", "max_documents", r.max_documents, 1, 1000));
    chk(read_int(t, "rerank", "connect_timeout_ms", connect_ms, 1, 600000));
    chk(read_int(t, "rerank", "request_timeout_ms", request_ms, 1, 600000));
    chk(read_int(t, "rerank", "max_retries", r.max_retries, 0, 100));
    chk(read_int(t, "rerank", "depth", cfg.rerank_depth, 1, 1000));
    chk(read_num(t, "rerank", "weight", cfg.rerank_weight, 0, 100));
    r.connect_timeout = std::chrono::milliseconds{connect_ms};
    r.request_timeout = std::chrono::milliseconds{request_ms};
  }
  chk(read_memory_settings(t, cfg.memory));
  {
    auto& h = cfg.embedding_http;
    int64_t connect_ms = h.connect_timeout.count();
    int64_t request_ms = h.request_timeout.count();
    int64_t base_ms = h.backoff_base.count();
    int64_t max_ms = h.backoff_max.count();
    int64_t cache_mb = static_cast<int64_t>(h.cache_bytes >> 20);
    chk(read_str(t, "embedding", "base_url", h.base_url));
    chk(read_str(t, "embedding", "model", h.model));
    chk(read_str(t, "embedding", "api_key", h.api_key));
    chk(read_str(t, "embedding", "query_prefix", h.query_prefix));
    chk(read_str(t, "embedding", "passage_prefix", h.passage_prefix));
    chk(read_str(t, "embedding", "query_input_type", h.query_input_type));
    chk(read_str(t, "embedding", "passage_input_type", h.passage_input_type));
    chk(read_int(t, "embedding", "max_batch", h.max_batch, 1, 2048));
    chk(read_int(t, "embedding", "max_in_flight", h.max_in_flight, 1, 256));
    chk(read_int(t, "embedding", "connect_timeout_ms", connect_ms, 1, 600000));
    chk(read_int(t, "embedding", "request_timeout_ms", request_ms, 1, 600000));
    chk(read_int(t, "embedding", "max_retries", h.max_retries, 0, 100));
    chk(read_int(t, "embedding", "backoff_base_ms", base_ms, 1, 600000));
    chk(read_int(t, "embedding", "backoff_max_ms", max_ms, 1, 600000));
    chk(read_int(t, "embedding", "cache_entries", h.cache_entries, 0,
                 100000000));
    chk(read_int(t, "embedding", "cache_mb", cache_mb, 0, 1000000));
    h.connect_timeout = std::chrono::milliseconds{connect_ms};
    h.request_timeout = std::chrono::milliseconds{request_ms};
    h.backoff_base = std::chrono::milliseconds{base_ms};
    h.backoff_max = std::chrono::milliseconds{max_ms};
    h.cache_bytes = static_cast<size_t>(cache_mb) << 20;
  }
  chk(read_int(t, "supervisor", "max_restarts", cfg.max_restarts, 0, 1000));
  chk(read_int(t, "supervisor", "window_s", window_s, 1, 86400));
  int64_t retention_s = cfg.retention_interval.count() / 1000;
  chk(read_bool(t, "retention", "enabled", cfg.retention_enabled));
  chk(read_int(t, "retention", "interval_s", retention_s, 1, 86400));
  chk(read_int(t, "retention", "close_idle_sessions_after_minutes",
               cfg.retention_close_idle_minutes, 0, 5256000));
  chk(read_int(t, "retention", "delete_sessions_after_days",
               cfg.retention_session_days, 0, 36500));
  chk(read_int(t, "retention", "delete_memories_after_days",
               cfg.retention_memory_days, 0, 36500));
  chk(read_int(t, "retention", "max_rows_per_pass", cfg.retention_max_rows,
               1, 10000000));
  chk(read_int(t, "retention", "grace_s", cfg.retention_grace_s, 0, 86400));
  if (auto node = t["retention"]["delete_memories_below_importance"]) {
    auto v = node.value<double>();
    if (!v || *v < 0.0 || *v > 1.0)
      chk(make_error(errc::invalid_config,
                     "retention.delete_memories_below_importance must be a "
                     "number in 0..1"));
    else
      cfg.retention_min_importance = *v;
  }
  cfg.retention_interval = std::chrono::seconds{retention_s};
  chk(read_bool(t, "analytics", "enabled", cfg.analytics_enabled));
  chk(read_str(t, "analytics", "topic", cfg.analytics_topic));
  chk(read_int(t, "analytics", "grace_s", cfg.analytics_grace_s, 0, 7 * 86400));
  chk(read_int(t, "analytics", "idle_partition_s",
               cfg.analytics_idle_partition_s, 1, 30 * 86400));
  {
    int64_t publish_ms = cfg.analytics_publish_interval.count();
    chk(read_int(t, "analytics", "publish_interval_ms", publish_ms, 10,
                 600000));
    cfg.analytics_publish_interval = std::chrono::milliseconds{publish_ms};
  }
  chk(read_str(t, "analytics", "skills_file", cfg.skills_file));
  chk(read_str(t, "memory_stream", "topic", cfg.memory_stream_topic));
  chk(read_ms(t, "memory_stream", "publish_interval_ms",
              cfg.memory_stream_publish_interval, 10, 600000));
  chk(read_webhooks(t, cfg.webhooks));
  if (auto prices = t["pricing"].as_table()) {
    for (auto& [model, v] : *prices) {
      auto price = v.value<double>();
      if (!price || !(*price >= 0 && *price <= 1e6))
        chk(make_error(errc::invalid_config,
                       "pricing.\"" + std::string{model.str()}
                         + "\" must be a number in 0..1000000 (USD per 1000 "
                           "tokens)"));
      else
        cfg.pricing[std::string{model.str()}] = *price;
    }
  } else if (t["pricing"]) {
    chk(make_error(errc::invalid_config,
                   "pricing must be a table: model = USD per 1000 tokens"));
  }
  {
    int64_t hb_ms = cfg.heartbeat_interval.count();
    int64_t dead_ms = cfg.node_timeout.count();
    int64_t fwd_ms = cfg.forward_timeout.count();
    chk(read_str(t, "cluster", "node_id", cfg.node_id));
    chk(read_str(t, "cluster", "advertise_address", cfg.advertise_address));
    chk(read_str(t, "cluster", "secret", cfg.cluster_secret));
    chk(read_str(t, "cluster", "assignment", cfg.assignment));
    chk(read_bool(t, "cluster", "static_membership", cfg.static_membership));
    chk(read_bool(t, "cluster", "leave_on_shutdown", cfg.leave_on_shutdown));
    chk(read_int(t, "cluster", "heartbeat_ms", hb_ms, 100, 60000));
    chk(read_int(t, "cluster", "node_timeout_ms", dead_ms, 500, 600000));
    chk(read_int(t, "cluster", "forward_timeout_ms", fwd_ms, 50, 600000));
    cfg.heartbeat_interval = std::chrono::milliseconds{hb_ms};
    cfg.node_timeout = std::chrono::milliseconds{dead_ms};
    cfg.forward_timeout = std::chrono::milliseconds{fwd_ms};
  }
  chk(read_str(t, "testing", "fault_stage", cfg.fault_stage));
  chk(read_int(t, "testing", "fault_at_batch", cfg.fault_at_batch, 1, 1000000));
  chk(read_int(t, "testing", "fault_times", cfg.fault_times, 0, 1000));
  if (err)
    return err;
  cfg.max_batch_wait = std::chrono::milliseconds{wait_ms};
  cfg.snapshot_interval = std::chrono::milliseconds{snap_ms};
  cfg.shutdown_timeout = std::chrono::milliseconds{stop_ms};
  cfg.restart_window = std::chrono::seconds{window_s};
  if (auto e = validate(cfg))
    return e;
  return cfg;
}

caf::error validate(const pipeline_config& cfg) {
  if (cfg.brokers.empty())
    return make_error(errc::invalid_config, "kafka.brokers is required");
  if (cfg.postgres_url.empty())
    return make_error(errc::invalid_config, "postgres.url is required");
  if (cfg.data_dir.empty())
    return make_error(errc::invalid_config, "storage.data_dir is required");
  if (cfg.topic.empty() || cfg.dlq_topic.empty() || cfg.topic == cfg.dlq_topic)
    return make_error(errc::invalid_config,
                      "kafka.topic and kafka.dlq_topic must be set and differ");
  if (cfg.analytics_topic.empty() || cfg.analytics_topic == cfg.topic
      || cfg.analytics_topic == cfg.dlq_topic)
    return make_error(errc::invalid_config,
                      "analytics.topic must be set and differ from "
                      "kafka.topic and kafka.dlq_topic");
  if (cfg.memory_stream_topic.empty() || cfg.memory_stream_topic == cfg.topic
      || cfg.memory_stream_topic == cfg.dlq_topic
      || cfg.memory_stream_topic == cfg.analytics_topic)
    return make_error(errc::invalid_config,
                      "memory_stream.topic must be set and differ from "
                      "kafka.topic, kafka.dlq_topic and analytics.topic");
  {
    std::set<std::string> names;
    for (auto& ep : cfg.webhooks.endpoints) {
      if (ep.name.empty() || !names.insert(ep.name).second)
        return make_error(errc::invalid_config,
                          "webhooks.endpoints: every endpoint needs a unique,"
                          " non-empty name");
      if (ep.url.rfind("http://", 0) != 0 && ep.url.rfind("https://", 0) != 0)
        return make_error(errc::invalid_config,
                          "webhooks.endpoints \"" + ep.name
                            + "\": url must start with http:// or https://");
      if (ep.secret.size() < 16)
        return make_error(errc::invalid_config,
                          "webhooks.endpoints \"" + ep.name
                            + "\": secret must have at least 16 characters");
    }
  }
  static const char* stages[] = {"",          "capture",   "extraction",
                                 "embedding", "aggregation", "writer",
                                 "vector_linking"};
  if (cfg.embedding_provider != "hashing" && cfg.embedding_provider != "openai")
    return make_error(errc::invalid_config,
                      "embedding.provider must be \"hashing\" or \"openai\", "
                      "got \"" + cfg.embedding_provider + "\"");
  if (cfg.embedding_provider == "openai"
      && (cfg.embedding_http.base_url.empty()
          || cfg.embedding_http.model.empty()))
    return make_error(errc::invalid_config,
                      "embedding.provider \"openai\" needs embedding.base_url "
                      "and embedding.model");
  if (cfg.assignment != "cooperative-sticky" && cfg.assignment != "eager")
    return make_error(errc::invalid_config,
                      "cluster.assignment must be \"cooperative-sticky\" or "
                      "\"eager\", got \"" + cfg.assignment + "\"");
  if (cfg.node_timeout <= cfg.heartbeat_interval)
    return make_error(errc::invalid_config,
                      "cluster.node_timeout_ms must exceed "
                      "cluster.heartbeat_ms");
  for (char c : cfg.node_id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'
          || c == '.'))
      return make_error(errc::invalid_config,
                        "cluster.node_id may hold only letters, digits, "
                        "'-', '_' and '.'");
  if (cfg.node_id.size() > 200)
    return make_error(errc::invalid_config,
                      "cluster.node_id is longer than 200 characters");
  if (std::find(std::begin(stages), std::end(stages), cfg.fault_stage)
      == std::end(stages))
    return make_error(errc::invalid_config,
                      "testing.fault_stage must name a pipeline stage");
  return caf::none;
}

std::string effective_node_id(const pipeline_config& cfg) {
  if (!cfg.node_id.empty())
    return cfg.node_id;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "agentmem");
  std::string out;
  for (char* c = host; *c; ++c)
    out += std::isalnum(static_cast<unsigned char>(*c)) || *c == '-'
               || *c == '_' || *c == '.'
             ? *c
             : '-';
  return out + "-" + std::to_string(cfg.http_port);
}

} // namespace agentmem::pipeline
