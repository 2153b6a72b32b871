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
  auto* raw = t.get();
  if (auto err = t->lifecycle_.start(
        [&] { return raw->start_components(std::move(*auth)); }))
    return err;
  return t;
}

caf::error topology::start_components(api::auth_config auth) {
  auto& c = cfg_;
  auto& sys = sys_;
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
    status_->migrated = true;
    status_->postgres_ok = true;
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
  embedder_ = *emb;
  if (auto err = storage::check_collection(c.postgres_url,
                                           storage::memories_collection,
                                           embedder_->model(),
                                           embedder_->dims(),
                                           embedder_->instructions()))
    return err;
  auto hot = storage::hot_state::open((fs::path{c.data_dir} / "rocksdb").string(),
                                      c.buffer_messages,
                                      c.buffer_cache_mb << 20);
  if (!hot)
    return hot.error();
  hot_ = std::move(*hot);
  // Flushed last: every component that writes RocksDB is down by then.
  lifecycle_.push("rocksdb", [this] {
    if (auto err = hot_->flush())
      spdlog::warn("[topology] RocksDB flush at shutdown failed: {}",
                   describe(err));
    return caf::error{};
  });
  storage::shard_set_config scfg_shards;
  scfg_shards.dir = (fs::path{c.data_dir} / "shards").string();
  scfg_shards.vectors.dims = embedder_->dims();
  scfg_shards.vectors.model = embedder_->model();
  // One HNSW graph per partition, grown by doubling.
  scfg_shards.vectors.initial_capacity = shard_initial_capacity;
  shards_ = std::make_shared<storage::shard_set>(scfg_shards);
  status_->shards = shards_; // readiness: one of them serving
  node_id_ = effective_node_id(c);
  view_ = std::make_shared<actors::cluster_view>(c.node_timeout);
  auto working = storage::working_memory::open(
    (fs::path{c.data_dir} / "working_memory").string(), c.memory.working);
  if (!working)
    return working.error();
  working_ = std::move(*working);
  working_sweeper_ = sys.spawn(
    actors::working_memory_sweeper,
    actors::working_memory_sweeper_config{working_, c.memory.working_sweep});
  push_actor("working_memory_sweeper", working_sweeper_);
  if (auto err = catch_up())
    return err;
  // index_sync owns the shards' life: warm-up on assignment, tailing,
  // hand-off on revoke (docs/operations.md, "Scaling out").
  actors::index_sync_config xs;
  xs.postgres_url = c.postgres_url;
  xs.shards = shards_;
  xs.hot = hot_;
  xs.working = working_;
  xs.embedder = embedder_;
  xs.snapshot_interval = c.snapshot_interval;
  xs.tombstones = tombstones_;
  xs.deletion_seq = deletion_seq_;
  xs.applied = applied_;
  xs.group = c.group_id;
  xs.topic = c.topic;
  xs.node_id = node_id_;
  xs.view = view_;
  xs.status = status_;
  index_sync_ = sys.spawn<caf::detached>(actors::index_sync, xs);
  push_actor("index_sync", index_sync_);
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
    rc.embedder = embedder_;
    retention_ = sys.spawn<caf::detached>(actors::retention, rc);
    push_actor("retention", retention_);
  }
  if (!c.fault_stage.empty()) {
    spdlog::warn("[topology] TEST-ONLY fault injection armed: stage {} fails "
                 "at batch {} ({} time(s))",
                 c.fault_stage, c.fault_at_batch, c.fault_times);
    actors::arm_fault(c.fault_stage, c.fault_at_batch, c.fault_times);
  }
  // 3. Kafka: topics (when asked to), DLQ producer, outbox relays.
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
  dlq_producer_ = std::move(*prod);
  // Flushed once the writer, which dead-letters, is down.
  lifecycle_.push("dlq_producer", [this] {
    dlq_producer_->flush(std::chrono::seconds(5));
    return caf::error{};
  });
  // Each outbox relay has its own producer: its flush() waits for its
  // records only.
  auto spawn_publisher = [&](const char* name,
                             actors::outbox_publisher_config pc,
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
    // Stopped after the stage chain: publishes what the drained batches
    // closed or changed; what is left stays in the outbox for the next
    // start.
    lifecycle_.push(name, [this, hdl = out] {
      caf::scoped_actor self{sys_};
      self->request(hdl, std::chrono::seconds(10), flush_atom::value)
        .receive([](uint64_t) {},
                 [&](caf::error& err) {
                   spdlog::warn("[topology] outbox not drained at "
                                "shutdown: {}", sys_.render(err));
                 });
      self->send_exit(hdl, caf::exit_reason::user_shutdown);
      self->wait_for(hdl);
      return caf::error{};
    });
    return caf::none;
  };
  if (auto err = spawn_publisher("analytics_publisher",
                                 actors::analytics_publisher_config(),
                                 c.analytics_topic,
                                 c.analytics_publish_interval,
                                 analytics_publisher_))
    return err;
  auto mpc = actors::memory_publisher_config();
  for (auto& w : c.webhooks.endpoints)
    mpc.outbox.webhooks.push_back({w.name, w.user_id_prefix});
  if (auto err = spawn_publisher("memory_publisher", std::move(mpc),
                                 c.memory_stream_topic,
                                 c.memory_stream_publish_interval,
                                 memory_publisher_))
    return err;
  if (!c.webhooks.endpoints.empty()) {
    auto wc = c.webhooks;
    wc.postgres_url = c.postgres_url;
    webhook_dispatcher_ = sys.spawn<caf::detached>(
      actors::webhook_dispatcher, std::move(wc));
    push_actor("webhook_dispatcher", webhook_dispatcher_);
  }
  pricing_ = std::make_shared<const domain::pricing_table>(c.pricing);
  domain::embedding_errors_counter(); // the series exists with any provider
  // /readyz as a metric, for alerting (deploy/prometheus/alerts.yml).
  metrics::global().set_gauge_function(
    "agentmem_ready", "1 while GET /readyz answers ready, else 0.",
    [status = std::weak_ptr<const actors::health>{status_}] {
      // Weak: the registry is global and outlives this node.
      auto s = status.lock();
      return s && s->not_ready_reason().empty() ? 1.0 : 0.0;
    });
  // 4. HTTP, before consuming starts: it stops after the stage chain, so
  // that reads are served and /readyz says "shutting down" while the node
  // drains.
  if (auto err = start_http(std::move(auth)))
    return err;
  // 5. Ingress and the supervised stage chain: consuming starts.
  start_ingress();
  start_stage_chain();
  // Shutdown begins below (last pushed, first run). After the drain the
  // shards are brought to the end of Postgres and snapshotted, before the
  // stage chain goes down.
  lifecycle_.push("index_snapshot", [this] {
    caf::scoped_actor self{sys_};
    self->request(index_sync_, shutdown_deadline(), flush_atom::value)
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) {
                 spdlog::warn("[topology] index snapshot at shutdown failed: {}",
                              sys_.render(err));
               });
    return caf::error{};
  });
  // 6. Membership: heartbeat with the advertised address, routing table.
  actors::membership_config mc;
  mc.postgres_url = c.postgres_url;
  mc.node_id = node_id_;
  mc.http_address = advertised_address(c, http_port_);
  mc.group = c.group_id;
  mc.topic = c.topic;
  mc.interval = c.heartbeat_interval;
  mc.shards = shards_;
  mc.view = view_;
  membership_ = sys.spawn<caf::detached>(actors::membership, mc);
  // Leaving the routing table right after the drain: routers skip this
  // node at once.
  lifecycle_.push("membership", [this] {
    caf::scoped_actor self{sys_};
    self->request(membership_, shutdown_deadline(), stop_atom::value)
      .receive([](caf::ok_atom) {}, [](caf::error&) {});
    self->send_exit(membership_, caf::exit_reason::user_shutdown);
    self->wait_for(membership_);
    return caf::error{};
  });
  // First at shutdown: stop fetching, drain the in-flight batches, commit,
  // leave the group. The only step whose failure fails the stop.
  lifecycle_.push("ingress_drain", [this] {
    caf::error result;
    caf::scoped_actor self{sys_};
    self->request(ingress_, shutdown_deadline(), stop_atom::value)
      .receive([](caf::ok_atom) {},
               [&](caf::error& err) {
                 result = make_error(errc::timeout,
                                     "draining in-flight batches: "
                                       + sys_.render(err));
               });
    return result;
  });
  spdlog::info("[topology] node {} (advertised at {}), assignment {}{}",
               node_id_, mc.http_address, c.assignment,
               c.static_membership ? ", static membership" : "");
  return caf::none;
}

std::chrono::milliseconds topology::shutdown_deadline() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
    cfg_.shutdown_timeout);
}

void topology::push_actor(std::string name, caf::actor hdl) {
  lifecycle_.push(std::move(name), [this, hdl] {
    caf::scoped_actor self{sys_};
    self->send_exit(hdl, caf::exit_reason::user_shutdown);
    self->wait_for(hdl);
    return caf::error{};
  });
}

caf::error topology::start_http(api::auth_config auth) {
  auto& c = cfg_;
  fusion_params fusion;
  fusion.rrf_k = c.rrf_k;
  fusion.keyword_weight = c.keyword_weight;
  fusion.neighbor_weight = c.neighbor_weight;
  fusion.prf = {c.prf_docs, c.prf_terms, c.prf_weight};
  fusion.temporal_weight = c.temporal_weight;
  fusion.speaker_weight = c.speaker_weight;
  fusion.vector_weight = c.vector_weight >= 0
                           ? c.vector_weight
                           : default_vector_weight(*embedder_);
  std::shared_ptr<domain::reranker> reranker;
  if (!c.rerank_http.base_url.empty()) {
    auto r = domain::http_reranker::make(c.rerank_http);
    if (!r)
      return r.error();
    reranker = *r;
    fusion.rerank_depth = c.rerank_depth;
    fusion.rerank_weight = c.rerank_weight;
  }
  backend_ = std::make_unique<api_backend>(embedder_, shards_, hot_,
                                           c.postgres_url, status_, working_,
                                           fusion, std::move(reranker));
  backend_->set_governance(std::make_shared<governance_service>(
    c.postgres_url, shards_, hot_, tombstones_, working_, embedder_));
  read_router_config route_cfg;
  route_cfg.postgres_url = c.postgres_url;
  route_cfg.group = c.group_id;
  route_cfg.topic = c.topic;
  route_cfg.node_id = node_id_;
  route_cfg.secret = c.cluster_secret;
  route_cfg.forward_timeout = c.forward_timeout;
  route_cfg.view = view_;
  route_cfg.shards = shards_;
  backend_->set_router(std::make_shared<read_router>(route_cfg));
  api::server_config hcfg;
  hcfg.host = c.http_host;
  hcfg.port = c.http_port;
  hcfg.auth = std::move(auth);
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
  http_ = std::make_unique<api::http_server>(hcfg, *backend_,
                                             metrics::global());
  auto port = http_->start();
  if (!port)
    return port.error();
  http_port_ = *port;
  lifecycle_.push("http", [this] {
    http_->stop();
    return caf::error{};
  });
  return caf::none;
}

void topology::start_ingress() {
  auto& c = cfg_;
  actors::ingress_config icf;
  icf.consumer.brokers = c.brokers;
  icf.consumer.group_id = c.group_id;
  icf.consumer.topics = {c.topic};
  icf.consumer.properties = c.kafka_properties;
  // Static membership and incremental rebalancing unless [kafka.properties]
  // say otherwise (docs/operations.md, "Scaling out").
  if (c.static_membership)
    icf.consumer.properties.emplace("group.instance.id", node_id_);
  icf.consumer.properties.emplace("partition.assignment.strategy",
                                  c.assignment == "eager"
                                    ? "range,roundrobin"
                                    : "cooperative-sticky");
  icf.consumer.leave_group_on_close = c.leave_on_shutdown;
  icf.max_batch_records = c.max_batch_records;
  icf.max_batch_wait = c.max_batch_wait;
  icf.max_in_flight = c.max_in_flight;
  icf.status = status_;
  icf.acks = acks_;
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
  auto sync = index_sync_;
  auto node_id = node_id_;
  icf.on_assigned = [url, group, topic, node_id,
                     sync](const std::vector<partition_offset>& assigned) {
    std::vector<int32_t> parts;
    std::vector<int64_t> starts; // -1: none stored
    for (auto& a : assigned) {
      parts.push_back(a.partition);
      starts.push_back(a.next_offset < 0 ? -1 : a.next_offset);
    }
    std::vector<int64_t> generations(parts.size(), 0);
    int64_t activity_blocks = -1; // unknown unless the claim is written
    auto rs = storage::routing_store::connect(url);
    auto claims = rs ? (*rs)->claim(group, topic, node_id, parts)
                     : caf::expected<std::vector<storage::partition_claim>>{
                       rs.error()};
    if (!claims) {
      spdlog::error("[ingress] cannot record partition ownership: {}",
                    describe(claims.error()));
    } else {
      for (auto& cl : *claims) {
        activity_blocks = std::max(activity_blocks, cl.activity_blocks);
        for (size_t i = 0; i < parts.size(); ++i)
          if (parts[i] == cl.partition)
            generations[i] = cl.generation;
      }
    }
    caf::anon_send(sync, assign_atom::value, parts, generations, starts,
                   activity_blocks);
  };
  icf.on_revoked = [sync](const std::vector<partition_offset>& revoked) {
    std::vector<int32_t> parts;
    for (auto& r : revoked)
      parts.push_back(r.partition);
    caf::anon_send(sync, revoke_atom::value, parts);
  };
  ingress_ = sys_.spawn<caf::detached>(actors::ingress, icf);
  // After the drain (ingress_drain) and the stage chain: closes what is
  // left of the consumer when draining timed out.
  push_actor("ingress", ingress_);
}

void topology::start_stage_chain() {
  actors::supervisor_config scfg;
  scfg.ingress = ingress_;
  scfg.max_restarts = cfg_.max_restarts;
  scfg.window = cfg_.restart_window;
  // The chain, spawned back to front; the supervisor alone holds it.
  scfg.spawn_chain = [this](caf::local_actor* self) {
    auto& c = cfg_;
    actors::vector_linking_config vcfg{ingress_, shards_, hot_, acks_,
                                       tombstones_, applied_};
    auto linker = self->spawn(actors::vector_linking, vcfg);
    actors::writer_config wcfg;
    wcfg.next = linker;
    wcfg.postgres_url = c.postgres_url;
    wcfg.consumer_group = c.group_id;
    wcfg.embedding_model = embedder_->model();
    wcfg.dlq_topic = c.dlq_topic;
    wcfg.dlq_producer = dlq_producer_;
    wcfg.status = status_;
    wcfg.tombstones = tombstones_;
    wcfg.hot = hot_;
    wcfg.working = working_;
    wcfg.embedder = embedder_;
    wcfg.applied = applied_;
    wcfg.analytics.enabled = c.analytics_enabled;
    wcfg.analytics.grace_ms = c.analytics_grace_s * 1000;
    wcfg.analytics.idle_partition_ms = c.analytics_idle_partition_s * 1000;
    auto writer = self->spawn<caf::detached>(actors::writer, wcfg);
    auto agg = self->spawn(actors::aggregation,
                           actors::aggregation_config{writer, pricing_,
                                                      c.analytics_enabled});
    // Detached: an HTTP provider blocks on network I/O (seconds per batch,
    // more while retrying), which must not hold a scheduler thread.
    auto emb = self->spawn<caf::detached>(
      actors::embedding,
      actors::embedding_config{agg, embedder_, shards_, hot_,
                               c.memory.dedup});
    actors::extraction_config xcfg{emb, hot_, {}, c.memory.rolling, working_};
    auto ext = self->spawn(actors::extraction, xcfg);
    actors::capture_config ccfg{ext, {}, tombstones_};
    auto cap = self->spawn(actors::capture, ccfg);
    return std::vector<caf::actor>{cap, ext, emb, agg, writer, linker};
  };
  supervisor_ = sys_.spawn(actors::supervisor, scfg);
  // A watcher turns the supervisor's death into `failed()`.
  auto* failed = &failed_;
  watcher_ = sys_.spawn([failed, sup = supervisor_](
                          caf::event_based_actor* self) -> caf::behavior {
    self->monitor(sup);
    self->set_down_handler([=](caf::down_msg& dm) {
      if (dm.reason && dm.reason != caf::exit_reason::user_shutdown)
        failed->store(true);
      self->quit();
    });
    return {[](int) {}};
  });
  // The supervisor replies once every stage is down; when ingress ended
  // first (drained) it is winding down or gone already, and waiting for it
  // is waiting for its last stage.
  lifecycle_.push("stage_chain", [this] {
    caf::scoped_actor self{sys_};
    self->request(supervisor_, caf::infinite, stop_atom::value)
      .receive([](caf::ok_atom) {}, [](caf::error&) {});
    self->wait_for(supervisor_);
    self->wait_for(watcher_);
    return caf::error{};
  });
}

caf::error topology::stop() {
  status_->stopping = true;
  return lifecycle_.stop();
}

topology::memory_usage topology::memory() const {
  memory_usage u;
  u.rocksdb_hot = hot_->rocksdb_memory_bytes();
  u.rocksdb_working = working_->rocksdb_memory_bytes();
  u.buffer_cache = hot_->buffer_cache_usage().first;
  return u;
}

} // namespace agentmem::pipeline
