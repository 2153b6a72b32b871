#include "pipeline/locomo_bench.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "domain/contract.hpp"
#include "domain/extraction.hpp"
#include "domain/http_embedder.hpp"
#include "kafka/locomo.hpp"
#include "messages/errc.hpp"
#include "storage/keyword_index.hpp"
#include "storage/vector_index.hpp"

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

const char* const groups[] = {"all",         "multi-hop",  "temporal",
                              "open-domain", "single-hop", "adversarial"};

// Recall (and latency) of one mode over the questions asked so far.
struct recall_acc {
  std::map<std::string, std::array<double, 4>> sums; // k = 5, 10, 25, 50
  std::map<std::string, size_t> counts;
  std::map<std::string, std::vector<double>> latency_ms;

  // `ranked`: dia ids best first; `ms` < 0 when the question was not asked
  // (no evidence: it counts 1 at every k).
  void add(const kafka::locomo_question& q,
           const std::vector<std::string>& ranked, double ms) {
    static const size_t ks[] = {5, 10, 25, 50};
    std::array<double, 4> r{1, 1, 1, 1};
    if (!q.evidence.empty()) {
      std::set<std::string> evidence(q.evidence.begin(), q.evidence.end());
      for (size_t i = 0; i < 4; ++i) {
        std::set<std::string> top(
          ranked.begin(),
          ranked.begin() + static_cast<long>(std::min(ks[i], ranked.size())));
        size_t found = 0;
        for (auto& e : evidence)
          found += top.count(e);
        r[i] = static_cast<double>(found) / static_cast<double>(evidence.size());
      }
    }
    for (auto group : {std::string{"all"},
                       std::string{category_name(q.category)}}) {
      auto& acc = sums[group];
      for (size_t i = 0; i < 4; ++i)
        acc[i] += r[i];
      ++counts[group];
      if (ms >= 0)
        latency_ms[group].push_back(ms);
    }
  }

  static double percentile(std::vector<double> v, double p) {
    if (v.empty())
      return 0;
    std::sort(v.begin(), v.end());
    auto i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  }

  void rows(const std::string& mode, const std::string& provider,
            const std::string& setting, std::vector<recall_row>& out) {
    for (auto group : groups) {
      if (!counts.count(group))
        continue;
      auto n = static_cast<double>(counts[group]);
      auto& acc = sums[group];
      recall_row row;
      row.mode = mode;
      row.group = group;
      row.questions = counts[group];
      row.r5 = 100 * acc[0] / n;
      row.r10 = 100 * acc[1] / n;
      row.r25 = 100 * acc[2] / n;
      row.r50 = 100 * acc[3] / n;
      row.p50_ms = percentile(latency_ms[group], 0.5);
      row.p99_ms = percentile(latency_ms[group], 0.99);
      row.provider = provider;
      row.setting = setting;
      out.push_back(std::move(row));
    }
  }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(
           std::chrono::steady_clock::now() - t0)
    .count();
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
  std::vector<recall_row> rows;
  for (auto& mode : opts.modes) {
    recall_acc acc;
    for (auto& s : *samples) {
      for (auto& q : s.qa) {
        std::vector<std::string> ranked;
        double ms = -1;
        if (!q.evidence.empty()) {
          json body = {{"user_id", s.sample_id},
                       {"query", q.question},
                       {"top_k", 50},
                       {"mode", mode}};
          auto t0 = std::chrono::steady_clock::now();
          auto res = http->Post("/v1/memories/search", body.dump(),
                                "application/json");
          ms = ms_since(t0);
          if (!res || res->status != 200)
            return make_error(errc::invalid_request,
                              "search failed for question '" + q.question
                                + "': "
                                + (res ? res->body : std::string{"no reply"}));
          auto j = json::parse(res->body);
          for (auto& hit : j["results"])
            if (hit.contains("metadata") && hit["metadata"].contains("dia_id"))
              ranked.push_back(hit["metadata"]["dia_id"].get<std::string>());
        }
        acc.add(q, ranked, ms);
      }
    }
    acc.rows(mode, "", "", rows);
  }
  return rows;
}

std::vector<std::pair<std::string, fusion_params>>
sweep_settings(double vector_weight) {
  fusion_params d;
  d.vector_weight = vector_weight;
  std::vector<std::pair<std::string, fusion_params>> out{{"defaults", d}};
  auto earlier = d;
  earlier.neighbor_weight = 0;
  earlier.prf.docs = 0;
  earlier.temporal_weight = 0;
  earlier.speaker_weight = 0;
  out.emplace_back("earlier", earlier);
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string{b};
  };
  auto vary = [&](const char* name, std::vector<double> values, auto set) {
    for (auto v : values) {
      auto p = d;
      set(p, v);
      out.emplace_back(std::string{name} + "=" + num(v), p);
    }
  };
  vary("rrf_k", {5, 20, 60}, [](fusion_params& p, double v) { p.rrf_k = v; });
  vary("vector_weight", {vector_weight / 2, vector_weight * 2},
       [](fusion_params& p, double v) { p.vector_weight = v; });
  vary("neighbor_weight", {0, 0.25, 0.75, 1},
       [](fusion_params& p, double v) { p.neighbor_weight = v; });
  vary("prf_docs", {0, 3, 10}, [](fusion_params& p, double v) {
    p.prf.docs = static_cast<size_t>(v);
  });
  vary("prf_terms", {10, 40}, [](fusion_params& p, double v) {
    p.prf.terms = static_cast<size_t>(v);
  });
  vary("prf_weight", {0.25, 1},
       [](fusion_params& p, double v) { p.prf.weight = v; });
  vary("temporal_weight", {0, 0.25, 1},
       [](fusion_params& p, double v) { p.temporal_weight = v; });
  vary("speaker_weight", {0, 0.25, 1},
       [](fusion_params& p, double v) { p.speaker_weight = v; });
  // Candidate depth: at top_k 50 every ranking is already cut at 5 k = 250.
  vary("min_depth", {500}, [](fusion_params& p, double v) {
    p.min_depth = static_cast<size_t>(v);
  });
  return out;
}

caf::expected<locomo_provider> parse_provider_spec(const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream ss{spec};
  for (std::string p; std::getline(ss, p, ',');)
    parts.push_back(p);
  if (parts.empty())
    return make_error(errc::invalid_config, "empty provider spec");
  locomo_provider out;
  domain::http_embedder_config http;
  // Local model servers embed one request at a time on a shared machine:
  // one request in flight, and time enough for a batch of 64 passages.
  http.max_in_flight = 1;
  http.request_timeout = std::chrono::minutes{5};
  size_t dims = 384;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == std::string::npos)
      return make_error(errc::invalid_config,
                        "provider spec: expected key=value, got '" + parts[i]
                          + "'");
    auto key = parts[i].substr(0, eq), value = parts[i].substr(eq + 1);
    if (key == "label")
      out.label = value;
    else if (key == "url")
      http.base_url = value;
    else if (key == "model")
      http.model = value;
    else if (key == "dims")
      dims = static_cast<size_t>(std::stoul(value));
    else if (key == "query_prefix")
      http.query_prefix = value;
    else if (key == "passage_prefix")
      http.passage_prefix = value;
    else if (key == "query_input_type")
      http.query_input_type = value;
    else if (key == "passage_input_type")
      http.passage_input_type = value;
    else
      return make_error(errc::invalid_config,
                        "provider spec: unknown key '" + key + "'");
  }
  auto e = domain::make_embedder(parts[0], dims, http);
  if (!e)
    return e.error();
  out.embedder = *e;
  if (out.label.empty())
    out.label = parts[0] == "openai" ? http.model : parts[0];
  return out;
}

namespace {

// A LoCoMo conversation turned into memories as the pipeline derives them.
struct locomo_memories {
  std::vector<memory> memories;
  std::unordered_map<uint64_t, std::string> dia_of; // point id -> dia_id
};

caf::expected<locomo_memories>
derive_memories(const std::vector<kafka::locomo_sample>& samples) {
  locomo_memories out;
  domain::event_decoder dec;
  domain::extraction_config rules;
  for (auto& s : samples) {
    // session -> earlier turns (owned strings, views handed out below)
    std::map<std::string, std::vector<activity>> sessions;
    for (auto& t : s.turns) {
      kafka_record rec;
      rec.key = t.key;
      rec.value = t.event_json;
      activity a;
      if (auto err = dec.decode(rec, a))
        return make_error(errc::io_error, "locomo " + s.sample_id + " "
                                            + t.dia_id + ": " + err->detail);
      auto& prior = sessions[a.session_id];
      std::vector<domain::prior_turn> turns;
      turns.reserve(prior.size());
      for (auto& p : prior)
        turns.push_back({p.ts_ms, p.event_id, p.agent_name, p.content});
      auto first = out.memories.size();
      domain::extract_memories(a, rules, out.memories);
      auto ctx = domain::conversation_context(turns, a.ts_ms, a.event_id,
                                              rules.max_chunk_chars);
      for (auto i = first; i < out.memories.size(); ++i) {
        out.memories[i].context = ctx;
        out.dia_of[out.memories[i].point_id] = t.dia_id;
      }
      prior.push_back(std::move(a));
    }
  }
  return out;
}

} // namespace

caf::expected<std::vector<recall_row>>
run_locomo_sweep(const locomo_sweep_options& opts) {
  namespace fs = std::filesystem;
  auto samples = kafka::load_locomo(opts.data);
  if (!samples)
    return samples.error();
  if (!opts.samples.empty())
    samples->erase(std::remove_if(samples->begin(), samples->end(),
                                  [&](const kafka::locomo_sample& s) {
                                    return std::find(opts.samples.begin(),
                                                     opts.samples.end(),
                                                     s.sample_id)
                                           == opts.samples.end();
                                  }),
                   samples->end());
  auto derived = derive_memories(*samples);
  if (!derived)
    return derived.error();
  std::vector<recall_row> rows;
  for (auto& prov : opts.providers) {
    auto t_ingest = std::chrono::steady_clock::now();
    auto mems = derived->memories;
    std::vector<std::string> inputs;
    inputs.reserve(mems.size());
    for (auto& m : mems)
      inputs.push_back(domain::embedding_text(m));
    for (size_t lo = 0; lo < mems.size(); lo += 256) {
      auto hi = std::min(mems.size(), lo + 256);
      std::vector<std::string_view> views(inputs.begin() + lo,
                                          inputs.begin() + hi);
      std::vector<std::vector<float>> vecs;
      if (auto err = prov.embedder->embed(views, vecs))
        return err;
      for (auto i = lo; i < hi; ++i)
        mems[i].vector = std::move(vecs[i - lo]);
    }
    auto dir = (fs::path{opts.work_dir} / prov.label).string();
    std::error_code ec;
    fs::remove_all(dir, ec);
    storage::vector_index_config icfg;
    icfg.dims = prov.embedder->dims();
    icfg.model = prov.embedder->model();
    auto index = storage::vector_index::open(dir + "/vectors", icfg);
    if (!index)
      return index.error();
    auto keywords = storage::keyword_index::open(dir + "/keywords", opts.bm25);
    if (!keywords)
      return keywords.error();
    if (auto n = (*index)->upsert(mems); !n)
      return n.error();
    (*keywords)->upsert(mems);
    spdlog::info("bench-locomo: {} memories embedded by {} and indexed in "
                 "{:.1f} s",
                 mems.size(), prov.label, ms_since(t_ingest) / 1000);
    std::unordered_map<uint64_t, std::string> text_of;
    for (auto& m : mems)
      text_of[m.point_id] = m.text;
    fusion_params defaults;
    defaults.vector_weight = default_vector_weight(*prov.embedder);
    defaults.rerank_depth = opts.rerank_depth;
    auto fetch = [&](const std::vector<uint64_t>& ids)
      -> caf::expected<std::vector<std::optional<std::string>>> {
      std::vector<std::optional<std::string>> out;
      for (auto id : ids) {
        auto it = text_of.find(id);
        out.push_back(it == text_of.end()
                        ? std::nullopt
                        : std::optional<std::string>{it->second});
      }
      return out;
    };
    std::shared_ptr<storage::vector_index> vectors{std::move(*index)};
    retriever main_r{prov.embedder, vectors,
                     std::shared_ptr<storage::keyword_index>{
                       std::move(*keywords)},
                     defaults, prov.reranker, fetch};
    retriever* rp = &main_r;
    auto ask = [&](const std::string& mode, const std::string& setting,
                   fusion_params params) -> caf::error {
      auto& r = *rp;
      if (setting != "rerank")
        params.rerank_depth = 0;
      recall_acc acc;
      for (auto& s : *samples) {
        storage::vector_filter f;
        f.user_id = s.sample_id;
        for (auto& q : s.qa) {
          std::vector<std::string> ranked;
          double ms = -1;
          if (!q.evidence.empty()) {
            auto t0 = std::chrono::steady_clock::now();
            auto hits = r.search(q.question, mode, 50, f, params);
            ms = ms_since(t0);
            if (!hits)
              return hits.error();
            for (auto& h : *hits)
              if (auto it = derived->dia_of.find(h.point_id);
                  it != derived->dia_of.end())
                ranked.push_back(it->second);
          }
          acc.add(q, ranked, ms);
        }
      }
      acc.rows(mode, prov.label, setting, rows);
      return caf::none;
    };
    // Cold query embeddings first: hybrid with the defaults.
    if (auto err = ask("hybrid", "defaults", defaults))
      return err;
    for (auto& mode : opts.modes)
      if (mode != "hybrid")
        if (auto err = ask(mode, "defaults", defaults))
          return err;
    if (prov.reranker)
      if (auto err = ask("hybrid", "rerank", defaults))
        return err;
    if (opts.sweep)
      for (auto& [label, params] : sweep_settings(defaults.vector_weight))
        if (label != "defaults")
          if (auto err = ask("hybrid", label, params))
            return err;
    for (size_t g = 0; g < opts.bm25_grid.size(); ++g) {
      auto& bp = opts.bm25_grid[g];
      auto kw = storage::keyword_index::open(
        dir + "/keywords-grid" + std::to_string(g), bp);
      if (!kw)
        return kw.error();
      (*kw)->upsert(mems);
      retriever gr{prov.embedder, vectors,
                   std::shared_ptr<storage::keyword_index>{std::move(*kw)},
                   defaults, nullptr, fetch};
      rp = &gr;
      char label[64];
      std::snprintf(label, sizeof label, "bm25 k1=%g b=%g", bp.k1, bp.b);
      for (auto* mode : {"keyword", "hybrid"})
        if (auto err = ask(mode, label, defaults)) {
          rp = &main_r;
          return err;
        }
      rp = &main_r;
    }
    fs::remove_all(dir, ec);
  }
  return rows;
}

std::string to_markdown(const std::vector<recall_row>& rows) {
  bool labelled = std::any_of(rows.begin(), rows.end(), [](auto& r) {
    return !r.provider.empty() || !r.setting.empty();
  });
  std::ostringstream out;
  out << (labelled ? "| provider | setting " : "")
      << "| mode | questions | group | R@5 | R@10 | R@25 | R@50 | p50 ms | "
         "p99 ms |\n"
      << (labelled ? "|---|---" : "") << "|---|---|---|---|---|---|---|---|---|\n";
  char buf[512];
  for (auto& r : rows) {
    if (labelled)
      out << "| " << r.provider << " | " << r.setting << " ";
    std::snprintf(buf, sizeof buf,
                  "| %s | %zu | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f "
                  "|\n",
                  r.mode.c_str(), r.questions, r.group.c_str(), r.r5, r.r10,
                  r.r25, r.r50, r.p50_ms, r.p99_ms);
    out << buf;
  }
  return out.str();
}

} // namespace agentmem::pipeline
