#include "storage/hot_state.hpp"

#include <algorithm>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "messages/errc.hpp"
#include "storage/rocksdb_memory.hpp"
#include "storage/value_codec.hpp"

namespace agentmem::storage {

namespace {

// put_i64, put_str, put_be64, value_reader: the shared value encoding.
using namespace detail;

std::string session_prefix(const std::string& user, const std::string& sess) {
  std::string k = "m|";
  k += user;
  k.push_back('\0');
  k += sess;
  k.push_back('\0');
  return k;
}

std::string session_key(const std::string& user, const std::string& sess) {
  std::string k = "s|";
  k += user;
  k.push_back('\0');
  k += sess;
  return k;
}

std::string doc_key(uint64_t point_id) {
  std::string k = "d|";
  put_be64(k, point_id);
  return k;
}

std::string encode_session(const session_state& s) {
  std::string v;
  put_i64(v, s.started_at_ms);
  put_i64(v, s.last_activity_ms);
  put_i64(v, s.ended_at_ms);
  return v;
}

std::optional<session_state> decode_session(const std::string& v) {
  value_reader r{v.data(), v.data() + v.size()};
  session_state s;
  s.started_at_ms = r.i64();
  s.last_activity_ms = r.i64();
  s.ended_at_ms = r.i64();
  if (!r.ok)
    return std::nullopt;
  return s;
}

// A buffered message (key "m|..."); nullopt when corrupt.
std::optional<buffer_entry> decode_entry(const rocksdb::Slice& v) {
  value_reader r{v.data(), v.data() + v.size()};
  buffer_entry e;
  e.ts_ms = r.i64();
  e.event_id = r.str();
  e.role = r.str();
  e.agent_name = r.str();
  e.content = r.str();
  if (!r.ok)
    return std::nullopt;
  return e;
}

// A memory doc (key "d|<point id>", written by put_docs); nullopt when
// corrupt.
std::optional<memory_doc> decode_doc(const rocksdb::Slice& v) {
  value_reader r{v.data(), v.data() + v.size()};
  memory_doc d;
  d.memory_id = r.str();
  d.memory_type = r.str();
  d.user_id = r.str();
  d.session_id = r.str();
  d.event_id = r.str();
  d.ts_ms = r.i64();
  d.text = r.str();
  d.metadata_json = r.str();
  if (!r.ok)
    return std::nullopt;
  return d;
}

session_state merge(const std::optional<session_state>& old,
                    const session_state& d) {
  if (!old)
    return d;
  session_state s = *old;
  s.started_at_ms = std::min(s.started_at_ms, d.started_at_ms);
  s.last_activity_ms = std::max(s.last_activity_ms, d.last_activity_ms);
  s.ended_at_ms = std::max(s.ended_at_ms, d.ended_at_ms);
  return s;
}

caf::error to_error(const rocksdb::Status& st) {
  return make_error(errc::rocksdb_error, st.ToString());
}


// Bytes a cached buffer entry holds, roughly (strings, key, bookkeeping).
size_t entry_bytes(const std::string& key, const buffer_entry& e) {
  return key.size() + e.event_id.size() + e.role.size() + e.agent_name.size()
         + e.content.size() + sizeof(buffer_entry) + sizeof(std::string);
}

// The key of a buffered message: session prefix, event time (BE, sign
// flipped so that negative times order first), event id.
std::string message_key(const std::string& prefix, const buffer_entry& e) {
  std::string key = prefix;
  put_be64(key, static_cast<uint64_t>(e.ts_ms) ^ 0x8000000000000000ULL);
  key += e.event_id;
  return key;
}

std::string encode_entry(const buffer_entry& e) {
  std::string val;
  put_i64(val, e.ts_ms);
  put_str(val, e.event_id);
  put_str(val, e.role);
  put_str(val, e.agent_name);
  put_str(val, e.content);
  return val;
}

} // namespace

struct hot_state::impl {
  std::unique_ptr<rocksdb::DB> db;

  // The conversation-buffer cache (see the class comment). Everything
  // below is guarded by `mu`; a cached buffer equals the stored one.
  struct cached {
    // Oldest first; shared with readers' snapshots, so it is copied before
    // a change when a snapshot is still held (copy on write).
    std::shared_ptr<std::vector<buffer_entry>> entries =
      std::make_shared<std::vector<buffer_entry>>();
    std::vector<std::string> keys; // the entries' keys, same order
    bool excess = false; // RocksDB holds older entries beyond the limit
    size_t bytes = 0;
    std::list<std::string>::iterator lru;

    // Makes `entries` this buffer's own before a change (copy on write:
    // a reader may still hold the current vector as its snapshot).
    void unshare() {
      if (entries.use_count() > 1)
        entries = std::make_shared<std::vector<buffer_entry>>(*entries);
    }
  };
  std::mutex mu;
  size_t budget = 0;
  size_t bytes = 0;
  std::map<std::string, cached> buffers; // by session prefix
  std::list<std::string> lru;            // session prefixes, newest first

  // The cached buffer of the session with key prefix `prefix`, loaded from
  // RocksDB (its newest `limit` entries) on a miss; marks it most recently
  // used. The pointer stays valid until evict() or forget*(). `mu` held;
  // `reuse` (optional) keeps one iterator for the misses of one call (no
  // buffer write can come between them: they all hold `mu`).
  caf::expected<cached*>
  buffer(const std::string& prefix, size_t limit,
         std::unique_ptr<rocksdb::Iterator>* reuse = nullptr) {
    if (auto hit = buffers.find(prefix); hit != buffers.end()) {
      lru.splice(lru.begin(), lru, hit->second.lru);
      return &hit->second;
    }
    cached c;
    std::string upper = prefix;
    upper.back() = '\x01'; // just past every key with the prefix
    std::unique_ptr<rocksdb::Iterator> own;
    auto& it = reuse ? *reuse : own;
    if (!it)
      it.reset(db->NewIterator({}));
    for (it->SeekForPrev(upper); it->Valid() && it->key().starts_with(prefix);
         it->Prev()) {
      if (c.keys.size() == limit) {
        c.excess = true;
        break;
      }
      auto e = decode_entry(it->value());
      if (!e)
        return make_error(errc::rocksdb_error, "corrupt buffer entry");
      c.keys.push_back(it->key().ToString());
      c.bytes += entry_bytes(c.keys.back(), *e);
      c.entries->push_back(std::move(*e));
    }
    if (!it->status().ok())
      return to_error(it->status());
    std::reverse(c.keys.begin(), c.keys.end());
    std::reverse(c.entries->begin(), c.entries->end());
    c.bytes += 2 * prefix.size() + sizeof(cached) + 64;
    lru.push_front(prefix);
    c.lru = lru.begin();
    bytes += c.bytes;
    return &buffers.emplace(prefix, std::move(c)).first->second;
  }

  // Drops least recently used buffers until the cache fits its budget.
  void evict() {
    while (bytes > budget && !lru.empty())
      forget(buffers.find(lru.back()));
  }

  void forget(std::map<std::string, cached>::iterator i) {
    if (i == buffers.end())
      return;
    bytes -= i->second.bytes;
    lru.erase(i->second.lru);
    buffers.erase(i);
  }

  // Drops every cached buffer of `user` (with a write that deletes some
  // of its stored entries; they reload from RocksDB). `mu` held, across
  // the write too, so that no append trims by the entries deleted.
  void forget_user(const std::string& user) {
    std::string from = "m|" + user;
    from.push_back('\0');
    std::string to = from;
    to.back() = '\1'; // just past every prefix of the user
    auto i = buffers.lower_bound(from);
    while (i != buffers.end() && i->first < to)
      forget(i++);
  }
};

hot_state::hot_state(std::unique_ptr<impl> p, size_t limit)
  : impl_(std::move(p)), buffer_limit_(limit) {
}

hot_state::~hot_state() {
  if (impl_ && impl_->db)
    impl_->db->Close();
}

caf::expected<std::unique_ptr<hot_state>>
hot_state::open(const std::string& dir, size_t buffer_limit,
                size_t buffer_cache_bytes) {
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.IncreaseParallelism(2);
  opts.OptimizeLevelStyleCompaction(64 << 20);
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, &raw);
  if (!st.ok())
    return to_error(st);
  auto p = std::make_unique<impl>();
  p->db.reset(raw);
  p->budget = buffer_cache_bytes;
  return std::unique_ptr<hot_state>{new hot_state(std::move(p), buffer_limit)};
}

caf::error hot_state::append_messages(const std::vector<message_write>& msgs,
                                      bool keep_existing) {
  if (msgs.empty())
    return caf::none;
  auto& db = *impl_->db;
  auto& cache = *impl_;
  std::lock_guard<std::mutex> guard{cache.mu};
  rocksdb::WriteBatch wb;
  // Session states merged in memory first: one read per touched session.
  std::map<std::pair<std::string, std::string>, session_state> sessions;
  // Touched buffers (cached: the stored entries, so no scan to trim).
  std::map<std::string, impl::cached*> touched;
  std::unique_ptr<rocksdb::Iterator> loader; // for the cache misses
  // On an error, the touched buffers may have been changed ahead of the
  // write: drop them from the cache (they reload from RocksDB).
  auto fail = [&](caf::error err) {
    for (auto& kv : touched)
      cache.forget(cache.buffers.find(kv.first));
    return err;
  };
  for (auto& m : msgs) {
    auto prefix = session_prefix(m.user_id, m.session_id);
    auto t = touched.find(prefix);
    if (t == touched.end()) {
      auto c = cache.buffer(prefix, buffer_limit_, &loader);
      if (!c)
        return fail(c.error());
      t = touched.emplace(prefix, *c).first;
    }
    auto& c = *t->second;
    auto key = message_key(prefix, m.entry);
    auto pos = std::lower_bound(c.keys.begin(), c.keys.end(), key);
    bool exists = pos != c.keys.end() && *pos == key;
    if (keep_existing && exists)
      continue;
    c.unshare();
    auto at = c.entries->begin() + (pos - c.keys.begin());
    auto added = entry_bytes(key, m.entry);
    if (exists) {
      auto replaced = entry_bytes(key, *at);
      c.bytes -= replaced;
      cache.bytes -= replaced;
      *at = m.entry;
    } else {
      c.entries->insert(at, m.entry);
      pos = c.keys.insert(pos, key);
    }
    c.bytes += added;
    cache.bytes += added;
    wb.Put(key, encode_entry(m.entry));
    session_state d{m.entry.ts_ms, m.entry.ts_ms, -1};
    auto [it, fresh] = sessions.try_emplace({m.user_id, m.session_id}, d);
    if (!fresh)
      it->second = merge(it->second, d);
  }
  loader.reset();
  // Trim: keep the newest buffer_limit_ entries of each touched session
  // (in the same WriteBatch; a Put followed by a Delete of the same key
  // leaves nothing).
  for (auto& [prefix, c] : touched) {
    if (c->keys.size() > buffer_limit_) {
      size_t drop = c->keys.size() - buffer_limit_;
      c->unshare();
      for (size_t i = 0; i < drop; ++i) {
        wb.Delete(c->keys[i]);
        auto n = entry_bytes(c->keys[i], (*c->entries)[i]);
        c->bytes -= n;
        cache.bytes -= n;
      }
      c->keys.erase(c->keys.begin(), c->keys.begin() + drop);
      c->entries->erase(c->entries->begin(), c->entries->begin() + drop);
    }
    if (c->excess && !c->keys.empty()) {
      // Entries older than the loaded window (a larger buffer limit wrote
      // them): every key of the session before the oldest kept one.
      wb.DeleteRange(prefix, c->keys.front());
      c->excess = false;
    }
  }
  for (auto& [k, d] : sessions) {
    std::string old;
    auto st = db.Get(rocksdb::ReadOptions{}, session_key(k.first, k.second),
                     &old);
    std::optional<session_state> prev;
    if (st.ok())
      prev = decode_session(old);
    else if (!st.IsNotFound())
      return fail(to_error(st));
    wb.Put(session_key(k.first, k.second), encode_session(merge(prev, d)));
  }
  auto st = wb.Count() == 0 ? rocksdb::Status::OK()
                            : db.Write(rocksdb::WriteOptions{}, &wb);
  if (!st.ok())
    return fail(to_error(st));
  cache.evict();
  return caf::none;
}

caf::error hot_state::merge_session(const std::string& user_id,
                                    const std::string& session_id,
                                    const session_state& delta) {
  auto& db = *impl_->db;
  std::string old;
  auto key = session_key(user_id, session_id);
  auto st = db.Get(rocksdb::ReadOptions{}, key, &old);
  std::optional<session_state> prev;
  if (st.ok())
    prev = decode_session(old);
  else if (!st.IsNotFound())
    return to_error(st);
  st = db.Put(rocksdb::WriteOptions{}, key, encode_session(merge(prev, delta)));
  if (!st.ok())
    return to_error(st);
  return caf::none;
}

caf::expected<std::vector<buffer_entry>>
hot_state::session_messages(const std::string& user_id,
                            const std::string& session_id,
                            size_t limit) const {
  auto buf = session_buffer(user_id, session_id);
  if (!buf)
    return buf.error();
  auto& all = **buf;
  auto n = std::min(limit, all.size());
  return std::vector<buffer_entry>(all.end() - static_cast<ptrdiff_t>(n),
                                   all.end());
}

caf::expected<hot_state::buffer_snapshot>
hot_state::session_buffer(const std::string& user_id,
                          const std::string& session_id) const {
  auto& cache = *impl_;
  std::lock_guard<std::mutex> guard{cache.mu};
  auto c = cache.buffer(session_prefix(user_id, session_id), buffer_limit_);
  if (!c)
    return c.error();
  buffer_snapshot snap = (*c)->entries;
  cache.evict();
  return snap;
}

size_t hot_state::rocksdb_memory_bytes() const {
  return detail::rocksdb_memory_bytes(*impl_->db);
}

std::pair<size_t, size_t> hot_state::buffer_cache_usage() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return {impl_->bytes, impl_->buffers.size()};
}

caf::expected<std::optional<session_state>>
hot_state::session(const std::string& user_id,
                   const std::string& session_id) const {
  std::string v;
  auto st = impl_->db->Get(rocksdb::ReadOptions{},
                           session_key(user_id, session_id), &v);
  if (st.IsNotFound())
    return std::optional<session_state>{};
  if (!st.ok())
    return to_error(st);
  return decode_session(v);
}

caf::error hot_state::put_docs(const std::vector<memory>& docs,
                               const std::string& watermark_name,
                               int64_t watermark_value) {
  rocksdb::WriteBatch wb;
  for (auto& m : docs) {
    std::string v;
    put_str(v, m.memory_id);
    put_str(v, m.memory_type);
    put_str(v, m.user_id);
    put_str(v, m.session_id);
    put_str(v, m.event_id);
    put_i64(v, m.ts_ms);
    put_str(v, m.text);
    put_str(v, m.metadata_json);
    wb.Put(doc_key(m.point_id), v);
  }
  if (!watermark_name.empty()) {
    std::string v;
    put_i64(v, watermark_value);
    wb.Put("w|" + watermark_name, v);
  }
  auto st = impl_->db->Write(rocksdb::WriteOptions{}, &wb);
  if (!st.ok())
    return to_error(st);
  return caf::none;
}

caf::expected<std::vector<std::optional<memory_doc>>>
hot_state::get_docs(const std::vector<uint64_t>& point_ids) const {
  std::vector<std::string> keys;
  keys.reserve(point_ids.size());
  for (auto id : point_ids)
    keys.push_back(doc_key(id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  auto sts = impl_->db->MultiGet(rocksdb::ReadOptions{}, slices, &values);
  std::vector<std::optional<memory_doc>> out(point_ids.size());
  for (size_t i = 0; i < point_ids.size(); ++i) {
    if (sts[i].IsNotFound())
      continue;
    if (!sts[i].ok())
      return to_error(sts[i]);
    auto d = decode_doc(values[i]);
    if (!d)
      return make_error(errc::rocksdb_error, "corrupt memory doc");
    out[i] = std::move(*d);
  }
  return out;
}

caf::expected<int64_t> hot_state::watermark(const std::string& name,
                                            int64_t fallback) const {
  std::string v;
  auto st = impl_->db->Get(rocksdb::ReadOptions{}, "w|" + name, &v);
  if (st.IsNotFound())
    return fallback;
  if (!st.ok())
    return to_error(st);
  value_reader r{v.data(), v.data() + v.size()};
  auto x = r.i64();
  if (!r.ok)
    return make_error(errc::rocksdb_error, "corrupt watermark " + name);
  return x;
}

caf::expected<hot_state::erase_counts>
hot_state::erase_user(const std::string& user_id, int64_t cutoff_ms,
                      bool compact) {
  auto& db = *impl_->db;
  erase_counts n;
  rocksdb::WriteBatch wb;
  std::string msg_prefix = "m|" + user_id;
  msg_prefix.push_back('\0');
  std::string sess_prefix = "s|" + user_id;
  sess_prefix.push_back('\0');
  std::string first_doc, last_doc; // key range of the erased docs
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator({})};
  for (it->Seek(msg_prefix); it->Valid() && it->key().starts_with(msg_prefix);
       it->Next()) {
    auto e = decode_entry(it->value());
    if (!e || e->ts_ms <= cutoff_ms) {
      wb.Delete(it->key());
      ++n.messages;
    }
  }
  for (it->Seek(sess_prefix);
       it->Valid() && it->key().starts_with(sess_prefix); it->Next()) {
    auto s = decode_session(it->value().ToString());
    if (!s || s->last_activity_ms <= cutoff_ms) {
      wb.Delete(it->key());
      ++n.sessions;
    }
  }
  for (it->Seek("d|"); it->Valid() && it->key().starts_with("d|");
       it->Next()) {
    auto d = decode_doc(it->value());
    if (d && d->user_id == user_id && d->ts_ms <= cutoff_ms) {
      wb.Delete(it->key());
      if (n.docs == 0)
        first_doc = it->key().ToString();
      last_doc = it->key().ToString();
      ++n.docs;
    }
  }
  if (!it->status().ok())
    return to_error(it->status());
  it.reset();
  rocksdb::Status st;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    st = db.Write(rocksdb::WriteOptions{}, &wb);
    impl_->forget_user(user_id);
  }
  if (!st.ok())
    return to_error(st);
  if (compact && wb.Count() > 0) {
    // Flush + compact the touched key ranges only (the user's messages and
    // session states, and the span of their docs, which are keyed by point
    // id): deleted values leave the memtable, the WAL and the SST files (no
    // snapshots are held, so compaction drops them), and the cost follows
    // the user's data instead of the whole database.
    auto prefix_end = [](std::string p) {
      p.back() = '\1'; // prefixes end with the '\0' separator
      return p;
    };
    std::vector<std::pair<std::string, std::string>> ranges;
    if (n.messages > 0)
      ranges.emplace_back(msg_prefix, prefix_end(msg_prefix));
    if (n.sessions > 0)
      ranges.emplace_back(sess_prefix, prefix_end(sess_prefix));
    if (n.docs > 0)
      ranges.emplace_back(first_doc, last_doc);
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
    for (auto& [from, to] : ranges) {
      rocksdb::Slice b{from}, e{to}; // [b, e], both inclusive
      st = db.CompactRange(co, &b, &e);
      if (!st.ok())
        return to_error(st);
    }
  }
  return n;
}

caf::expected<hot_state::erase_counts>
hot_state::erase_session(const std::string& user_id,
                         const std::string& session_id) {
  auto& db = *impl_->db;
  erase_counts n;
  rocksdb::WriteBatch wb;
  auto prefix = session_prefix(user_id, session_id);
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator({})};
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    wb.Delete(it->key());
    ++n.messages;
  }
  if (!it->status().ok())
    return to_error(it->status());
  it.reset();
  std::string v;
  auto key = session_key(user_id, session_id);
  auto st = db.Get(rocksdb::ReadOptions{}, key, &v);
  if (st.ok()) {
    wb.Delete(key);
    ++n.sessions;
  } else if (!st.IsNotFound()) {
    return to_error(st);
  }
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    st = db.Write(rocksdb::WriteOptions{}, &wb);
    impl_->forget(impl_->buffers.find(prefix));
  }
  if (!st.ok())
    return to_error(st);
  return n;
}

caf::error hot_state::erase_buffers(const std::vector<std::string>& users) {
  if (users.empty())
    return caf::none;
  rocksdb::WriteBatch wb;
  for (auto& u : users)
    for (const char* kind : {"m|", "s|"}) {
      std::string from = kind + u;
      from.push_back('\0');
      std::string to = from;
      to.back() = '\1'; // just past every key with the prefix
      wb.DeleteRange(from, to);
    }
  std::lock_guard<std::mutex> guard{impl_->mu};
  auto st = impl_->db->Write(rocksdb::WriteOptions{}, &wb);
  for (auto& u : users)
    impl_->forget_user(u);
  return st.ok() ? caf::error{} : to_error(st);
}

caf::expected<size_t>
hot_state::erase_docs(const std::vector<uint64_t>& point_ids) {
  if (point_ids.empty())
    return size_t{0};
  std::vector<std::string> keys;
  keys.reserve(point_ids.size());
  for (auto id : point_ids)
    keys.push_back(doc_key(id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> values;
  auto sts = impl_->db->MultiGet(rocksdb::ReadOptions{}, slices, &values);
  rocksdb::WriteBatch wb;
  size_t n = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (sts[i].IsNotFound())
      continue;
    if (!sts[i].ok())
      return to_error(sts[i]);
    wb.Delete(keys[i]);
    ++n;
  }
  auto st = impl_->db->Write(rocksdb::WriteOptions{}, &wb);
  if (!st.ok())
    return to_error(st);
  return n;
}

caf::error hot_state::for_each_user_message(
  const std::string& user_id,
  const std::function<void(const std::string&, const buffer_entry&)>& f)
  const {
  std::string prefix = "m|" + user_id;
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator({})};
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    auto rest = it->key();
    rest.remove_prefix(prefix.size());
    std::string_view sv{rest.data(), rest.size()};
    auto session = std::string{sv.substr(0, sv.find('\0'))};
    auto e = decode_entry(it->value());
    if (!e)
      return make_error(errc::rocksdb_error, "corrupt buffer entry");
    f(session, *e);
  }
  if (!it->status().ok())
    return to_error(it->status());
  return caf::none;
}

caf::error hot_state::scan(
  const std::function<void(const std::string&, const std::string&)>& f)
  const {
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator({})};
  for (it->SeekToFirst(); it->Valid(); it->Next())
    f(it->key().ToString(), it->value().ToString());
  if (!it->status().ok())
    return to_error(it->status());
  return caf::none;
}

caf::error hot_state::flush() {
  auto st = impl_->db->Flush(rocksdb::FlushOptions{});
  if (!st.ok())
    return to_error(st);
  return caf::none;
}

} // namespace agentmem::storage
