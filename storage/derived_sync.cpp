#include "storage/derived_sync.hpp"

#include <algorithm>
#include <limits>

namespace agentmem::storage {

namespace {

// Conversation memories hold "<speaker>: <content>"; the buffer keeps the
// content alone, as extraction wrote it.
std::string buffer_content(const memory& m) {
  if (!m.speaker.empty() && m.text.rfind(m.speaker + ": ", 0) == 0)
    return m.text.substr(m.speaker.size() + 2);
  return m.text;
}

} // namespace

caf::expected<sync_result> sync_derived_state(postgres_store& pg,
                                              vector_index& index,
                                              keyword_index& keywords,
                                              hot_state& hot, int64_t watermark,
                                              size_t page_size,
                                              size_t max_pages,
                                              applied_seqs* applied) {
  sync_result res;
  res.watermark = watermark;
  for (size_t pages = 0; max_pages == 0 || pages < max_pages; ++pages) {
    std::vector<std::pair<int64_t, int64_t>> skip;
    int64_t upto = std::numeric_limits<int64_t>::max();
    if (applied) {
      upto = applied->read_limit();
      if (upto <= res.watermark)
        break; // this node is indexing what comes next
      skip = applied->after(res.watermark);
    }
    auto page = pg.memories_after(res.watermark, page_size, skip, upto);
    if (!page)
      return page.error();
    // A short page read everything after the watermark that is not in a
    // skipped range: those ranges (committed before they were recorded)
    // are behind the new watermark too.
    int64_t skipped_top = res.watermark;
    if (page->size() < page_size)
      for (auto& r : skip)
        if (r.second <= upto)
          skipped_top = std::max(skipped_top, r.second);
    if (page->empty()) {
      if (skipped_top > res.watermark) {
        if (auto err = hot.put_docs({}, "memory_seq", skipped_top))
          return err;
        res.watermark = skipped_top;
        index.set_watermark(skipped_top);
        applied->forget_through(skipped_top);
      }
      break;
    }
    std::vector<memory> ms;
    std::vector<hot_state::message_write> msgs;
    ms.reserve(page->size());
    int64_t top = skipped_top;
    for (auto& sm : *page) {
      top = std::max(top, sm.seq);
      if (sm.m.memory_type == memory_types::conversation)
        msgs.push_back({sm.m.user_id, sm.m.session_id,
                        {sm.m.event_id, sm.m.ts_ms, sm.m.role, sm.m.speaker,
                         buffer_content(sm.m)}});
      ms.push_back(std::move(sm.m));
    }
    auto added = index.upsert(ms);
    if (!added)
      return added.error();
    keywords.upsert(ms);
    // Postgres is authoritative for tags (changed through the API).
    index.sync_tags(ms);
    keywords.sync_tags(ms);
    if (auto err = hot.append_messages(msgs, true))
      return err;
    if (auto err = hot.put_docs(ms, "memory_seq", top))
      return err;
    res.memories += ms.size();
    res.added += *added;
    res.watermark = top;
    index.set_watermark(top);
    if (applied)
      applied->forget_through(top);
    if (page->size() < page_size)
      break;
  }
  return res;
}

} // namespace agentmem::storage
