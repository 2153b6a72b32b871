#include "actors/index_sync.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errc.hpp"
#include "metrics/registry.hpp"
#include "storage/deletion_sync.hpp"
#include "storage/derived_sync.hpp"

namespace agentmem::actors {

namespace {

using tick_atom = caf::atom_constant<caf::atom("isynctick")>;
using self_ptr = caf::stateful_actor<index_sync_state>*;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void count_handoff(const char* event) {
  metrics::global()
    .get_counter("agentmem_shard_handoffs_total",
                 "Shard life events on this node: assigned (opened "
                 "warming), reassigned (handed back while releasing), "
                 "serving (caught up), revoked (releasing), dropped (freed "
                 "after the new owner served).",
                 {{"event", event}})
    .inc();
}

} // namespace

std::string shard_watermark_name(int32_t partition) {
  return "memory_seq/p" + std::to_string(partition);
}

void count_deleted(const storage::deletion_sync_result& r) {
  auto& reg = metrics::global();
  const char* help = "Items removed from this node's derived state by "
                     "user deletion and retention, by store.";
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "vector_index"}})
    .inc(static_cast<double>(r.vectors));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "keyword_index"}})
    .inc(static_cast<double>(r.keyword_docs));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "rocksdb"}})
    .inc(static_cast<double>(r.hot.messages + r.hot.sessions + r.hot.docs));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "working_memory"}})
    .inc(static_cast<double>(r.working.items + r.working.sessions));
  reg.get_counter("agentmem_deleted_items_total", help,
                  {{"store", "embedding_cache"}})
    .inc(static_cast<double>(r.caches_cleared));
  reg.get_counter("agentmem_deletion_log_applied_total",
                  "Deletions-log entries applied by this node.")
    .inc(static_cast<double>(r.entries));
}

storage::derived_stores derived_stores_of(const index_sync_config& cfg) {
  return {cfg.shards.get(), cfg.hot.get(), cfg.working.get(),
          cfg.embedder.get()};
}

namespace {

caf::error connect(self_ptr self, const index_sync_config& cfg) {
  auto& st = self->state;
  if (!st.store) {
    auto s = storage::postgres_store::connect(cfg.postgres_url);
    if (!s)
      return s.error();
    st.store = std::move(*s);
  }
  if (!st.gov) {
    auto g = storage::governance_store::connect(cfg.postgres_url);
    if (!g)
      return g.error();
    st.gov = std::move(*g);
  }
  if (!st.routing) {
    auto r = storage::routing_store::connect(cfg.postgres_url);
    if (!r)
      return r.error();
    st.routing = std::move(*r);
  }
  return caf::none;
}

void reset_connections(self_ptr self) {
  self->state.store.reset();
  self->state.gov.reset();
  self->state.routing.reset();
}

void update_metrics(self_ptr self, const index_sync_config& cfg) {
  auto& st = self->state;
  auto& reg = metrics::global();
  size_t by_phase[3] = {0, 0, 0};
  size_t points = 0;
  int64_t low = -1;
  for (auto& s : cfg.shards->list()) {
    by_phase[static_cast<int>(s.phase)] += 1;
    points += s.points;
    reg
      .get_gauge("agentmem_shard_points",
                 "Vector-index points of each shard this node holds.",
                 {{"partition", std::to_string(s.partition)}})
      .set(static_cast<double>(s.points));
    auto it = st.tracks.find(s.partition);
    if (s.phase != storage::shard_phase::warming && it != st.tracks.end())
      low = low < 0 ? it->second.applied : std::min(low, it->second.applied);
  }
  for (auto phase : {storage::shard_phase::warming,
                     storage::shard_phase::serving,
                     storage::shard_phase::releasing})
    reg
      .get_gauge("agentmem_shards",
                 "Shards (partitions' derived indexes) this node holds, by "
                 "phase: warming, serving, releasing.",
                 {{"phase", storage::to_string(phase)}})
      .set(static_cast<double>(by_phase[static_cast<int>(phase)]));
  st.vectors_gauge->set(static_cast<double>(points));
  st.watermark_gauge->set(
    static_cast<double>(low >= 0 ? low : st.committed_seq));
}

// Snapshots every held shard that is not warming and moved since its last
// snapshot: RocksDB's watermarks for all of them first, made durable by one
// flush, then the indexes, so RocksDB never lags a snapshot. One flush, not
// one per shard: 256 flushes wrote 512 tiny SST files whose compactions
// followed at once (1.8 CPU-s of RocksDB's compaction thread in a 34 s
// steady run of pipeline_bench, and p99 produce -> row twice as high in the
// seconds of the snapshot; docs/performance.md, ninth round).
caf::error snapshot_all(self_ptr self, const index_sync_config& cfg) {
  auto& st = self->state;
  st.last_snapshot = std::chrono::steady_clock::now();
  bool deletions_moved = st.deletion_seq != st.saved_deletion_seq;
  std::vector<std::pair<int32_t, shard_track*>> due;
  for (auto& [p, t] : st.tracks) {
    if (cfg.shards->phase(p) == storage::shard_phase::warming)
      continue; // not caught up: its snapshot would gain nothing yet
    if (deletions_moved)
      t.saved = -1; // deleted points must leave the snapshot
    if (t.applied != t.saved)
      due.emplace_back(p, &t);
  }
  for (auto& [p, t] : due)
    if (auto err = cfg.hot->put_docs({}, shard_watermark_name(p), t->applied))
      return err;
  if (!due.empty())
    if (auto err = cfg.hot->flush())
      return err;
  for (auto& [p, t] : due) {
    if (auto err = cfg.shards->save(p, t->applied))
      return err;
    t->saved = t->applied;
  }
  st.saved_deletion_seq = st.deletion_seq;
  return caf::none;
}

// Opens the shard of a newly assigned partition, or takes a held one back.
void on_assigned(self_ptr self, const index_sync_config& cfg, int32_t p,
                 int64_t generation, int64_t start_offset,
                 int64_t activity_blocks) {
  auto& st = self->state;
  auto phase = cfg.shards->phase(p);
  auto& t = st.tracks[p];
  t.generation = generation;
  // The latest assignment's: offsets between an earlier start and this one
  // may have passed through another node meanwhile.
  t.start_offset = start_offset;
  t.activity_blocks = activity_blocks;
  t.since = std::chrono::steady_clock::now();
  if (phase && *phase != storage::shard_phase::warming) {
    // Handed back while releasing (or kept by an eager rebalance): it was
    // tailed all along, so it serves at once.
    cfg.shards->set_phase(p, storage::shard_phase::serving);
    count_handoff("reassigned");
    if (st.routing) {
      auto ok = st.routing->set_serving(cfg.group, cfg.topic, cfg.node_id, p,
                                        generation, t.applied);
      if (!ok)
        spdlog::warn("[index_sync] partition {}: cannot mark serving: {}", p,
                     describe(ok.error()));
    }
    return;
  }
  if (phase)
    return; // already warming: the new generation is noted
  auto s = cfg.shards->open(p);
  if (!s) {
    spdlog::error("[index_sync] partition {}: cannot open its shard: {}", p,
                  describe(s.error()));
    st.tracks.erase(p);
    return;
  }
  auto hot_wm = cfg.hot->watermark(shard_watermark_name(p), 0);
  t.applied = std::min((*s)->watermark(), hot_wm ? *hot_wm : 0);
  t.saved = (*s)->watermark();
  // A snapshot may predate deletions: replay the whole log over it.
  if (t.applied > 0 && st.gov) {
    auto d = storage::replay_deletions(*st.gov, **s);
    if (!d)
      spdlog::warn("[index_sync] partition {}: deletions over its snapshot: "
                   "{}",
                   p, describe(d.error()));
    // Deleted data leaves the snapshot on disk now, not once the shard has
    // caught up (docs/data-governance.md).
    else if (d->vectors + d->keyword_docs > 0)
      if (auto err = cfg.shards->save(p, t.saved))
        spdlog::warn("[index_sync] partition {}: snapshot without deleted "
                     "points not written: {}",
                     p, describe(err));
  }
  count_handoff("assigned");
  spdlog::info("[index_sync] partition {}: shard warming from seq {} ({} "
               "points in its snapshot)",
               p, t.applied, (*s)->vectors->size());
}

// Working memory of the sessions of the shards that moved here: the newest
// items of every session active within the TTL, as if written when their
// batch committed (so the move does not extend their life). One read for
// every shard that caught up in the same tick: each read scans the recent
// rows of all partitions (256 per-partition reads took 4 s of PostgreSQL
// time in a 36 s benchmark run).
// Only the activities this node's extraction does not append itself:
// every record from a partition's start offset on is consumed here and
// appended before its batch commits (whichever node's commit stores it),
// and the rows below it were committed before the stored offsets were
// read, so before the claim, in blocks below the table's size then. A
// node that just started reads no row it wrote itself (the benchmark's
// backlog read 45,000-59,000 of its 200,000 events back, in 8-9 scans of
// the table: docs/performance.md, "Twenty-first round").
void rebuild_working_memory(self_ptr self, const index_sync_config& cfg,
                            const std::vector<int32_t>& parts) {
  if (!cfg.working || parts.empty())
    return;
  auto& wc = cfg.working->config();
  std::vector<int64_t> below;
  int64_t blocks = 0; // -1: a claim of unknown size, no bound
  for (auto p : parts) {
    auto& t = self->state.tracks.at(p);
    below.push_back(t.start_offset);
    blocks = t.activity_blocks < 0 || blocks < 0
               ? -1
               : std::max(blocks, t.activity_blocks);
  }
  if (blocks == 0)
    return; // nothing was stored before the claims
  auto acts = self->state.store->recent_activities(
    parts, wall_ms() - wc.ttl_ms, wc.max_items, 200000 * parts.size(), below,
    blocks);
  if (!acts) {
    spdlog::warn("[index_sync] {} partition(s) from {}: working memory not "
                 "rebuilt: {}",
                 parts.size(), parts.front(), describe(acts.error()));
    return;
  }
  std::map<std::pair<std::string, std::string>,
           std::pair<std::vector<activity>, int64_t>>
    sessions;
  for (auto& s : *acts) {
    auto& slot = sessions[{s.a.user_id, s.a.session_id}];
    slot.second = std::max(slot.second, s.ingested_at_ms);
    slot.first.push_back(std::move(s.a));
  }
  for (auto& [key, slot] : sessions)
    if (auto err = cfg.working->append(slot.first, slot.second))
      spdlog::warn("[index_sync] working memory of a session of partition {} "
                   "not rebuilt: {}",
                   slot.first.front().source.partition, describe(err));
}

// Catches warming shards up, a bounded number of pages per tick in all
// (`hold`: not before the process's first commit, see
// warm_after_first_commit).
caf::error warm(self_ptr self, const index_sync_config& cfg, bool hold) {
  auto& st = self->state;
  if (hold && cfg.status && !cfg.status->first_commit && st.first_assigned
      && std::chrono::steady_clock::now() - *st.first_assigned
           < cfg.warm_after_first_commit)
    return caf::none; // the first batch goes first
  size_t budget = cfg.warm_pages_per_tick;
  std::vector<int32_t> caught_up;
  for (auto p : cfg.shards->partitions(storage::shard_phase::warming)) {
    if (budget == 0)
      break;
    auto it = st.tracks.find(p);
    if (it == st.tracks.end())
      continue;
    auto& t = it->second;
    // Leaves out the batches vector linking applied to this very shard
    // since it was opened (up to ≈ all of them on a node that just
    // started: they were read back and applied a second time).
    auto s = cfg.shards->find(p);
    auto res = storage::sync_shards(
      *st.store, *cfg.shards, *cfg.hot, {p}, t.applied, cfg.page_size, budget,
      s ? &s->applied_while_warming : nullptr, false);
    if (!res)
      return res.error();
    auto pages = (res->memories + cfg.page_size - 1) / cfg.page_size;
    budget -= std::min(budget, std::max<size_t>(pages, 1));
    t.applied = res->watermark;
    if (res->reached_end)
      caught_up.push_back(p); // more to read otherwise: the next tick goes on
  }
  // Working memory before serving: a shard serves its sessions whole.
  rebuild_working_memory(self, cfg, caught_up);
  for (auto p : caught_up) {
    auto& t = st.tracks.at(p);
    auto ok = st.routing->set_serving(cfg.group, cfg.topic, cfg.node_id, p,
                                      t.generation, t.applied);
    if (!ok)
      return ok.error();
    cfg.shards->set_phase(p, storage::shard_phase::serving);
    std::chrono::duration<double> d = std::chrono::steady_clock::now() - t.since;
    st.warmup->observe(d.count());
    count_handoff("serving");
    if (!*ok)
      spdlog::info("[index_sync] partition {}: caught up (seq {}) in {:.2f} s, "
                   "but it has another owner now",
                   p, t.applied, d.count());
    else
      spdlog::info("[index_sync] partition {}: serving (seq {}, {} points) "
                   "after {:.2f} s",
                   p, t.applied, cfg.shards->find(p)->vectors->size(),
                   d.count());
  }
  return caf::none;
}

// Tails serving and releasing shards together.
caf::error tail(self_ptr self, const index_sync_config& cfg, size_t max_pages) {
  auto& st = self->state;
  std::vector<int32_t> parts;
  int64_t from = -1;
  for (auto p : cfg.shards->partitions()) {
    if (cfg.shards->phase(p) == storage::shard_phase::warming)
      continue;
    auto it = st.tracks.find(p);
    if (it == st.tracks.end())
      continue;
    parts.push_back(p);
    from = from < 0 ? it->second.applied : std::min(from, it->second.applied);
  }
  if (parts.empty()) {
    auto c = st.store->max_memory_seq();
    if (!c)
      return c.error();
    st.committed_seq = *c;
    // A shard that serves later catches up past this point without them.
    if (cfg.applied)
      cfg.applied->forget_through(*c);
    return caf::none;
  }
  // Warming shards read everything (their snapshot may predate a range);
  // serving and releasing ones held the shard when vector linking applied
  // a range of this node's batches, so it is not read back.
  auto res = storage::sync_shards(*st.store, *cfg.shards, *cfg.hot, parts,
                                  from, cfg.page_size, max_pages,
                                  cfg.applied.get());
  if (!res)
    return res.error();
  for (auto p : parts) {
    auto& t = st.tracks[p];
    t.applied = std::max(t.applied, res->watermark);
  }
  st.committed_seq = std::max(st.committed_seq, res->watermark);
  return caf::none;
}

caf::error sync_deletions(self_ptr self, const index_sync_config& cfg) {
  auto& st = self->state;
  auto del = storage::sync_deletions(*st.gov, derived_stores_of(cfg),
                                     cfg.tombstones.get(), st.deletion_seq);
  if (!del)
    return del.error();
  if (del->entries > 0) {
    count_deleted(*del);
    st.deletion_seq = del->seq;
    st.deletion_gauge->set(static_cast<double>(st.deletion_seq));
  }
  return caf::none;
}

// Drops releasing shards whose new owner serves: their memory is returned
// and what this node derived from them leaves RocksDB.
void release(self_ptr self, const index_sync_config& cfg) {
  auto& st = self->state;
  if (!cfg.view)
    return;
  for (auto p : cfg.shards->partitions(storage::shard_phase::releasing)) {
    auto owner = cfg.view->owner(p);
    if (!owner || owner->node_id == cfg.node_id
        || owner->state != storage::shard_state::serving
        || !cfg.view->live_address(owner->node_id))
      continue;
    auto s = cfg.shards->drop(p);
    st.tracks.erase(p);
    metrics::global().remove_gauge("agentmem_shard_points",
                                   {{"partition", std::to_string(p)}});
    count_handoff("dropped");
    if (!s)
      continue;
    auto points = s->vectors->point_ids();
    auto users = s->vectors->users();
    // Buffers of users some other held shard still has stay.
    std::vector<std::string> gone;
    for (auto& u : users)
      if (cfg.shards->holding(u).empty())
        gone.push_back(u);
    auto docs = cfg.hot->erase_docs(points);
    auto err = cfg.hot->erase_buffers(gone);
    if (!docs || err)
      spdlog::warn("[index_sync] partition {}: RocksDB not fully freed: {}", p,
                   describe(docs ? err : docs.error()));
    spdlog::info("[index_sync] partition {}: released to {} ({} points, {} "
                 "users freed)",
                 p, owner->node_id, points.size(), gone.size());
  }
}

// `tail_pages` 0: to the end, warming shards included at once (flush).
caf::error pass(self_ptr self, const index_sync_config& cfg,
                size_t tail_pages) {
  if (auto err = connect(self, cfg))
    return err;
  if (auto err = tail(self, cfg, tail_pages))
    return err;
  if (auto err = warm(self, cfg, tail_pages > 0))
    return err;
  // Deletions after memories: a memory read above was committed before any
  // deletion read below that could cover it.
  return sync_deletions(self, cfg);
}

} // namespace

caf::behavior index_sync(caf::stateful_actor<index_sync_state>* self,
                         index_sync_config cfg) {
  auto& st = self->state;
  st.last_snapshot = std::chrono::steady_clock::now();
  auto& reg = metrics::global();
  st.watermark_gauge = &reg.get_gauge(
    "agentmem_index_watermark_seq",
    "Lowest memories.seq contained in every serving or releasing shard of "
    "this node.");
  st.vectors_gauge = &reg.get_gauge(
    "agentmem_index_vectors", "Points in this node's shards of the "
                              "memories collection.");
  st.errors = &reg.get_counter("agentmem_index_sync_errors_total",
                               "Failed passes of the index tailer.");
  st.warmup = &reg.get_histogram(
    "agentmem_shard_warmup_seconds",
    "Time from a partition's assignment to its shard serving (snapshot "
    "load, catch-up from Postgres, working-memory rebuild).",
    metrics::latency_buckets());
  st.deletion_seq = cfg.deletion_seq;
  st.saved_deletion_seq = st.deletion_seq;
  st.deletion_gauge = &reg.get_gauge(
    "agentmem_deletion_watermark_seq",
    "Highest deletions.seq applied to this node's index and hot state.");
  st.deletion_gauge->set(static_cast<double>(st.deletion_seq));
  count_deleted({});
  for (auto* e : {"assigned", "reassigned", "serving", "revoked", "dropped"})
    reg.get_counter("agentmem_shard_handoffs_total",
                    "Shard life events on this node.", {{"event", e}});
  update_metrics(self, cfg);
  self->send(self, tick_atom::value);
  return {
    [=](assign_atom, const std::vector<int32_t>& parts,
        const std::vector<int64_t>& generations,
        const std::vector<int64_t>& start_offsets, int64_t activity_blocks) {
      if (auto err = connect(self, cfg))
        spdlog::warn("[index_sync] {}", describe(err));
      if (!self->state.first_assigned && !parts.empty())
        self->state.first_assigned = std::chrono::steady_clock::now();
      for (size_t i = 0; i < parts.size(); ++i)
        on_assigned(self, cfg, parts[i],
                    i < generations.size() ? generations[i] : 0,
                    i < start_offsets.size() ? start_offsets[i] : -1,
                    activity_blocks);
      update_metrics(self, cfg);
    },
    [=](revoke_atom, const std::vector<int32_t>& parts) {
      for (auto p : parts)
        if (cfg.shards->set_phase(p, storage::shard_phase::releasing)) {
          self->state.tracks[p].since = std::chrono::steady_clock::now();
          count_handoff("revoked");
        }
      update_metrics(self, cfg);
    },
    [=](tick_atom) {
      auto& st = self->state;
      auto deletions_before = st.deletion_seq;
      if (auto err = pass(self, cfg, 16)) {
        st.errors->inc();
        reset_connections(self);
        spdlog::warn("[index_sync] {}", describe(err));
      } else {
        release(self, cfg);
        if (st.deletion_seq != deletions_before
            || std::chrono::steady_clock::now() - st.last_snapshot
                 >= cfg.snapshot_interval) {
          if (auto err = snapshot_all(self, cfg))
            spdlog::error("[index_sync] snapshot failed: {}", describe(err));
        }
      }
      update_metrics(self, cfg);
      self->delayed_send(self, cfg.interval, tick_atom::value);
    },
    [=](flush_atom) -> caf::result<caf::ok_atom> {
      if (auto err = pass(self, cfg, 0)) {
        reset_connections(self);
        return err;
      }
      if (auto err = snapshot_all(self, cfg))
        return err;
      update_metrics(self, cfg);
      return caf::ok_atom::value;
    },
  };
}

} // namespace agentmem::actors
