#include "pipeline/read_router.hpp"

#include <nlohmann/json.hpp>

#include <httplib.h>

#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::pipeline {

read_router::read_router(read_router_config cfg) : cfg_(std::move(cfg)) {
}

template <class F>
auto read_router::with_store(F&& f)
  -> decltype(f(std::declval<storage::routing_store&>())) {
  // mtx_ held by the caller.
  for (int attempt = 0;; ++attempt) {
    if (!store_) {
      auto s = storage::routing_store::connect(cfg_.postgres_url);
      if (!s)
        return s.error();
      store_ = std::move(*s);
    }
    auto res = f(*store_);
    if (res || attempt == 1)
      return res;
    store_.reset(); // perhaps a broken connection: reconnect once
  }
}

caf::expected<std::vector<int32_t>>
read_router::partitions_of(const std::string& user_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto now = std::chrono::steady_clock::now();
  if (auto it = cache_.find(user_id);
      it != cache_.end() && now - it->second.at < cfg_.user_cache_ttl)
    return it->second.partitions;
  auto parts = with_store(
    [&](storage::routing_store& s) { return s.user_partitions(user_id); });
  if (!parts)
    return parts.error();
  // A user never seen is not cached: its first events may commit any time.
  if (!parts->empty()) {
    if (cache_.size() > 100'000)
      cache_.clear();
    cache_[user_id] = {*parts, now};
  }
  return parts;
}

std::map<shard_source, std::vector<int32_t>>
read_router::plan(const std::vector<int32_t>& partitions, int hops) const {
  std::map<shard_source, std::vector<int32_t>> out;
  for (auto p : partitions) {
    shard_source src;
    auto phase = cfg_.shards->phase(p);
    if (phase && *phase != storage::shard_phase::warming) {
      src.where = shard_source::kind::local;
    } else if (!cfg_.secret.empty() && hops < 2 && cfg_.view) {
      if (auto o = cfg_.view->owner(p); o && o->node_id != cfg_.node_id) {
        // The owner when it serves; while it warms up, the owner before it
        // (which keeps serving the shard read-only until then).
        std::string node = o->state == storage::shard_state::serving
                             ? o->node_id
                             : o->previous_node_id;
        if (node != cfg_.node_id) {
          auto addr = cfg_.view->live_address(node);
          if (addr && !failed_recently(node)) {
            src.where = shard_source::kind::remote;
            src.node_id = node;
            src.address = *addr;
          }
        }
      }
    }
    out[src].push_back(p);
  }
  return out;
}

caf::expected<node_reply>
read_router::forward(const std::string& address, const api::read_context& ctx,
                     const std::vector<int32_t>& partitions) {
  const auto& method = ctx.method;
  const auto& target = ctx.target;
  const auto& body = ctx.body;
  if (cfg_.secret.empty())
    return make_error(errc::invalid_config,
                      "no [cluster] secret: reads are not forwarded");
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return make_error(errc::io_error, "bad node address " + address);
  auto host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2); // [v6]:port
  int port = std::atoi(address.c_str() + colon + 1);
  httplib::Client cli{host, port};
  cli.set_url_encode(false); // the target is forwarded as received
  cli.set_connection_timeout(cfg_.forward_timeout);
  cli.set_read_timeout(cfg_.forward_timeout);
  cli.set_write_timeout(cfg_.forward_timeout);
  httplib::Headers headers{
    {api::forward_headers::credential, cfg_.secret},
    {api::forward_headers::scope, ctx.scope},
    {api::forward_headers::partitions, api::format_partitions(partitions)},
    {api::forward_headers::hops, std::to_string(ctx.hops + 1)}};
  auto res = method == "POST"
               ? cli.Post(target.c_str(), headers, body, "application/json")
               : cli.Get(target.c_str(), headers);
  if (!res)
    return make_error(errc::io_error, "forwarding to " + address + ": "
                                        + httplib::to_string(res.error()));
  node_reply out;
  out.status = res->status;
  out.body = std::move(res->body);
  out.content_type = res->get_header_value("Content-Type");
  out.retry_after = res->get_header_value("Retry-After");
  return out;
}

void read_router::mark_failed(const std::string& node_id) {
  std::lock_guard<std::mutex> guard{failed_mtx_};
  failed_[node_id] = std::chrono::steady_clock::now();
}

bool read_router::failed_recently(const std::string& node_id) const {
  std::lock_guard<std::mutex> guard{failed_mtx_};
  auto it = failed_.find(node_id);
  return it != failed_.end()
         && std::chrono::steady_clock::now() - it->second
              < cfg_.view->node_timeout();
}

int64_t read_router::commit_age_ms(const std::vector<int32_t>& partitions) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto age = with_store([&](storage::routing_store& s) {
    return s.commit_age_ms(cfg_.group, cfg_.topic, partitions);
  });
  return age ? *age : 0;
}

namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>()
                                          : std::string{};
}

int64_t ts_ms(const json& j) {
  auto t = domain::parse_rfc3339_ms(str(j, "ts"));
  return t ? *t : 0;
}

std::vector<api::context_turn> turns(const json& arr) {
  std::vector<api::context_turn> out;
  if (!arr.is_array())
    return out;
  for (auto& t : arr)
    out.push_back({str(t, "memory_id"), str(t, "event_id"), ts_ms(t),
                   str(t, "text")});
  return out;
}

} // namespace

caf::expected<api::search_answer> parse_search_reply(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array())
    return make_error(errc::invalid_request,
                      "a search reply must be an object with results");
  api::search_answer out;
  for (auto& r : j["results"]) {
    if (!r.is_object())
      continue;
    api::search_hit h;
    h.memory_id = str(r, "memory_id");
    h.score = r.value("score", 0.0);
    h.memory_type = str(r, "memory_type");
    h.text = str(r, "text");
    h.user_id = str(r, "user_id");
    h.session_id = str(r, "session_id");
    h.event_id = str(r, "event_id");
    h.ts_ms = ts_ms(r);
    if (auto i = r.find("importance"); i != r.end() && i->is_number())
      h.importance = i->get<double>();
    h.agent_type = str(r, "agent_type");
    h.agent_name = str(r, "agent_name");
    h.project_id = str(r, "project_id");
    if (auto m = r.find("metadata"); m != r.end() && m->is_object())
      h.metadata_json = m->dump();
    if (auto c = r.find("context"); c != r.end() && c->is_object()) {
      h.context_before = turns(c->value("before", json::array()));
      h.context_after = turns(c->value("after", json::array()));
    }
    out.hits.push_back(std::move(h));
  }
  out.freshness.stale = j.value("stale", false);
  out.freshness.lag_ms = j.value("lag_ms", int64_t{0});
  return out;
}

} // namespace agentmem::pipeline
