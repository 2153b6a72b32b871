#include "storage/working_memory.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <variant>

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "domain/text.hpp"
#include "messages/errc.hpp"
#include "storage/rocksdb_memory.hpp"
#include "storage/value_codec.hpp"

namespace agentmem::storage {

namespace {

// put_i64, put_str, put_be64, value_reader: the shared value encoding.
using namespace detail;

// Every value starts with its expiry (ms since epoch, i64 LE).
int64_t expiry_of(const rocksdb::Slice& v) {
  if (v.size() < 8)
    return 0;
  int64_t x;
  std::memcpy(&x, v.data(), 8);
  return x;
}

// Overwrites the expiry in the first 8 bytes of a stored value.
void set_expiry(std::string& v, int64_t expires) {
  if (v.size() >= 8)
    std::memcpy(v.data(), &expires, 8);
}

// How much longer than its session an item is written to live: ttl / 2.
// Larger means fewer rewrites of old items (at most one per slack) and a
// longer stay in storage (not in reads) of an expired session's items when
// no sweep runs; the sweep deletes them with their header.
int64_t item_slack_ms(const working_memory_config& cfg) {
  return cfg.ttl_ms / 2;
}

// A session header: expiry, last write (ms), then -- since the sixteenth
// round (docs/performance.md) -- an upper bound of the session's stored
// items and a lower bound of their stored expiries, so that an append that
// can neither trim nor need to rewrite an item skips reading the session.
// Headers written before carry only the first two (16 bytes).
struct header_bounds {
  uint64_t items = 0;          ///< >= the session's stored items
  int64_t min_item_expiry = 0; ///< <= every stored item's expiry
};

std::optional<header_bounds> bounds_of(const std::string& header) {
  value_reader r{header.data(), header.data() + header.size()};
  r.i64(); // expiry
  r.i64(); // last write
  header_bounds b;
  b.items = static_cast<uint64_t>(r.i64());
  b.min_item_expiry = r.i64();
  if (!r.ok)
    return std::nullopt; // a header written before the bounds
  return b;
}

std::string encode_header(int64_t expires, int64_t last_write,
                          const header_bounds& b) {
  std::string h;
  put_i64(h, expires);
  put_i64(h, last_write);
  put_i64(h, static_cast<int64_t>(b.items));
  put_i64(h, b.min_item_expiry);
  return h;
}

std::string session_part(const std::string& user, const std::string& sess) {
  std::string k = user;
  k.push_back('\0');
  k += sess;
  return k;
}

std::string header_key(const std::string& session_part) {
  return "h|" + session_part;
}

std::string item_prefix(const std::string& session_part) {
  std::string k = "i|" + session_part;
  k.push_back('\0');
  return k;
}

// The `user\0session` part of an item key `i|user\0session\0<ts><id>`
// (ids hold no NUL: the contract rejects them).
rocksdb::Slice item_session_part(const rocksdb::Slice& key) {
  std::string_view k{key.data(), key.size()};
  auto user_end = k.find('\0', 2);
  auto end = user_end == k.npos ? k.npos : k.find('\0', user_end + 1);
  if (end == k.npos)
    end = k.size();
  return {key.data() + 2, end - 2};
}

std::string item_key(const std::string& prefix, const working_memory::item& it) {
  std::string k = prefix;
  put_be64(k, static_cast<uint64_t>(it.ts_ms) ^ 0x8000000000000000ULL);
  k += it.event_id;
  return k;
}

std::string encode_item(const working_memory::item& it, int64_t expires) {
  std::string v;
  put_i64(v, expires);
  put_i64(v, it.ts_ms);
  put_i64(v, it.success ? 1 : 0);
  put_str(v, it.event_id);
  put_str(v, it.kind);
  put_str(v, it.name);
  put_str(v, it.content);
  return v;
}

std::optional<working_memory::item> decode_item(const rocksdb::Slice& v) {
  value_reader r{v.data(), v.data() + v.size()};
  r.i64(); // expiry
  working_memory::item it;
  it.ts_ms = r.i64();
  it.success = r.i64() != 0;
  it.event_id = r.str();
  it.kind = r.str();
  it.name = r.str();
  it.content = r.str();
  if (!r.ok)
    return std::nullopt;
  return it;
}

caf::error to_error(const rocksdb::Status& st) {
  return make_error(errc::rocksdb_error, "working memory: " + st.ToString());
}

// Drops entries whose expiry has passed while RocksDB compacts.
class expiry_filter : public rocksdb::CompactionFilter {
public:
  explicit expiry_filter(const working_memory::clock* now) : now_(now) {
  }
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value,
              std::string*, bool*) const override {
    return value.size() >= 8 && expiry_of(value) <= (*now_)();
  }
  const char* Name() const override {
    return "agentmem.working_memory.expiry";
  }

private:
  const working_memory::clock* now_;
};

} // namespace

struct working_memory::impl {
  clock now;
  std::unique_ptr<expiry_filter> filter;
  std::unique_ptr<rocksdb::DB> db;

  // Deletes a session's header and the given item keys in one WriteBatch.
  caf::error delete_session(
    const std::string& session_part,
    const std::vector<std::pair<std::string, item>>& items) {
    rocksdb::WriteBatch wb;
    wb.Delete(header_key(session_part));
    for (auto& kv : items)
      wb.Delete(kv.first);
    auto st = db->Write(rocksdb::WriteOptions{}, &wb);
    if (!st.ok())
      return to_error(st);
    return caf::none;
  }

  // Whether the session `user\0session` has a header that has not expired
  // at `now`.
  caf::expected<bool> header_live(const std::string& session_part,
                                  int64_t now) const {
    std::string h;
    auto st = db->Get(rocksdb::ReadOptions{}, header_key(session_part), &h);
    if (st.IsNotFound())
      return false;
    if (!st.ok())
      return to_error(st);
    return expiry_of(h) > now;
  }

  // Existing (key, item) pairs of a session, oldest first.
  caf::error items(const std::string& prefix,
                   std::vector<std::pair<std::string, item>>& out) const {
    std::unique_ptr<rocksdb::Iterator> it{db->NewIterator({})};
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      auto x = decode_item(it->value());
      if (!x)
        return make_error(errc::rocksdb_error, "corrupt working-memory item");
      out.emplace_back(it->key().ToString(), std::move(*x));
    }
    if (!it->status().ok())
      return to_error(it->status());
    return caf::none;
  }
};

working_memory::working_memory(std::unique_ptr<impl> p,
                               working_memory_config cfg)
  : impl_(std::move(p)), cfg_(cfg) {
}

size_t working_memory::rocksdb_memory_bytes() const {
  return detail::rocksdb_memory_bytes(*impl_->db);
}

working_memory::~working_memory() {
  if (impl_ && impl_->db)
    impl_->db->Close();
}

caf::expected<std::unique_ptr<working_memory>>
working_memory::open(const std::string& dir, working_memory_config cfg,
                     clock now) {
  if (cfg.ttl_ms < 1 || cfg.max_items < 1)
    return make_error(errc::invalid_config,
                      "working memory: ttl_ms and max_items must be >= 1");
  auto p = std::make_unique<impl>();
  p->now = now ? std::move(now) : clock{[] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  }};
  p->filter = std::make_unique<expiry_filter>(&p->now);
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.compaction_filter = p->filter.get();
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, &raw);
  if (!st.ok())
    return to_error(st);
  p->db.reset(raw);
  return std::unique_ptr<working_memory>{
    new working_memory(std::move(p), cfg)};
}

std::optional<working_memory::item>
working_memory::item_of(const activity& a, size_t max_chars) {
  item it;
  it.event_id = a.event_id;
  it.ts_ms = a.ts_ms;
  it.success = a.success;
  const auto& cls = a.activity_class;
  std::string content;
  if (cls == "message") {
    it.kind = "message";
    it.name = a.agent_name.empty() ? a.role : a.agent_name;
    content = a.content;
  } else if (cls == "tool_call") {
    it.kind = "tool_result";
    it.name = a.tool_name;
    content = !a.output_json.empty() && a.output_json != "{}" ? a.output_json
              : !a.content.empty() ? a.content
                                   : a.error_message;
  } else if (cls == "task") {
    it.kind = "task";
    it.name = a.tool_name.empty() ? a.agent_type : a.tool_name;
    content = !a.content.empty() ? a.content
              : a.output_json != "{}" ? a.output_json
                                      : std::string{};
    if (!a.success && !a.error_message.empty())
      content += (content.empty() ? "" : " ") + std::string{"Error: "}
                 + a.error_message;
  } else {
    return std::nullopt;
  }
  if (cls == "message" && content.empty())
    return std::nullopt;
  it.content = domain::truncate_utf8(content, max_chars);
  return it;
}

caf::error working_memory::append(const std::vector<activity>& acts) {
  return append(acts, impl_->now());
}

caf::error working_memory::append(const std::vector<activity>& acts,
                                  int64_t written_at_ms) {
  std::map<std::string, std::vector<item>> by_session;
  for (auto& a : acts)
    if (auto it = item_of(a, cfg_.max_item_chars))
      by_session[session_part(a.user_id, a.session_id)].push_back(
        std::move(*it));
  if (by_session.empty())
    return caf::none;
  auto& db = *impl_->db;
  int64_t now = impl_->now();
  int64_t expires = written_at_ms + cfg_.ttl_ms;
  if (expires <= now)
    return caf::none; // would be expired at once
  // Items are written to expire `slack` after their session, and a write
  // rewrites only the items that would otherwise expire before the new
  // session expiry: each item is rewritten at most once per `slack` instead
  // of on every write to its session (see the class comment).
  int64_t slack = item_slack_ms(cfg_);
  rocksdb::WriteBatch wb;
  // One iterator for every session of the call (creating one costs more
  // than a Seek); the writes come after all reads.
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator({})};
  for (auto& [sp, fresh] : by_session) {
    auto prefix = item_prefix(sp);
    std::string header;
    auto st = db.Get(rocksdb::ReadOptions{}, header_key(sp), &header);
    if (!st.ok() && !st.IsNotFound())
      return to_error(st);
    bool alive = st.ok() && expiry_of(header) > now;
    // A rebuild (written_at in the past) never shortens a session that
    // was written since.
    int64_t session_expires =
      alive ? std::max(expiry_of(header), expires) : expires;
    int64_t item_expires = session_expires + slack;
    int64_t last_write = std::max(written_at_ms, session_expires - cfg_.ttl_ms);
    // Without reading the session: when its header proves that no stored
    // item expires before the new session expiry (nothing to rewrite) and
    // that the new items fit under max_items (nothing to trim), the slow
    // path below would only write the new items and the header. Replayed
    // items overwrite themselves and keep `items` an upper bound.
    if (alive) {
      auto b = bounds_of(header);
      if (b && b->min_item_expiry >= session_expires
          && b->items + fresh.size() <= cfg_.max_items) {
        for (auto& x : fresh)
          wb.Put(item_key(prefix, x), encode_item(x, item_expires));
        b->items += fresh.size();
        b->min_item_expiry = std::min(b->min_item_expiry, item_expires);
        wb.Put(header_key(sp), encode_header(session_expires, last_write, *b));
        continue;
      }
    }
    // key -> an old item that outlives the session already (its stored
    // expiry), an old item's stored value to rewrite with a later expiry,
    // or a new item; ordered like the keys (event time, then event id).
    std::map<std::string, std::variant<int64_t, std::string, const item*>>
      all;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      if (!alive)
        wb.Delete(it->key()); // an expired session starts afresh
      else if (auto e = expiry_of(it->value()); e >= session_expires)
        all.emplace(it->key().ToString(), e);
      else
        all.emplace(it->key().ToString(), it->value().ToString());
    }
    if (!it->status().ok())
      return to_error(it->status());
    for (auto& x : fresh)
      all[item_key(prefix, x)] = &x;
    size_t drop = all.size() > cfg_.max_items ? all.size() - cfg_.max_items
                                              : 0;
    // Exact bounds of what stays (drop trims the oldest).
    header_bounds kept{all.size() - drop, item_expires};
    for (auto& [k, v] : all) {
      if (drop > 0) {
        wb.Delete(k);
        --drop;
        continue;
      }
      if (auto* x = std::get_if<const item*>(&v)) {
        wb.Put(k, encode_item(**x, item_expires));
        continue;
      }
      if (auto* stored = std::get_if<std::string>(&v)) {
        set_expiry(*stored, item_expires);
        wb.Put(k, *stored);
        continue;
      }
      kept.min_item_expiry =
        std::min(kept.min_item_expiry, std::get<int64_t>(v));
    }
    wb.Put(header_key(sp), encode_header(session_expires, last_write, kept));
  }
  it.reset();
  auto st = db.Write(rocksdb::WriteOptions{}, &wb);
  if (!st.ok())
    return to_error(st);
  return caf::none;
}

caf::expected<std::optional<working_memory::view>>
working_memory::get(const std::string& user_id,
                    const std::string& session_id) {
  auto& db = *impl_->db;
  auto sp = session_part(user_id, session_id);
  std::string header;
  auto st = db.Get(rocksdb::ReadOptions{}, header_key(sp), &header);
  if (st.IsNotFound())
    return std::optional<view>{};
  if (!st.ok())
    return to_error(st);
  auto prefix = item_prefix(sp);
  std::vector<std::pair<std::string, item>> items;
  if (auto err = impl_->items(prefix, items))
    return err;
  int64_t expires = expiry_of(header);
  if (expires <= impl_->now()) {
    // Lazy expiry: gone for readers now, and deleted.
    if (auto err = impl_->delete_session(sp, items))
      return err;
    return std::optional<view>{};
  }
  view v;
  v.expires_at_ms = expires;
  v.items.reserve(items.size());
  for (auto& kv : items)
    v.items.push_back(std::move(kv.second));
  return std::optional<view>{std::move(v)};
}

caf::expected<size_t> working_memory::sweep() {
  auto& db = *impl_->db;
  int64_t now = impl_->now();
  rocksdb::WriteBatch wb;
  size_t sessions = 0;
  // Items outlive their header by up to the slack: an item still within
  // its own expiry goes too when its session is expired (or has no
  // header). Keys are ordered by session, so the header is read once per
  // session (the latest value, not the iterator's snapshot: a session an
  // append revived meanwhile keeps its items).
  std::string session;
  bool session_live = false;
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator({})};
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = it->key();
    bool expired = expiry_of(it->value()) <= now;
    if (!expired && key.starts_with("i|")) {
      auto sp = item_session_part(key);
      if (sp != session) {
        session = sp.ToString();
        auto live = impl_->header_live(session, now);
        if (!live)
          return live.error();
        session_live = *live;
      }
      expired = !session_live;
    }
    if (!expired)
      continue;
    wb.Delete(key);
    if (key.starts_with("h|"))
      ++sessions;
  }
  if (!it->status().ok())
    return to_error(it->status());
  if (wb.Count() > 0) {
    auto st = db.Write(rocksdb::WriteOptions{}, &wb);
    if (!st.ok())
      return to_error(st);
  }
  return sessions;
}

namespace {

// `h|user\0` / `i|user\0`: every key of one user (a user id holds no NUL,
// the contract rejects it), and the exclusive end of that range.
std::string user_prefix(char kind, const std::string& user_id) {
  std::string k{kind};
  k += '|';
  k += user_id;
  k.push_back('\0');
  return k;
}

std::string prefix_end(std::string p) {
  p.back() = '\1';
  return p;
}

} // namespace

caf::expected<working_memory::erase_counts>
working_memory::erase_user(const std::string& user_id, int64_t cutoff_ms,
                           bool compact) {
  auto& db = *impl_->db;
  erase_counts n;
  rocksdb::WriteBatch wb;
  auto items_from = user_prefix('i', user_id);
  auto heads_from = user_prefix('h', user_id);
  // Sessions (user\0session) that keep at least one item.
  std::set<std::string> kept;
  std::unique_ptr<rocksdb::Iterator> it{db.NewIterator({})};
  for (it->Seek(items_from); it->Valid() && it->key().starts_with(items_from);
       it->Next()) {
    auto x = decode_item(it->value());
    if (!x || x->ts_ms <= cutoff_ms) {
      wb.Delete(it->key());
      ++n.items;
      continue;
    }
    kept.insert(item_session_part(it->key()).ToString());
  }
  for (it->Seek(heads_from); it->Valid() && it->key().starts_with(heads_from);
       it->Next()) {
    if (kept.count(it->key().ToString().substr(2)) > 0)
      continue;
    wb.Delete(it->key());
    ++n.sessions;
  }
  if (!it->status().ok())
    return to_error(it->status());
  it.reset();
  if (wb.Count() == 0)
    return n;
  auto st = db.Write(rocksdb::WriteOptions{}, &wb);
  if (!st.ok())
    return to_error(st);
  if (compact) {
    // Flush + compact only the user's two key ranges: deleted values leave
    // the memtable, WAL and SST files at a cost that follows the user's
    // data, not the whole database.
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
    for (auto* from : {&heads_from, &items_from}) {
      auto to = prefix_end(*from);
      rocksdb::Slice b{*from}, e{to};
      st = db.CompactRange(co, &b, &e);
      if (!st.ok())
        return to_error(st);
    }
  }
  return n;
}

caf::expected<working_memory::erase_counts>
working_memory::erase_session(const std::string& user_id,
                              const std::string& session_id) {
  auto& db = *impl_->db;
  auto sp = session_part(user_id, session_id);
  std::vector<std::pair<std::string, item>> items;
  if (auto err = impl_->items(item_prefix(sp), items))
    return err;
  std::string header;
  auto st = db.Get(rocksdb::ReadOptions{}, header_key(sp), &header);
  if (!st.ok() && !st.IsNotFound())
    return to_error(st);
  erase_counts n;
  n.items = items.size();
  n.sessions = st.ok() ? 1 : 0;
  if (n.items + n.sessions == 0)
    return n;
  if (auto err = impl_->delete_session(sp, items))
    return err;
  return n;
}

caf::error working_memory::for_each_user_item(
  const std::string& user_id,
  const std::function<void(const std::string&, const item&)>& fn) const {
  auto from = user_prefix('i', user_id);
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator({})};
  for (it->Seek(from); it->Valid() && it->key().starts_with(from);
       it->Next()) {
    auto x = decode_item(it->value());
    if (!x)
      return make_error(errc::rocksdb_error, "corrupt working-memory item");
    auto k = it->key().ToString();
    auto end = k.find('\0', from.size());
    fn(k.substr(from.size(), end - from.size()), *x);
  }
  if (!it->status().ok())
    return to_error(it->status());
  return caf::none;
}

caf::error working_memory::compact() {
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  auto st = impl_->db->Flush(rocksdb::FlushOptions{});
  if (st.ok())
    st = impl_->db->CompactRange(o, nullptr, nullptr);
  if (!st.ok())
    return to_error(st);
  return caf::none;
}

size_t working_memory::raw_key_count() const {
  size_t n = 0;
  scan([&](const std::string&, const std::string&) { ++n; });
  return n;
}

caf::error working_memory::scan(
  const std::function<void(const std::string&, const std::string&)>& f)
  const {
  std::unique_ptr<rocksdb::Iterator> it{impl_->db->NewIterator({})};
  for (it->SeekToFirst(); it->Valid(); it->Next())
    f(it->key().ToString(), it->value().ToString());
  if (!it->status().ok())
    return to_error(it->status());
  return caf::none;
}

} // namespace agentmem::storage
