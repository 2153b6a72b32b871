#include "pipeline/locomo_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "kafka/locomo.hpp"
#include "messages/errc.hpp"

namespace agentmem::pipeline {

namespace {

using json = nlohmann::json;

const char* category_name(int c) {
  switch (c) {
    case 1: return "multi-hop";
    case 2: return "temporal";
    case 3: return "open-domain";
    case 4: return "single-hop";
    case 5: return "adversarial";
  }
  return "other";
}

// Splits "http://host:port" into a client.
std::unique_ptr<httplib::Client> client_for(const std::string& url,
                                            const std::string& token) {
  auto c = std::make_unique<httplib::Client>(url);
  if (!token.empty())
    c->set_bearer_token_auth(token);
  c->set_connection_timeout(5);
  c->set_read_timeout(30);
  return c;
}

// True once the sample's last turn is searchable. Batches of a partition
// (so of a user) are indexed in order, so every earlier turn is too. (The
// session buffer would not do: it is written before the Postgres commit.)
bool sample_committed(httplib::Client& http, const kafka::locomo_sample& s) {
  if (s.turns.empty())
    return true;
  auto& last = s.turns.back();
  json body = {{"user_id", s.sample_id},
               {"query", last.text},
               {"top_k", 10},
               {"mode", "keyword"},
               {"filter",
                {{"session_id",
                  s.sample_id + ":session_" + std::to_string(last.session)}}}};
  auto res = http.Post("/v1/memories/search", body.dump(), "application/json");
  if (!res || res->status != 200)
    return false;
  auto j = json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.contains("results"))
    return false;
  for (auto& hit : j["results"])
    if (hit.value("event_id", "") == s.sample_id + ":" + last.dia_id)
      return true;
  return false;
}

} // namespace

caf::expected<std::vector<recall_row>>
run_locomo_bench(const locomo_bench_options& opts) {
  auto samples = kafka::load_locomo(opts.data);
  if (!samples)
    return samples.error();
  auto http = client_for(opts.http, opts.token);
  if (opts.publish) {
    auto n = kafka::replay_locomo(opts.brokers, opts.topic, opts.data, {});
    if (!n)
      return n.error();
    spdlog::info("bench-locomo: published {} turns", *n);
  }
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::seconds(opts.wait_seconds);
  for (auto& s : *samples) {
    while (!sample_committed(*http, s)) {
      if (std::chrono::steady_clock::now() > deadline)
        return make_error(errc::timeout, "conversation " + s.sample_id
                                           + " not committed in time");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  const size_t ks[] = {5, 10, 25, 50};
  std::vector<recall_row> rows;
  for (auto& mode : opts.modes) {
    // sums[group][i] for k = ks[i]
    std::map<std::string, std::array<double, 4>> sums;
    std::map<std::string, size_t> counts;
    for (auto& s : *samples) {
      for (auto& q : s.qa) {
        std::array<double, 4> r{1, 1, 1, 1};
        if (!q.evidence.empty()) {
          json body = {{"user_id", s.sample_id},
                       {"query", q.question},
                       {"top_k", 50},
                       {"mode", mode}};
          auto res = http->Post("/v1/memories/search", body.dump(),
                                "application/json");
          if (!res || res->status != 200)
            return make_error(errc::invalid_request,
                              "search failed for question '" + q.question
                                + "': "
                                + (res ? res->body : std::string{"no reply"}));
          auto j = json::parse(res->body);
          std::vector<std::string> ranked;
          for (auto& hit : j["results"])
            if (hit.contains("metadata") && hit["metadata"].contains("dia_id"))
              ranked.push_back(hit["metadata"]["dia_id"].get<std::string>());
          std::set<std::string> evidence(q.evidence.begin(), q.evidence.end());
          for (size_t i = 0; i < 4; ++i) {
            std::set<std::string> top(
              ranked.begin(),
              ranked.begin() + static_cast<long>(std::min(ks[i], ranked.size())));
            size_t found = 0;
            for (auto& e : evidence)
              found += top.count(e);
            r[i] = static_cast<double>(found)
                   / static_cast<double>(evidence.size());
          }
        }
        for (auto group : {std::string{"all"},
                           std::string{category_name(q.category)}}) {
          auto& acc = sums[group];
          for (size_t i = 0; i < 4; ++i)
            acc[i] += r[i];
          ++counts[group];
        }
      }
    }
    for (auto group : {"all", "multi-hop", "temporal", "open-domain",
                       "single-hop", "adversarial"}) {
      if (!counts.count(group))
        continue;
      auto n = static_cast<double>(counts[group]);
      auto& acc = sums[group];
      rows.push_back({mode, group, counts[group], 100 * acc[0] / n,
                      100 * acc[1] / n, 100 * acc[2] / n, 100 * acc[3] / n});
    }
  }
  return rows;
}

std::string to_markdown(const std::vector<recall_row>& rows) {
  std::ostringstream out;
  out << "| mode | questions | group | R@5 | R@10 | R@25 | R@50 |\n"
      << "|---|---|---|---|---|---|---|\n";
  char buf[256];
  for (auto& r : rows) {
    std::snprintf(buf, sizeof buf, "| %s | %zu | %s | %.1f | %.1f | %.1f | %.1f |\n",
                  r.mode.c_str(), r.questions, r.group.c_str(), r.r5, r.r10,
                  r.r25, r.r50);
    out << buf;
  }
  return out.str();
}

} // namespace agentmem::pipeline
