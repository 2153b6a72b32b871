#include "storage/deletion_sync.hpp"

#include <algorithm>
#include <optional>

#include "messages/errc.hpp"

namespace agentmem::storage {

caf::expected<deletion_sync_result>
apply_deletion(const deletion_entry& e, const derived_stores& stores,
               domain::tombstone_set* tombs, bool hot_too, bool compact) {
  auto& shards = *stores.shards;
  auto& hot = *stores.hot;
  deletion_sync_result res;
  res.entries = 1;
  res.seq = e.seq;
  if (e.kind == "user") {
    if (tombs)
      tombs->put(e.user_id, e.cutoff_ms);
    auto removed = shards.remove_user(e.user_id, e.cutoff_ms);
    if (!removed)
      return removed.error();
    res.vectors = removed->vectors;
    res.keyword_docs = removed->keyword_docs;
    if (hot_too) {
      auto n = hot.erase_user(e.user_id, e.cutoff_ms, compact);
      if (!n)
        return n.error();
      res.hot = *n;
      if (stores.working) {
        auto w = stores.working->erase_user(e.user_id, e.cutoff_ms, compact);
        if (!w)
          return w.error();
        res.working = *w;
      }
      // The cache is keyed by a digest of the text only: every entry goes
      // (docs/data-governance.md).
      if (stores.embedder) {
        if (auto err = stores.embedder->forget_cached())
          return err;
        res.caches_cleared = 1;
      }
    }
    return res;
  }
  if (e.kind != "session" && e.kind != "memories")
    return make_error(errc::invalid_request,
                      "unknown deletion kind '" + e.kind + "' at seq "
                        + std::to_string(e.seq));
  auto removed = shards.remove(e.point_ids);
  if (!removed)
    return removed.error();
  res.vectors = removed->vectors;
  res.keyword_docs = removed->keyword_docs;
  if (hot_too) {
    auto docs = hot.erase_docs(e.point_ids);
    if (!docs)
      return docs.error();
    res.hot.docs = *docs;
    if (e.kind == "session") {
      auto n = hot.erase_session(e.user_id, e.session_id);
      if (!n)
        return n.error();
      res.hot.messages = n->messages;
      res.hot.sessions = n->sessions;
      if (stores.working) {
        auto w = stores.working->erase_session(e.user_id, e.session_id);
        if (!w)
          return w.error();
        res.working = *w;
      }
    }
  }
  return res;
}

caf::expected<deletion_sync_result>
sync_deletions(governance_store& gov, const derived_stores& stores,
               domain::tombstone_set* tombs, int64_t after_seq,
               size_t page_size) {
  auto& hot = *stores.hot;
  std::optional<std::lock_guard<std::mutex>> guard;
  if (tombs)
    guard.emplace(tombs->apply_mutex());
  deletion_sync_result total;
  total.seq = after_seq;
  auto hot_wm = hot.watermark("deletion_seq", 0);
  if (!hot_wm)
    return hot_wm.error();
  while (true) {
    auto page = gov.deletions_after(total.seq, page_size);
    if (!page)
      return page.error();
    if (page->empty())
      break;
    for (auto& e : *page) {
      // A user erased on another node leaves this node's SST files too
      // (compaction of the user's key ranges only).
      auto r = apply_deletion(e, stores, tombs, e.seq > *hot_wm, true);
      if (!r)
        return r.error();
      total.entries += 1;
      total.vectors += r->vectors;
      total.keyword_docs += r->keyword_docs;
      total.hot.messages += r->hot.messages;
      total.hot.sessions += r->hot.sessions;
      total.hot.docs += r->hot.docs;
      total.working.items += r->working.items;
      total.working.sessions += r->working.sessions;
      total.caches_cleared += r->caches_cleared;
      total.seq = e.seq;
    }
    if (total.seq > *hot_wm) {
      if (auto err = hot.put_docs({}, "deletion_seq", total.seq))
        return err;
      hot_wm = total.seq;
    }
    if (page->size() < page_size)
      break;
  }
  return total;
}

caf::expected<deletion_sync_result>
replay_deletions(governance_store& gov, shard& s, size_t page_size) {
  deletion_sync_result total;
  while (true) {
    auto page = gov.deletions_after(total.seq, page_size);
    if (!page)
      return page.error();
    for (auto& e : *page) {
      if (e.kind == "user") {
        auto r = s.vectors->remove_user(e.user_id, e.cutoff_ms);
        if (!r)
          return r.error();
        total.vectors += r->size();
        total.keyword_docs += s.keywords->remove_user(e.user_id, e.cutoff_ms);
      } else {
        auto r = s.vectors->remove(e.point_ids);
        if (!r)
          return r.error();
        total.vectors += r->size();
        total.keyword_docs += s.keywords->remove(e.point_ids);
      }
      total.entries += 1;
      total.seq = e.seq;
    }
    if (page->size() < page_size)
      break;
  }
  return total;
}

} // namespace agentmem::storage
