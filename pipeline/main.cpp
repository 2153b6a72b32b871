// agentmem: one binary, subcommands `dev`, `run`, `migrate`, `backup`,
// `restore`, `simulate`, `replay-locomo`. Wiring lives in topology.cpp; this file parses the
// command line and owns process lifetime (signals, exit codes).
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "kafka/locomo.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/simulator.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"
#include "pipeline/actor_system.hpp"
#include "pipeline/allocator.hpp"
#include "pipeline/backup.hpp"
#include "pipeline/config.hpp"
#include "pipeline/locomo_bench.hpp"
#include "pipeline/security.hpp"
#include "pipeline/topology.hpp"
#include "storage/pg_cluster.hpp"
#include "storage/postgres_store.hpp"

namespace fs = std::filesystem;
using namespace agentmem;

namespace {

std::atomic<int> stop_signal{0};

extern "C" void on_signal(int sig) {
  stop_signal.store(sig);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int fail(const std::string& what, const caf::error& err) {
  spdlog::critical("{}: {}", what, describe(err));
  return 1;
}

// Runs a started node until SIGINT/SIGTERM or a supervisor escalation.
int serve(pipeline::topology& node) {
  spdlog::info("malloc: {}", pipeline::allocator_name());
  while (stop_signal.load() == 0 && !node.failed())
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (node.failed()) {
    spdlog::critical("pipeline failed (a stage exceeded its restart "
                     "intensity, or ingress stopped on an error logged "
                     "above); stopping");
    node.stop();
    return 2;
  }
  spdlog::info("signal {} received: draining and stopping", stop_signal.load());
  if (auto err = node.stop()) {
    spdlog::error("shutdown: {}", describe(err));
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

int cmd_run(const std::string& config_path) {
  auto cfg = pipeline::load_config(config_path);
  if (!cfg)
    return fail("config", cfg.error());
  install_signal_handlers();
  auto acfg = pipeline::node_actor_system_config();
  caf::actor_system sys{acfg};
  auto node = pipeline::topology::start(sys, *cfg);
  if (!node)
    return fail("start", node.error());
  spdlog::info("agentmem running: kafka {} topic {} group {}, HTTP {}:{}",
               cfg->brokers, cfg->topic, cfg->group_id, cfg->http_host,
               (*node)->http_port());
  if (cfg->http_ops_listener)
    spdlog::info("ops endpoints (/healthz, /readyz, /metrics) on {}:{}",
                 cfg->http_ops_host, (*node)->ops_port());
  return serve(**node);
}

struct dev_options {
  std::string data_dir = "./data";
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080;
  int partitions = 32;
  size_t max_in_flight = 4;
  int max_batch_wait_ms = 50;
  std::string topic = "agent.activity.v1";
  /// librdkafka passthrough, KEY=VALUE (VALUE may be "env:NAME").
  std::vector<std::string> kafka_properties;
  int ops_port = -1; ///< >= 0: separate ops listener on this port
  // embedding provider ([embedding] of the TOML config)
  std::string embedding_provider = "hashing";
  size_t embedding_dims = 384;
  std::string embedding_url;
  std::string embedding_model;
  std::string embedding_api_key_env; ///< name of the env var holding the key
  int embedding_timeout_ms = 30000;
  size_t embedding_max_in_flight = 4;
  std::string embedding_query_prefix, embedding_passage_prefix;
  std::string embedding_query_input_type, embedding_passage_input_type;
  std::string rerank_url, rerank_model, rerank_api = "cohere";
  size_t rerank_depth = 50;
};

int cmd_dev(const dev_options& o) {
  install_signal_handlers();
  std::error_code ec;
  fs::create_directories(o.data_dir, ec);
  if (ec)
    return fail("data dir", make_error(errc::io_error, ec.message()));
  auto data_dir = fs::absolute(o.data_dir).string();
  // The embedded broker's fetch wait (kafka/mock_cluster.hpp); a
  // --kafka-property of the same key overrides it.
  auto props = kafka::mock_cluster::consumer_properties();
  for (auto& kv : o.kafka_properties) {
    auto p = pipeline::parse_property_arg(kv, "--kafka-property");
    if (!p)
      return fail("--kafka-property", p.error());
    props[p->first] = p->second;
  }
  // 0. A fresh admin token for this run (the hash goes to <data>/tokens).
  auto dev_tok = pipeline::write_dev_token(data_dir);
  if (!dev_tok)
    return fail("dev token", dev_tok.error());
  // 1. Embedded Kafka-protocol broker (librdkafka's mock cluster).
  auto mock = kafka::mock_cluster::start(
    1, {{o.topic, o.partitions}, {o.topic + ".dlq", 4},
        {pipeline::pipeline_config{}.analytics_topic, 4},
        {pipeline::pipeline_config{}.memory_stream_topic, 4}});
  if (!mock)
    return fail("embedded kafka", mock.error());
  auto bootstrap = (*mock)->bootstrap();
  {
    std::ofstream f{fs::path{data_dir} / "kafka.bootstrap"};
    f << bootstrap << '\n';
  }
  // 2. Private PostgreSQL cluster inside the data dir.
  auto pg = storage::pg_cluster::start((fs::path{data_dir} / "postgres").string(),
                                       0);
  if (!pg)
    return fail("embedded postgres", pg.error());
  pipeline::pipeline_config cfg;
  cfg.brokers = bootstrap;
  cfg.topic = o.topic;
  cfg.dlq_topic = o.topic + ".dlq";
  cfg.postgres_url = (*pg)->url();
  cfg.data_dir = data_dir;
  cfg.http_host = o.http_host;
  cfg.http_port = o.http_port;
  cfg.snapshot_interval = std::chrono::seconds(5);
  cfg.max_in_flight = o.max_in_flight;
  cfg.max_batch_wait = std::chrono::milliseconds{o.max_batch_wait_ms};
  cfg.kafka_properties = std::move(props);
  cfg.auth_tokens_file = dev_tok->tokens_file;
  if (o.ops_port >= 0) {
    cfg.http_ops_listener = true;
    cfg.http_ops_host = o.http_host;
    cfg.http_ops_port = static_cast<uint16_t>(o.ops_port);
  }
  cfg.embedding_provider = o.embedding_provider;
  cfg.embedding_dims = o.embedding_dims;
  cfg.embedding_http.base_url = o.embedding_url;
  cfg.embedding_http.model = o.embedding_model;
  cfg.embedding_http.request_timeout =
    std::chrono::milliseconds{o.embedding_timeout_ms};
  cfg.embedding_http.max_in_flight = o.embedding_max_in_flight;
  cfg.embedding_http.query_prefix = o.embedding_query_prefix;
  cfg.embedding_http.passage_prefix = o.embedding_passage_prefix;
  cfg.embedding_http.query_input_type = o.embedding_query_input_type;
  cfg.embedding_http.passage_input_type = o.embedding_passage_input_type;
  cfg.rerank_http.base_url = o.rerank_url;
  cfg.rerank_http.model = o.rerank_model;
  cfg.rerank_http.api = o.rerank_api;
  cfg.rerank_depth = o.rerank_depth;
  if (!o.embedding_api_key_env.empty()) {
    auto key = pipeline::resolve_env("env:" + o.embedding_api_key_env,
                                     "--embedding-api-key-env");
    if (!key)
      return fail("config", key.error());
    cfg.embedding_http.api_key = *key;
  }
  auto acfg = pipeline::node_actor_system_config();
  int rc = 0;
  {
    caf::actor_system sys{acfg};
    auto node = pipeline::topology::start(sys, cfg);
    if (!node)
      return fail("start", node.error());
    std::cout << "agentmem dev is up\n"
              << "  kafka bootstrap: " << bootstrap << "  (also in "
              << data_dir << "/kafka.bootstrap)\n"
              << "  topic:           " << cfg.topic << " (" << o.partitions
              << " partitions), DLQ " << cfg.dlq_topic << "\n"
              << "  postgres:        " << (*pg)->redacted_url() << "\n"
              << "  http:            http://" << o.http_host << ":"
              << (*node)->http_port() << "\n";
    if (o.ops_port >= 0)
      std::cout << "  ops (health, metrics): http://" << o.http_host << ":"
                << (*node)->ops_port() << "\n";
    // The one place the token is shown: the operator needs it once.
    std::cout << "  dev token:       " << dev_tok->token << "\n"
              << "                   (admin; also in " << dev_tok->token_path
              << "; send 'Authorization: Bearer <token>')\n"
              << "  data dir:        " << data_dir << "\n"
              << "note: the embedded broker is librdkafka's mock cluster; it "
                 "keeps only the newest ~5 MiB per partition, so publish "
                 "while agentmem consumes (no large backlogs). Use "
                 "`agentmem run` with a real Kafka for production.\n"
              << "Ctrl-C stops everything." << std::endl;
    rc = serve(**node);
    node->reset();
  }
  if (auto err = (*pg)->stop())
    spdlog::warn("postgres stop: {}", describe(err));
  return rc;
}

// `agentmem token new|hash`: mint a token and print its tokens-file line.
int cmd_token(bool mint, const std::string& scope, const std::string& name) {
  std::string token;
  if (mint) {
    auto t = api::new_token();
    if (!t)
      return fail("token", t.error());
    token = *t;
  } else {
    std::getline(std::cin, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
      token.pop_back();
    if (token.empty()) {
      std::cerr << "token hash: give the token on stdin\n";
      return 1;
    }
  }
  auto line = api::token_line(token, scope, name);
  // Validate the scope and name the same way the server will.
  auto parsed = api::parse_token_lines(line, "scope/name");
  if (!parsed)
    return fail("token", parsed.error());
  if (mint)
    std::cout << "token: " << token << "\n"
              << "line:  " << line << "\n"
              << "Give the token to the client; put the line into the "
                 "tokens file ([auth] tokens_file) or AGENTMEM_TOKENS.\n";
  else
    std::cout << line << "\n";
  return 0;
}

int cmd_migrate(const std::string& config_path, const std::string& url_arg) {
  std::string url = url_arg;
  if (url.empty()) {
    auto cfg = pipeline::load_config(config_path);
    if (!cfg)
      return fail("config", cfg.error());
    url = cfg->postgres_url;
  }
  auto store = storage::postgres_store::connect(url);
  if (!store)
    return fail("postgres", store.error());
  auto n = (*store)->migrate();
  if (!n)
    return fail("migrate", n.error());
  std::cout << "applied " << *n << " migration(s)" << std::endl;
  return 0;
}

// `agentmem backup --config F --to DIR` (docs/operations.md "Backup and
// restore").
int cmd_backup(const std::string& config_path, const std::string& to) {
  auto cfg = pipeline::load_config(config_path);
  if (!cfg)
    return fail("config", cfg.error());
  auto t0 = std::chrono::steady_clock::now();
  auto m = pipeline::backup(cfg->postgres_url, to);
  if (!m)
    return fail("backup", m.error());
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  auto memories = m->rows.count("memories") ? m->rows.at("memories") : 0;
  std::cout << "backup of " << storage::pg_cluster::redact(cfg->postgres_url)
            << " written to " << fs::absolute(to).string() << " in "
            << took.count() << " s\n"
            << "  archive:  " << m->archive << " (" << m->archive_bytes
            << " bytes, sha256 " << m->archive_sha256 << ")\n"
            << "  schema:   " << m->schema_version << ", " << memories
            << " memories, " << m->rows.size() << " tables\n"
            << "  snapshot: " << m->created_at << std::endl;
  return 0;
}

// `agentmem restore --config F --from DIR [--force]`.
int cmd_restore(const std::string& config_path, const std::string& from,
                bool force) {
  auto cfg = pipeline::load_config(config_path);
  if (!cfg)
    return fail("config", cfg.error());
  pipeline::restore_options o;
  o.postgres_url = cfg->postgres_url;
  o.data_dir = cfg->data_dir;
  o.from_dir = from;
  o.force = force;
  auto t0 = std::chrono::steady_clock::now();
  auto r = pipeline::restore(o);
  if (!r)
    return fail("restore", r.error());
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  std::cout << "restored " << r->manifest.created_at << " (agentmem "
            << r->manifest.agentmem_version << ", schema "
            << r->manifest.schema_version << ") into "
            << storage::pg_cluster::redact(cfg->postgres_url) << " in "
            << took.count() << " s\n";
  if (r->schema_cleared)
    std::cout << "  --force: dropped schema public of the target first\n";
  std::cout << "  applied " << r->migrations_applied
            << " newer migration(s)\n";
  if (!r->data_dir_moved_to.empty())
    std::cout << "  --force: moved the old data dir to "
              << r->data_dir_moved_to << "\n";
  std::cout << "  data dir " << fs::absolute(cfg->data_dir).string()
            << " is empty: the node rebuilds its indexes and hot state from "
               "PostgreSQL when it starts\n"
            << "  empty the data dir of every other node before starting it, "
               "and re-issue user and memory deletions made after "
            << r->manifest.created_at << " (docs/data-governance.md)"
            << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"agentmem: durable, searchable memory of what AI agents do"};
  app.require_subcommand(1);

  dev_options dev;
  auto* dev_cmd = app.add_subcommand(
    "dev", "Embedded default: mock Kafka broker, private PostgreSQL, HTTP API");
  dev_cmd->add_option("--data-dir", dev.data_dir, "Data directory")
    ->capture_default_str();
  dev_cmd->add_option("--http-host", dev.http_host, "HTTP listen host")
    ->capture_default_str();
  dev_cmd->add_option("--http-port", dev.http_port, "HTTP port (0: any)")
    ->capture_default_str();
  dev_cmd->add_option("--partitions", dev.partitions,
                      "Partitions of the activity topic")
    ->capture_default_str()
    ->check(CLI::Range(1, 1024));
  dev_cmd->add_option("--max-in-flight", dev.max_in_flight,
                      "Unacknowledged batches before partitions pause")
    ->capture_default_str()
    ->check(CLI::Range(1, 64));
  dev_cmd->add_option("--max-batch-wait-ms", dev.max_batch_wait_ms,
                      "Longest time a batch stays open")
    ->capture_default_str()
    ->check(CLI::Range(1, 60000));
  dev_cmd->add_option("--kafka-property", dev.kafka_properties,
                      "librdkafka property KEY=VALUE (VALUE may be "
                      "env:NAME); repeatable");
  dev_cmd->add_option("--ops-port", dev.ops_port,
                      "Serve /healthz, /readyz, /metrics on this port "
                      "instead (0: any)")
    ->check(CLI::Range(0, 65535));

  std::string token_scope = "admin", token_name;
  auto* token_cmd = app.add_subcommand(
    "token", "Mint API tokens and their tokens-file lines (docs/security.md)");
  token_cmd->require_subcommand(1);
  auto* token_new = token_cmd->add_subcommand(
    "new", "Print a new random token and its hash line");
  auto* token_hash = token_cmd->add_subcommand(
    "hash", "Read a token from stdin and print its hash line");
  for (auto* c : {token_new, token_hash}) {
    c->add_option("--scope", token_scope,
                  "admin, users=<id,...> or prefix=<user_id prefix>")
      ->capture_default_str();
    c->add_option("--name", token_name,
                  "Label for logs and metrics (never the token)");
  }
  dev_cmd->add_option("--embedding-provider", dev.embedding_provider,
                      "hashing (offline) or openai (HTTP)")
    ->capture_default_str()
    ->check(CLI::IsMember({"hashing", "openai"}));
  dev_cmd->add_option("--embedding-dims", dev.embedding_dims,
                      "Vector dims of the provider")
    ->capture_default_str()
    ->check(CLI::Range(1, 8192));
  dev_cmd->add_option("--embedding-url", dev.embedding_url,
                      "openai: API root, e.g. http://127.0.0.1:8000/v1");
  dev_cmd->add_option("--embedding-model", dev.embedding_model,
                      "openai: model name");
  dev_cmd->add_option("--embedding-api-key-env", dev.embedding_api_key_env,
                      "openai: environment variable holding the API key");
  dev_cmd->add_option("--embedding-timeout-ms", dev.embedding_timeout_ms,
                      "openai: timeout of one request")
    ->capture_default_str()
    ->check(CLI::Range(1, 600000));
  dev_cmd->add_option("--embedding-query-prefix", dev.embedding_query_prefix,
                      "openai: instruction prepended to search queries "
                      "(e5: \"query: \")");
  dev_cmd->add_option("--embedding-passage-prefix",
                      dev.embedding_passage_prefix,
                      "openai: instruction prepended to stored texts (e5: "
                      "\"passage: \")");
  dev_cmd->add_option("--embedding-query-input-type",
                      dev.embedding_query_input_type,
                      "openai: input_type sent with search queries");
  dev_cmd->add_option("--embedding-passage-input-type",
                      dev.embedding_passage_input_type,
                      "openai: input_type sent with stored texts");
  dev_cmd->add_option("--rerank-url", dev.rerank_url,
                      "Re-rank hybrid results through POST {URL}/rerank "
                      "(text-embeddings-inference, Jina, Cohere API)");
  dev_cmd->add_option("--rerank-model", dev.rerank_model,
                      "Re-ranking model name");
  dev_cmd->add_option("--rerank-api", dev.rerank_api,
                      "Request dialect: cohere or tei")
    ->capture_default_str()
    ->check(CLI::IsMember({"cohere", "tei"}));
  dev_cmd->add_option("--rerank-depth", dev.rerank_depth,
                      "Candidates re-ranked")
    ->capture_default_str()
    ->check(CLI::Range(1, 1000));
  dev_cmd->add_option("--embedding-max-in-flight",
                      dev.embedding_max_in_flight,
                      "openai: concurrent requests")
    ->capture_default_str()
    ->check(CLI::Range(1, 256));

  std::string config_path;
  auto* run_cmd = app.add_subcommand(
    "run", "Production: external Kafka and PostgreSQL from a TOML config");
  run_cmd->add_option("--config", config_path, "TOML config file")
    ->required()
    ->check(CLI::ExistingFile);

  std::string migrate_url;
  auto* mig_cmd = app.add_subcommand("migrate", "Apply Postgres migrations");
  mig_cmd->add_option("--config", config_path, "TOML config file");
  mig_cmd->add_option("--postgres-url", migrate_url,
                      "Postgres URL (instead of --config)");

  std::string backup_to, restore_from;
  bool restore_force = false;
  auto* backup_cmd = app.add_subcommand(
    "backup", "Back up PostgreSQL (pg_dump, one snapshot) into a new "
              "directory while the pipeline runs");
  backup_cmd->add_option("--to", backup_to, "New or empty directory")
    ->required();
  auto* restore_cmd = app.add_subcommand(
    "restore", "Restore a backup into an empty database and data dir (stop "
               "every node first)");
  for (auto* c : {backup_cmd, restore_cmd})
    c->add_option("--config", config_path, "TOML config file")
      ->required()
      ->check(CLI::ExistingFile);
  restore_cmd->add_option("--from", restore_from, "Directory of a backup")
    ->required()
    ->check(CLI::ExistingDirectory);
  restore_cmd->add_flag("--force", restore_force,
                        "Drop schema public of a non-empty target and move a "
                        "non-empty data dir aside");

  kafka::simulator_config sim;
  auto* sim_cmd = app.add_subcommand(
    "simulate", "Publish synthetic agent activity (the demo input)");
  sim_cmd->add_option("--brokers", sim.brokers, "Kafka bootstrap servers")
    ->required();
  sim_cmd->add_option("--topic", sim.topic, "Topic")->capture_default_str();
  sim_cmd->add_option("--users", sim.users, "Simulated users")
    ->capture_default_str()
    ->check(CLI::Range(1, 1000000));
  sim_cmd->add_option("--rate", sim.rate, "Events per second")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  sim_cmd->add_option("--duration", sim.duration_s, "Seconds to run")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  sim_cmd->add_option("--seed", sim.seed, "Random seed")->capture_default_str();

  std::string locomo_brokers, locomo_topic = "agent.activity.v1", locomo_file;
  auto* loc_cmd = app.add_subcommand(
    "replay-locomo", "Publish every dialog turn of a LoCoMo JSON file");
  loc_cmd->add_option("--brokers", locomo_brokers, "Kafka bootstrap servers")
    ->required();
  loc_cmd->add_option("--topic", locomo_topic, "Topic")->capture_default_str();
  loc_cmd->add_option("file", locomo_file, "LoCoMo JSON file")
    ->required()
    ->check(CLI::ExistingFile);

  pipeline::locomo_bench_options lb;
  std::string lb_modes = "vector,keyword,hybrid";
  bool lb_no_publish = false;
  auto* lb_cmd = app.add_subcommand(
    "bench-locomo",
    "LoCoMo retrieval benchmark against a running pipeline: R@5/10/25/50");
  lb_cmd->add_option("--brokers", lb.brokers, "Kafka bootstrap servers");
  lb_cmd->add_option("--topic", lb.topic, "Topic")->capture_default_str();
  lb_cmd->add_option("--http", lb.http, "agentmem HTTP base URL")
    ->capture_default_str();
  lb_cmd->add_option("--data", lb.data, "LoCoMo JSON file")
    ->required()
    ->check(CLI::ExistingFile);
  lb_cmd->add_option("--modes", lb_modes, "Comma-separated search modes")
    ->capture_default_str();
  lb_cmd->add_option("--token", lb.token,
                     "API bearer token (default: $AGENTMEM_TOKEN)");
  lb_cmd->add_flag("--no-publish", lb_no_publish,
                   "Only ask the questions (turns already ingested)");
  lb_cmd->add_option("--wait-seconds", lb.wait_seconds,
                     "Longest wait until every conversation is searchable")
    ->capture_default_str()
    ->check(CLI::Range(1, 86400));
  bool lb_in_process = false, lb_no_sweep = false;
  std::vector<std::string> lb_providers;
  std::string lb_work_dir = "/tmp/agentmem-bench-locomo";
  domain::http_reranker_config lb_rerank;
  size_t lb_rerank_depth = 50;
  lb_cmd->add_flag("--in-process", lb_in_process,
                   "No pipeline: extract, embed and index in this process, "
                   "then ask through the retriever (every --provider, every "
                   "mode, and the settings sweep)");
  lb_cmd->add_option(
    "--provider", lb_providers,
    "--in-process: \"hashing\" or \"openai,label=L,url=U,model=M,dims=D"
    "[,query_prefix=P][,passage_prefix=P][,query_input_type=T]"
    "[,passage_input_type=T]\"; repeatable (default: hashing)");
  std::vector<std::string> lb_samples;
  lb_cmd->add_option("--sample", lb_samples,
                     "--in-process: only this conversation (sample_id); "
                     "repeatable");
  lb_cmd->add_flag("--no-sweep", lb_no_sweep,
                   "--in-process: only the modes with the defaults");
  lb_cmd->add_option("--work-dir", lb_work_dir,
                     "--in-process: where the indexes are built")
    ->capture_default_str();
  lb_cmd->add_option("--rerank-url", lb_rerank.base_url,
                     "--in-process: also re-rank through POST {URL}/rerank");
  lb_cmd->add_option("--rerank-model", lb_rerank.model, "Re-ranking model");
  lb_cmd->add_option("--rerank-api", lb_rerank.api, "cohere or tei")
    ->capture_default_str();
  lb_cmd->add_option("--rerank-depth", lb_rerank_depth,
                     "Candidates re-ranked")
    ->capture_default_str();
  storage::bm25_params lb_bm25;
  lb_cmd->add_option("--bm25-k1", lb_bm25.k1,
                     "--in-process: BM25 k1 of the keyword indexes")
    ->capture_default_str();
  lb_cmd->add_option("--bm25-b", lb_bm25.b,
                     "--in-process: BM25 b of the keyword indexes")
    ->capture_default_str();
  std::vector<std::string> lb_bm25_grid;
  lb_cmd->add_option("--bm25-grid", lb_bm25_grid,
                     "--in-process: also keyword and hybrid with these BM25 "
                     "parameters, K1:B each (e.g. 0.6:0.4 0.9:0.6)");

  CLI11_PARSE(app, argc, argv);

  if (*lb_cmd && lb_in_process) {
    pipeline::locomo_sweep_options so;
    so.data = lb.data;
    so.work_dir = lb_work_dir;
    so.sweep = !lb_no_sweep;
    so.samples = lb_samples;
    so.rerank_depth = lb_rerank_depth;
    so.bm25 = lb_bm25;
    for (auto& g : lb_bm25_grid) {
      auto colon = g.find(':');
      if (colon == std::string::npos) {
        std::cerr << "--bm25-grid: expected K1:B, got '" << g << "'\n";
        return 2;
      }
      storage::bm25_params bp;
      bp.k1 = std::stof(g.substr(0, colon));
      bp.b = std::stof(g.substr(colon + 1));
      so.bm25_grid.push_back(bp);
    }
    so.modes.clear();
    std::stringstream ms{lb_modes};
    for (std::string m; std::getline(ms, m, ',');)
      if (!m.empty())
        so.modes.push_back(m);
    std::shared_ptr<domain::reranker> reranker;
    if (!lb_rerank.base_url.empty()) {
      auto r = domain::http_reranker::make(lb_rerank);
      if (!r)
        return fail("--rerank-url", r.error());
      reranker = *r;
    }
    if (lb_providers.empty())
      lb_providers.push_back("hashing");
    for (auto& spec : lb_providers) {
      auto p = pipeline::parse_provider_spec(spec);
      if (!p)
        return fail("--provider", p.error());
      p->reranker = reranker;
      so.providers.push_back(std::move(*p));
    }
    auto rows = pipeline::run_locomo_sweep(so);
    if (!rows)
      return fail("bench-locomo", rows.error());
    std::cout << pipeline::to_markdown(*rows);
    return 0;
  }
  if (*lb_cmd) {
    lb.publish = !lb_no_publish;
    if (lb.token.empty())
      if (const char* t = std::getenv("AGENTMEM_TOKEN"))
        lb.token = t;
    if (lb.publish && lb.brokers.empty()) {
      std::cerr << "bench-locomo needs --brokers (or --no-publish)\n";
      return 1;
    }
    lb.modes.clear();
    std::stringstream ss{lb_modes};
    for (std::string m; std::getline(ss, m, ',');)
      if (!m.empty())
        lb.modes.push_back(m);
    auto rows = pipeline::run_locomo_bench(lb);
    if (!rows)
      return fail("bench-locomo", rows.error());
    std::cout << pipeline::to_markdown(*rows);
    return 0;
  }

  if (*token_cmd)
    return cmd_token(static_cast<bool>(*token_new), token_scope, token_name);
  if (*dev_cmd)
    return cmd_dev(dev);
  if (*run_cmd)
    return cmd_run(config_path);
  if (*mig_cmd) {
    if (config_path.empty() && migrate_url.empty()) {
      std::cerr << "migrate needs --config or --postgres-url\n";
      return 1;
    }
    return cmd_migrate(config_path, migrate_url);
  }
  if (*backup_cmd)
    return cmd_backup(config_path, backup_to);
  if (*restore_cmd)
    return cmd_restore(config_path, restore_from, restore_force);
  if (*sim_cmd) {
    install_signal_handlers();
    std::atomic<bool> stop{false};
    std::thread watch([&] {
      while (!stop && stop_signal.load() == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      stop = true;
    });
    auto n = kafka::run_simulator(sim, &stop);
    stop = true;
    watch.join();
    if (!n)
      return fail("simulate", n.error());
    std::cout << "published " << *n << " events to " << sim.topic << std::endl;
    return 0;
  }
  if (*loc_cmd) {
    auto n = kafka::replay_locomo(locomo_brokers, locomo_topic, locomo_file, {});
    if (!n)
      return fail("replay-locomo", n.error());
    std::cout << "published " << *n << " LoCoMo turns to " << locomo_topic
              << std::endl;
    return 0;
  }
  return 0;
}
