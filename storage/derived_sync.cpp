#include "storage/derived_sync.hpp"

#include <algorithm>
#include <limits>

namespace agentmem::storage {

buffer_entry buffer_entry_of(const memory& m) {
  auto content = !m.speaker.empty() && m.text.rfind(m.speaker + ": ", 0) == 0
                   ? m.text.substr(m.speaker.size() + 2)
                   : m.text;
  return {m.event_id, m.ts_ms, m.role, m.speaker, std::move(content)};
}

caf::expected<sync_result>
sync_shards(postgres_store& pg, shard_set& shards, hot_state& hot,
            const std::vector<int32_t>& partitions, int64_t watermark,
            size_t page_size, size_t max_pages, applied_seqs* applied,
            bool wait_for_pending) {
  sync_result res;
  res.watermark = watermark;
  for (size_t pages = 0; max_pages == 0 || pages < max_pages; ++pages) {
    std::vector<std::pair<int64_t, int64_t>> skip;
    int64_t upto = std::numeric_limits<int64_t>::max();
    if (applied) {
      if (wait_for_pending) {
        upto = applied->read_limit();
        if (upto <= res.watermark)
          break; // this node is indexing what comes next
      }
      skip = applied->after(res.watermark);
    }
    // Every memory with seq <= the committed max read now is committed
    // (seq order is commit order): when the page below is not full, the
    // shards hold everything of theirs up to it (up to `upto`), also when
    // the newest memories belong to other nodes' partitions or lie in the
    // skipped ranges (recorded after their commit, so before this read).
    auto committed = pg.max_memory_seq();
    if (!committed)
      return committed.error();
    auto end = std::min(*committed, upto);
    auto page = pg.partition_memories_after(partitions, res.watermark,
                                            page_size, skip, upto);
    if (!page)
      return page.error();
    if (page->empty()) {
      res.watermark = std::max(res.watermark, end);
      res.reached_end = true;
      if (applied)
        applied->forget_through(res.watermark);
      break;
    }
    std::vector<memory> ms;
    std::vector<hot_state::message_write> msgs;
    ms.reserve(page->size());
    int64_t top = res.watermark;
    for (auto& sm : *page) {
      top = std::max(top, sm.seq);
      if (sm.m.memory_type == memory_types::conversation)
        msgs.push_back({sm.m.user_id, sm.m.session_id,
                        buffer_entry_of(sm.m)});
      ms.push_back(std::move(sm.m));
    }
    auto added = shards.upsert(ms);
    if (!added)
      return added.error();
    shards.sync_labels(ms);
    if (auto err = hot.append_messages(msgs, true))
      return err;
    if (auto err = hot.put_docs(ms))
      return err;
    res.memories += ms.size();
    res.added += *added;
    res.watermark = top;
    bool last = page->size() < page_size;
    if (last) {
      res.watermark = std::max(res.watermark, end);
      res.reached_end = true;
    }
    if (applied)
      applied->forget_through(res.watermark);
    if (last)
      break;
  }
  return res;
}

} // namespace agentmem::storage
