#include "pipeline/topology.hpp"
#include "pipeline/security.hpp"

#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "actors/aggregation.hpp"
#include "actors/outbox_publisher.hpp"
#include "actors/webhook_dispatcher.hpp"
#include "pipeline/analytics_service.hpp"
#include "actors/capture.hpp"
#include "actors/embedding.hpp"
#include "actors/extraction.hpp"
#include "actors/fault_injection.hpp"
#include "actors/index_sync.hpp"
#include "actors/ingress.hpp"
#include "actors/retention.hpp"
#include "actors/supervisor.hpp"
#include "actors/vector_linking.hpp"
#include "actors/working_memory_sweeper.hpp"
#include "actors/writer.hpp"
#include "kafka/admin.hpp"
#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "messages/type_ids.hpp"
#include "domain/http_embedder.hpp"
#include "metrics/registry.hpp"
#include "storage/collections.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/derived_sync.hpp"
#include "storage/embedding_cache.hpp"
#include "storage/governance_store.hpp"
#include "storage/postgres_store.hpp"
#include "storage/routing_store.hpp"

namespace fs = std::filesystem;

namespace agentmem::pipeline {

namespace {

// [kafka.properties] go to the consumer and the DLQ producer; consumer-only
// settings are left out of the producer's copy, where librdkafka would
// only warn that it ignores them.
std::map<std::string, std::string>
producer_properties(const std::map<std::string, std::string>& props) {
  static const char* consumer_only[] = {
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "fetch.",
    "partition.assignment.strategy",
    "isolation.level",
    "queued.",
    "enable.partition.eof",
    "check.crcs",
    "consume.callback.max.messages"};
  std::map<std::string, std::string> out;
  for (auto& [k, v] : props) {
    bool skip = false;
    for (auto* c : consumer_only)
      skip = skip || k.rfind(c, 0) == 0;
    if (!skip)
      out.emplace(k, v);
  }
  return out;
}

// host:port other nodes forward reads to: [cluster] advertise_address, or
// the HTTP host (the hostname when it listens on a wildcard) and port.
std::string advertised_address(const pipeline_config& c, uint16_t port) {
  if (!c.advertise_address.empty())
    return c.advertise_address;
  std::string host = c.http_host;
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char name[256] = {};
    host = ::gethostname(name, sizeof name - 1) == 0 && name[0] ? name
                                                                 : "localhost";
  }
  return host + ":" + std::to_string(port);
}

} // namespace

topology::topology(caf::actor_system& sys, pipeline_config cfg)
  : sys_(sys), cfg_(std::move(cfg)), status_(std::make_shared<actors::health>()) {
}

topology::~topology() {
  if (!stopped_)
    stop();
}

caf::error topology::catch_up() {
  // Shards are opened when the consumer group assigns their partitions
  // (actors/index_sync); before consuming, only the deletions log: it loads
  // the tombstones and brings RocksDB up to date (docs/data-governance.md).
  auto gov = storage::governance_store::connect(cfg_.postgres_url);
  if (!gov)
    return gov.error();
  storage::derived_stores stores{shards_.get(), hot_.get(), working_.get(),
                                 embedder_.get()};
  auto del = storage::sync_deletions(**gov, stores, tombstones_.get(), 0);
  if (!del)
    return del.error();
  deletion_seq_ = del->seq;
  if (del->hot.messages + del->hot.sessions + del->hot.docs > 0)
    spdlog::info("[topology] applied {} deletion log entries to RocksDB",
                 del->entries);
  if (fs::exists(fs::path{cfg_.data_dir} / "index" / "snapshot"))
    spdlog::warn("[topology] {}/index holds an unsharded index snapshot of "
                 "an older version; it is no longer used (shards live in "
                 "{}/shards) and may be deleted",
                 cfg_.data_dir, cfg_.data_dir);
  return caf::none;
}

caf::expected<std::unique_ptr<topology>>
topology::start(caf::actor_system& sys, const pipeline_config& cfg) {
  if (auto err = validate(cfg))
    return err;
  // Auth first: a node without tokens must not start at all.
  auto auth = load_auth(cfg);
  if (!auth)
    return auth.error();
  std::unique_ptr<topology> t{new topology(sys, cfg)};
  auto& c = t->cfg_;
  std::error_code ec;
  fs::create_directories(c.data_dir, ec);
  if (ec)
    return make_error(errc::io_error, "cannot create data dir " + c.data_dir
                                        + ": " + ec.message());
  // 1. Canonical storage: migrations.
  {
    auto store = storage::postgres_store::connect(c.postgres_url);
    if (!store)
      return store.error();
    auto n = (*store)->migrate();
    if (!n)
      return n.error();
    if (*n > 0)
      spdlog::info("[topology] applied {} migration(s)", *n);
    t->status_->migrated = true;
    t->status_->postgres_ok = true;
  }
  // 2. Derived storage and the embedder.
  auto http_cfg = c.embedding_http;
  if (c.embedding_provider == "openai" && !http_cfg.persistent) {
    auto cache = storage::embedding_cache::open(
      (fs::path{c.data_dir} / "embedding_cache").string());
    if (!cache)
      return cache.error();
    http_cfg.persistent = *cache;
  }
  auto emb = domain::make_embedder(c.embedding_provider, c.embedding_dims,
                                   http_cfg);
  if (!emb)
    return emb.error();
  t->embedder_ = *emb;
  if (auto err = storage::check_collection(c.postgres_url,
                                           storage::memories_collection,
                                           t->embedder_->model(),
                                           t->embedder_->dims(),
                                           t->embedder_->instructions()))
    return err;
  auto hot = storage::hot_state::open((fs::path{c.data_dir} / "rocksdb").string(),
                                      c.buffer_messages);
  if (!hot)
    return hot.error();
  t->hot_ = std::move(*hot);
  storage::shard_set_config scfg_shards;
  scfg_shards.dir = (fs::path{c.data_dir} / "shards").string();
  scfg_shards.vectors.dims = t->embedder_->dims();
  scfg_shards.vectors.model = t->embedder_->model();
  // One HNSW graph per partition, grown by doubling.
  scfg_shards.vectors.initial_capacity = 16384;
  t->shards_ = std::make_shared<storage::shard_set>(scfg_shards);
  t->node_id_ = effective_node_id(c);
  t->view_ = std::make_shared<actors::cluster_view>(c.node_timeout);
  auto working = storage::working_memory::open(
    (fs::path{c.data_dir} / "working_memory").string(), c.memory.working);
  if (!working)
    return working.error();
  t->working_ = std::move(*working);
  t->working_sweeper_ = sys.spawn(
    actors::working_memory_sweeper,
    actors::working_memory_sweeper_config{t->working_, c.memory.working_sweep});
  if (auto err = t->catch_up())
    return err;
  // index_sync owns the shards' life: warm-up on assignment, tailing,
  // hand-off on revoke (docs/operations.md, "Scaling out").
  actors::index_sync_config xs;
  xs.postgres_url = c.postgres_url;
  xs.shards = t->shards_;
  xs.hot = t->hot_;
  xs.working = t->working_;
  xs.embedder = t->embedder_;
  xs.snapshot_interval = c.snapshot_interval;
  xs.tombstones = t->tombstones_;
  xs.deletion_seq = t->deletion_seq_;
  xs.applied = t->applied_;
  xs.group = c.group_id;
  xs.topic = c.topic;
  xs.node_id = t->node_id_;
  xs.view = t->view_;
  xs.status = t->status_;
  t->index_sync_ = sys.spawn<caf::detached>(actors::index_sync, xs);
  if (c.retention_enabled) {
    actors::retention_config rc;
    rc.postgres_url = c.postgres_url;
    rc.interval = c.retention_interval;
    rc.policy.close_idle_sessions_ms = c.retention_close_idle_minutes * 60000;
    rc.policy.delete_sessions_after_ms = c.retention_session_days * 86400000;
    rc.policy.min_importance = c.retention_min_importance;
    rc.policy.delete_memories_after_ms = c.retention_memory_days * 86400000;
    rc.policy.max_rows_per_pass = c.retention_max_rows;
    rc.policy.grace_ms = c.retention_grace_s * 1000;
    rc.embedder = t->embedder_;
    t->retention_ = sys.spawn<caf::detached>(actors::retention, rc);
  }
  if (!c.fault_stage.empty()) {
    spdlog::warn("[topology] TEST-ONLY fault injection armed: stage {} fails "
                 "at batch {} ({} time(s))",
                 c.fault_stage, c.fault_at_batch, c.fault_times);
    actors::arm_fault(c.fault_stage, c.fault_at_batch, c.fault_times);
  }
  // 3. Kafka: topics (when asked to), DLQ producer, ingress.
  if (c.create_topics) {
    if (auto err = kafka::create_topics(
          c.brokers,
          {{c.topic, c.topic_partitions}, {c.dlq_topic, c.topic_partitions},
           {c.analytics_topic, c.topic_partitions},
           {c.memory_stream_topic, c.topic_partitions}},
          c.kafka_properties, std::chrono::seconds(30)))
      return err;
  }
  auto prod = kafka::producer::create(c.brokers,
                                      producer_properties(c.kafka_properties));
  if (!prod)
    return prod.error();
  t->dlq_producer_ = std::move(*prod);
  // Each outbox relay has its own producer: its flush() waits for its
  // records only.
  auto spawn_publisher = [&](actors::outbox_publisher_config pc,
                             const std::string& topic,
                             std::chrono::milliseconds interval,
                             caf::actor& out) -> caf::error {
    auto p = kafka::producer::create(c.brokers,
                                     producer_properties(c.kafka_properties));
    if (!p)
      return p.error();
    pc.postgres_url = c.postgres_url;
    pc.topic = topic;
    pc.producer = std::move(*p);
    pc.interval = interval;
    out = sys.spawn<caf::detached>(actors::outbox_publisher, std::move(pc));
    return caf::none;
  };
  if (auto err = spawn_publisher(actors::analytics_publisher_config(),
                                 c.analytics_topic,
                                 c.analytics_publish_interval,
                                 t->analytics_publisher_))
    return err;
  auto mpc = actors::memory_publisher_config();
  for (auto& w : c.webhooks.endpoints)
    mpc.outbox.webhooks.push_back({w.name, w.user_id_prefix});
  if (auto err = spawn_publisher(std::move(mpc), c.memory_stream_topic,
                                 c.memory_stream_publish_interval,
                                 t->memory_publisher_))
    return err;
  if (!c.webhooks.endpoints.empty()) {
    auto wc = c.webhooks;
    wc.postgres_url = c.postgres_url;
    t->webhook_dispatcher_ = sys.spawn<caf::detached>(
      actors::webhook_dispatcher, std::move(wc));
  }
  t->pricing_ = std::make_shared<const domain::pricing_table>(c.pricing);
  actors::ingress_config icf;
  icf.consumer.brokers = c.brokers;
  icf.consumer.group_id = c.group_id;
  icf.consumer.topics = {c.topic};
  icf.consumer.properties = c.kafka_properties;
  // Static membership and incremental rebalancing unless [kafka.properties]
  // say otherwise (docs/operations.md, "Scaling out").
  if (c.static_membership)
    icf.consumer.properties.emplace("group.instance.id", t->node_id_);
  icf.consumer.properties.emplace("partition.assignment.strategy",
                                  c.assignment == "eager"
                                    ? "range,roundrobin"
                                    : "cooperative-sticky");
  icf.consumer.leave_group_on_close = c.leave_on_shutdown;
  icf.max_batch_records = c.max_batch_records;
  icf.max_batch_wait = c.max_batch_wait;
  icf.max_in_flight = c.max_in_flight;
  icf.status = t->status_;
  icf.acks = t->acks_;
  auto url = c.postgres_url;
  auto group = c.group_id;
  auto topic = c.topic;
  icf.stored_offsets = [url, group, topic](
                         const std::vector<partition_offset>& assigned) {
    // Resume from the offsets committed with the rows (exactly-once effect
    // in Postgres); partitions without a stored offset keep -1.
    std::vector<partition_offset> out = assigned;
    auto store = storage::postgres_store::connect(url);
    if (!store) {
      spdlog::error("[ingress] cannot load stored offsets: {}",
                    describe(store.error()));
      return out;
    }
    auto stored = (*store)->load_offsets(group, topic);
    if (!stored) {
      spdlog::error("[ingress] cannot load stored offsets: {}",
                    describe(stored.error()));
      return out;
    }
    for (auto& o : out)
      for (auto& s : *stored)
        if (s.topic == o.topic && s.partition == o.partition)
          o.next_offset = s.next_offset;
    return out;
  };
  // The routing table is written from the rebalance callback: this node
  // owns the assigned partitions now (warming until index_sync serves).
  auto sync = t->index_sync_;
  auto node_id = t->node_id_;
  icf.on_assigned = [url, group, topic, node_id,
                     sync](const std::vector<partition_offset>& assigned) {
    std::vector<int32_t> parts;
    for (auto& a : assigned)
      parts.push_back(a.partition);
    std::vector<int64_t> generations(parts.size(), 0);
    auto rs = storage::routing_store::connect(url);
    auto claims = rs ? (*rs)->claim(group, topic, node_id, parts)
                     : caf::expected<std::vector<storage::partition_claim>>{
                       rs.error()};
    if (!claims) {
      spdlog::error("[ingress] cannot record partition ownership: {}",
                    describe(claims.error()));
    } else {
      for (auto& cl : *claims)
        for (size_t i = 0; i < parts.size(); ++i)
          if (parts[i] == cl.partition)
            generations[i] = cl.generation;
    }
    caf::anon_send(sync, assign_atom::value, parts, generations);
  };
  icf.on_revoked = [sync](const std::vector<partition_offset>& revoked) {
    std::vector<int32_t> parts;
    for (auto& r : revoked)
      parts.push_back(r.partition);
    caf::anon_send(sync, revoke_atom::value, parts);
  };
  t->ingress_ = sys.spawn<caf::detached>(actors::ingress, icf);
  // 4. The supervised stage chain, spawned back to front.
  actors::supervisor_config scfg;
  scfg.ingress = t->ingress_;
  scfg.max_restarts = c.max_restarts;
  scfg.window = c.restart_window;
  auto* raw = t.get();
  scfg.spawn_chain = [raw](caf::local_actor* self) {
    auto& c = raw->cfg_;
    actors::vector_linking_config vcfg{raw->ingress_, raw->shards_,
                                       raw->hot_, raw->acks_,
                                       raw->tombstones_, raw->applied_};
    auto linker = self->spawn(actors::vector_linking, vcfg);
    actors::writer_config wcfg;
    wcfg.next = linker;
    wcfg.postgres_url = c.postgres_url;
    wcfg.consumer_group = c.group_id;
    wcfg.embedding_model = raw->embedder_->model();
    wcfg.dlq_topic = c.dlq_topic;
    wcfg.dlq_producer = raw->dlq_producer_;
    wcfg.status = raw->status_;
    wcfg.tombstones = raw->tombstones_;
    wcfg.hot = raw->hot_;
    wcfg.working = raw->working_;
    wcfg.embedder = raw->embedder_;
    wcfg.applied = raw->applied_;
    wcfg.analytics.grace_ms = c.analytics_grace_s * 1000;
    wcfg.analytics.idle_partition_ms = c.analytics_idle_partition_s * 1000;
    auto writer = self->spawn<caf::detached>(actors::writer, wcfg);
    auto agg = self->spawn(actors::aggregation,
                           actors::aggregation_config{writer, raw->pricing_});
    // Detached: an HTTP provider blocks on network I/O (seconds per batch,
    // more while retrying), which must not hold a scheduler thread.
    auto emb = self->spawn<caf::detached>(
      actors::embedding,
      actors::embedding_config{agg, raw->embedder_, raw->shards_, raw->hot_,
                               c.memory.dedup});
    actors::extraction_config xcfg{emb, raw->hot_, {}, c.memory.rolling,
                                   raw->working_};
    auto ext = self->spawn(actors::extraction, xcfg);
    actors::capture_config ccfg{ext, {}, raw->tombstones_};
    auto cap = self->spawn(actors::capture, ccfg);
    std::vector<caf::actor> chain{cap, ext, emb, agg, writer, linker};
    std::lock_guard<std::mutex> guard{raw->chain_mtx_};
    raw->chain_ = chain;
    return chain;
  };
  t->supervisor_ = sys.spawn(actors::supervisor, scfg);
  // A watcher turns the supervisor's death into `failed()`.
  auto* failed = &t->failed_;
  t->watcher_ = sys.spawn([failed, sup = t->supervisor_](
                            caf::event_based_actor* self) -> caf::behavior {
    self->monitor(sup);
    self->set_down_handler([=](caf::down_msg& dm) {
      if (dm.reason && dm.reason != caf::exit_reason::user_shutdown)
        failed->store(true);
      self->quit();
    });
    return {[](int) {}};
  });
  domain::embedding_errors_counter(); // the series exists with any provider
  // /readyz as a metric, for alerting (deploy/prometheus/alerts.yml).
  metrics::global().set_gauge_function(
    "agentmem_ready", "1 while GET /readyz answers ready, else 0.",
    [status = t->status_] {
      return status->not_ready_reason().empty() ? 1.0 : 0.0;
    });
  // 5. HTTP.
  fusion_params fusion;
  fusion.rrf_k = c.rrf_k;
  fusion.keyword_weight = c.keyword_weight;
  fusion.neighbor_weight = c.neighbor_weight;
  fusion.prf = {c.prf_docs, c.prf_terms, c.prf_weight};
  fusion.temporal_weight = c.temporal_weight;
  fusion.speaker_weight = c.speaker_weight;
  fusion.vector_weight = c.vector_weight >= 0
                           ? c.vector_weight
                           : default_vector_weight(*t->embedder_);
  std::shared_ptr<domain::reranker> reranker;
  if (!c.rerank_http.base_url.empty()) {
    auto r = domain::http_reranker::make(c.rerank_http);
    if (!r)
      return r.error();
    reranker = *r;
    fusion.rerank_depth = c.rerank_depth;
    fusion.rerank_weight = c.rerank_weight;
  }
  t->backend_ = std::make_unique<api_backend>(t->embedder_, t->shards_,
                                              t->hot_, c.postgres_url,
                                              t->status_, t->working_, fusion,
                                              std::move(reranker));
  t->backend_->set_governance(std::make_shared<governance_service>(
    c.postgres_url, t->shards_, t->hot_, t->tombstones_, t->working_,
    t->embedder_));
  read_router_config route_cfg;
  route_cfg.postgres_url = c.postgres_url;
  route_cfg.group = c.group_id;
  route_cfg.topic = c.topic;
  route_cfg.node_id = t->node_id_;
  route_cfg.secret = c.cluster_secret;
  route_cfg.forward_timeout = c.forward_timeout;
  route_cfg.view = t->view_;
  route_cfg.shards = t->shards_;
  t->backend_->set_router(std::make_shared<read_router>(route_cfg));
  api::server_config hcfg;
  hcfg.host = c.http_host;
  hcfg.port = c.http_port;
  hcfg.auth = std::move(*auth);
  hcfg.rate_limit_per_s = c.rate_limit_per_s;
  hcfg.rate_limit_burst = c.rate_limit_burst;
  hcfg.max_body_bytes = c.max_body_bytes;
  hcfg.max_response_bytes = c.max_response_bytes;
  hcfg.ops_listener = c.http_ops_listener;
  hcfg.ops_host = c.http_ops_host;
  hcfg.ops_port = c.http_ops_port;
  auto analytics = std::make_shared<analytics_service>(c.postgres_url);
  if (!c.skills_file.empty())
    if (auto err = analytics->seed_skills(c.skills_file))
      return err;
  hcfg.analytics = std::move(analytics);
  hcfg.node_secret = c.cluster_secret;
  t->http_ = std::make_unique<api::http_server>(hcfg, *t->backend_,
                                                metrics::global());
  auto port = t->http_->start();
  if (!port)
    return port.error();
  t->http_port_ = *port;
  // 6. Membership: heartbeat with the advertised address, routing table.
  actors::membership_config mc;
  mc.postgres_url = c.postgres_url;
  mc.node_id = t->node_id_;
  mc.http_address = advertised_address(c, t->http_port_);
  mc.group = c.group_id;
  mc.topic = c.topic;
  mc.interval = c.heartbeat_interval;
  mc.shards = t->shards_;
  mc.view = t->view_;
  t->membership_ = sys.spawn<caf::detached>(actors::membership, mc);
  spdlog::info("[topology] node {} (advertised at {}), assignment {}{}",
               t->node_id_, mc.http_address, c.assignment,
               c.static_membership ? ", static membership" : "");
  return t;
}

caf::error topology::stop() {
  if (stopped_)
    return caf::none;
  stopped_ = true;
  status_->stopping = true;
  caf::error result;
  caf::scoped_actor self{sys_};
  auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
    cfg_.shutdown_timeout);
  // 1. Ingress: stop fetching, drain, commit, leave the group.
  if (ingress_) {
    self->request(ingress_, deadline, stop_atom::value)
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) {
                 result = make_error(errc::timeout,
                                     "draining in-flight batches: "
                                       + sys_.render(err));
               });
  }
  // 1b. Leave the routing table: routers skip this node at once.
  if (membership_) {
    self->request(membership_, deadline, stop_atom::value)
      .receive([](caf::ok_atom) {}, [](caf::error&) {});
  }
  // 2. Bring the shards to the end of Postgres and snapshot them.
  if (index_sync_) {
    self->request(index_sync_, deadline, flush_atom::value)
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) {
                 spdlog::warn("[topology] index snapshot at shutdown failed: {}",
                              sys_.render(err));
               });
  }
  // 3. Actors down, in reverse order of start.
  if (supervisor_)
    self->send_exit(supervisor_, caf::exit_reason::user_shutdown);
  if (ingress_)
    self->send_exit(ingress_, caf::exit_reason::user_shutdown);
  {
    std::lock_guard<std::mutex> guard{chain_mtx_};
    for (auto& a : chain_)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& a : chain_)
      self->wait_for(a);
    chain_.clear();
  }
  if (supervisor_)
    self->wait_for(supervisor_);
  if (index_sync_) {
    self->send_exit(index_sync_, caf::exit_reason::user_shutdown);
    self->wait_for(index_sync_);
  }
  if (working_sweeper_) {
    self->send_exit(working_sweeper_, caf::exit_reason::user_shutdown);
    self->wait_for(working_sweeper_);
  }
  if (retention_) {
    self->send_exit(retention_, caf::exit_reason::user_shutdown);
    self->wait_for(retention_);
  }
  // Publish what the drained batches closed or changed; what is left
  // stays in the outboxes for the next start.
  for (auto* pub : {&analytics_publisher_, &memory_publisher_}) {
    if (!*pub)
      continue;
    self->request(*pub, std::chrono::seconds(10), flush_atom::value)
      .receive([](uint64_t) {},
               [&](caf::error& err) {
                 spdlog::warn("[topology] outbox not drained at "
                              "shutdown: {}", sys_.render(err));
               });
    self->send_exit(*pub, caf::exit_reason::user_shutdown);
    self->wait_for(*pub);
  }
  if (webhook_dispatcher_) {
    self->send_exit(webhook_dispatcher_, caf::exit_reason::user_shutdown);
    self->wait_for(webhook_dispatcher_);
  }
  if (ingress_)
    self->wait_for(ingress_);
  // 4. HTTP, then the derived stores.
  if (http_)
    http_->stop();
  if (dlq_producer_)
    dlq_producer_->flush(std::chrono::seconds(5));
  if (hot_)
    hot_->flush();
  return result;
}

} // namespace agentmem::pipeline
