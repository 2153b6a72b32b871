#include "storage/keyword_index.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "domain/text.hpp"
#include "messages/errc.hpp"

namespace fs = std::filesystem;

namespace agentmem::storage {

namespace {

// "AMK3": term frequencies in half units and payloads with tags (older
// snapshots are rebuilt from Postgres).
constexpr uint32_t keyword_magic = 0x414D4B33;

// Term frequencies and lengths are kept in half units: a token of a
// memory's text counts 2, a token of its retrieval context 1 (half weight,
// docs/retrieval.md). Scores divide by this again, so text-only documents
// score exactly as plain BM25.
constexpr uint32_t text_units = 2;
constexpr uint32_t context_units = 1;
constexpr double units_per_count = 2.0;

struct posting {
  uint64_t point;
  uint32_t tf;
};

// Distinct terms of `text` (each token `units`) and `context` (each token
// `ctx_units`) with their weighted frequencies, in first-seen order;
// `length` is the weighted token count.
std::vector<std::pair<std::string, uint32_t>>
term_counts(std::string_view text, size_t& length, uint32_t units = 1,
            std::string_view context = {}, uint32_t ctx_units = 0) {
  thread_local domain::tokenizer tok;
  std::vector<std::string> tokens;
  tok.tokens(text, tokens);
  auto n_text = tokens.size();
  if (ctx_units > 0 && !context.empty())
    tok.tokens(context, tokens);
  length = n_text * units + (tokens.size() - n_text) * ctx_units;
  std::vector<std::pair<std::string, uint32_t>> out;
  std::unordered_map<std::string_view, size_t> pos;
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto [it, added] = pos.try_emplace(tokens[i], out.size());
    if (added)
      out.emplace_back(tokens[i], 0);
    out[it->second].second += i < n_text ? units : ctx_units;
  }
  return out;
}

} // namespace

struct keyword_index::impl {
  std::string dir;
  bm25_params params;
  payload_store payloads; // length = document length in terms
  std::unordered_map<std::string, uint32_t> term_ids;
  std::vector<std::string> terms;
  // Per interned user: term id -> postings; total length of the user's docs.
  struct user_corpus {
    std::unordered_map<uint32_t, std::vector<posting>> postings;
    uint64_t total_length = 0;
  };
  std::vector<user_corpus> corpora;
  // Per point: its terms, kept for snapshots.
  std::unordered_map<uint64_t, std::vector<std::pair<uint32_t, uint32_t>>>
    point_terms;
  int64_t watermark = 0;
  mutable std::shared_mutex mtx;

  uint32_t term_id(const std::string& t) {
    auto [it, added] = term_ids.try_emplace(t, static_cast<uint32_t>(terms.size()));
    if (added)
      terms.push_back(t);
    return it->second;
  }

  void index_point(uint64_t id,
                   std::vector<std::pair<uint32_t, uint32_t>> tfs) {
    auto* p = payloads.find(id);
    if (p->user >= corpora.size())
      corpora.resize(p->user + 1);
    auto& c = corpora[p->user];
    c.total_length += p->length;
    for (auto& [term, tf] : tfs)
      c.postings[term].push_back({id, tf});
    point_terms.emplace(id, std::move(tfs));
  }

  bool add(const memory& m) {
    size_t length = 0;
    auto counts = term_counts(m.text, length, text_units, m.context,
                              context_units);
    std::vector<std::pair<uint32_t, uint32_t>> tfs;
    tfs.reserve(counts.size());
    for (auto& [t, n] : counts)
      tfs.emplace_back(term_id(t), n);
    if (payloads.contains(m.point_id)) {
      replace(m, static_cast<uint32_t>(length), std::move(tfs));
      return false;
    }
    payloads.add(m.point_id, m.user_id, m.session_id, m.memory_type, m.ts_ms,
                 static_cast<uint32_t>(length), m.tags);
    index_point(m.point_id, std::move(tfs));
    return true;
  }

  // A memory updated in place: same point, new text. Unchanged terms and
  // ts (the usual replay) leave everything as it is.
  void replace(const memory& m, uint32_t length,
               std::vector<std::pair<uint32_t, uint32_t>> tfs) {
    auto old = point_terms.find(m.point_id);
    auto* p = payloads.find(m.point_id);
    if (old != point_terms.end() && old->second == tfs && p->ts_ms == m.ts_ms)
      return;
    auto& c = corpora[p->user];
    c.total_length -= p->length;
    if (old != point_terms.end()) {
      for (auto& [term, tf] : old->second) {
        auto it = c.postings.find(term);
        if (it == c.postings.end())
          continue;
        auto& list = it->second;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const posting& x) {
                                    return x.point == m.point_id;
                                  }),
                   list.end());
        if (list.empty())
          c.postings.erase(it);
      }
      point_terms.erase(old);
    }
    payloads.update(m.point_id, m.ts_ms, length);
    index_point(m.point_id, std::move(tfs));
  }

  size_t remove_points(const std::vector<uint64_t>& ids) {
    // Postings to drop, grouped by (user corpus, term).
    std::unordered_map<uint32_t, std::unordered_map<uint32_t, std::vector<uint64_t>>>
      gone;
    std::vector<uint64_t> present;
    for (auto id : ids) {
      auto* p = payloads.find(id);
      auto pt = point_terms.find(id);
      if (!p || pt == point_terms.end())
        continue;
      present.push_back(id);
      if (p->user < corpora.size()) {
        corpora[p->user].total_length -= p->length;
        for (auto& [term, tf] : pt->second)
          gone[p->user][term].push_back(id);
      }
      point_terms.erase(pt);
    }
    for (auto& [user, terms_of] : gone) {
      auto& c = corpora[user];
      for (auto& [term, pids] : terms_of) {
        auto it = c.postings.find(term);
        if (it == c.postings.end())
          continue;
        std::sort(pids.begin(), pids.end());
        auto& ps = it->second;
        ps.erase(std::remove_if(ps.begin(), ps.end(),
                                [&](const posting& x) {
                                  return std::binary_search(
                                    pids.begin(), pids.end(), x.point);
                                }),
                 ps.end());
        if (ps.empty())
          c.postings.erase(it);
      }
    }
    payloads.remove(present);
    return present.size();
  }

  caf::error load(const fs::path& snap) {
    std::ifstream in{snap / "keywords.bin", std::ios::binary};
    uint32_t magic = 0;
    uint64_t nterms = 0, npoints = 0;
    int64_t wm = 0;
    if (!io::read_pod(in, magic) || magic != keyword_magic
        || !io::read_pod(in, wm) || !io::read_pod(in, nterms))
      return make_error(errc::index_error, "unreadable keyword snapshot");
    std::string t;
    for (uint64_t i = 0; i < nterms; ++i) {
      if (!io::read_str(in, t))
        return make_error(errc::index_error, "truncated keyword terms");
      term_id(t);
    }
    if (!io::read_pod(in, npoints))
      return make_error(errc::index_error, "truncated keyword snapshot");
    for (uint64_t i = 0; i < npoints; ++i) {
      auto id = payloads.read_point(in);
      uint32_t n = 0;
      if (!id || !io::read_pod(in, n))
        return make_error(errc::index_error, "truncated keyword points");
      std::vector<std::pair<uint32_t, uint32_t>> tfs(n);
      for (auto& [term, tf] : tfs)
        if (!io::read_pod(in, term) || !io::read_pod(in, tf)
            || term >= terms.size())
          return make_error(errc::index_error, "corrupt keyword postings");
      index_point(*id, std::move(tfs));
    }
    watermark = wm;
    return caf::none;
  }

  void clear() {
    payloads.clear();
    term_ids.clear();
    terms.clear();
    corpora.clear();
    point_terms.clear();
    watermark = 0;
  }
};

keyword_index::keyword_index(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

keyword_index::~keyword_index() = default;

caf::expected<std::unique_ptr<keyword_index>>
keyword_index::open(const std::string& dir, bm25_params params) {
  auto p = std::make_unique<impl>();
  p->dir = dir;
  p->params = params;
  if (dir.empty()) // in memory only
    return std::unique_ptr<keyword_index>{new keyword_index(std::move(p))};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::index_error,
                      "cannot create " + dir + ": " + ec.message());
  fs::path snap = fs::path{dir} / "keywords";
  if (!fs::exists(snap) && fs::exists(fs::path{dir} / "keywords.old"))
    snap = fs::path{dir} / "keywords.old";
  if (fs::exists(snap / "keywords.bin")) {
    if (auto err = p->load(snap))
      p->clear(); // unreadable: rebuilt from Postgres (watermark 0)
  }
  return std::unique_ptr<keyword_index>{new keyword_index(std::move(p))};
}

size_t keyword_index::upsert(const std::vector<memory>& memories) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  size_t added = 0;
  for (auto& m : memories)
    added += impl_->add(m) ? 1 : 0;
  return added;
}

size_t keyword_index::remove(const std::vector<uint64_t>& point_ids) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->remove_points(point_ids);
}

size_t keyword_index::remove_user(const std::string& user_id,
                                  int64_t cutoff_ms) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->remove_points(
    impl_->payloads.user_points_until(user_id, cutoff_ms));
}

std::vector<scored_point>
keyword_index::search(const std::string& query, size_t k,
                      const vector_filter& filter) const {
  size_t qlen = 0;
  auto qterms = term_counts(query, qlen);
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  auto cf = d.payloads.compile(filter);
  if (cf.empty || k == 0 || cf.user >= d.corpora.size())
    return {};
  auto& corpus = d.corpora[cf.user];
  auto n_docs = static_cast<double>(d.payloads.user_size(cf));
  if (n_docs == 0)
    return {};
  double avglen = std::max(1.0, static_cast<double>(corpus.total_length)
                                  / n_docs);
  const double k1 = d.params.k1, b = d.params.b;
  std::unordered_map<uint64_t, double> scores;
  for (auto& [term, qtf] : qterms) {
    auto tid = d.term_ids.find(term);
    if (tid == d.term_ids.end())
      continue;
    auto it = corpus.postings.find(tid->second);
    if (it == corpus.postings.end())
      continue;
    auto df = static_cast<double>(it->second.size());
    double idf = std::log(1.0 + (n_docs - df + 0.5) / (df + 0.5));
    for (auto& post : it->second) {
      auto* p = d.payloads.find(post.point);
      double tf = post.tf / units_per_count;
      double norm = k1 * (1 - b + b * p->length / avglen);
      scores[post.point] += idf * tf * (k1 + 1) / (tf + norm);
    }
  }
  std::vector<scored_point> out;
  out.reserve(scores.size());
  for (auto& [id, s] : scores) {
    auto* p = d.payloads.find(id);
    if (p && d.payloads.matches(*p, cf))
      out.push_back({id, static_cast<float>(s)});
  }
  auto n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + n, out.end(),
                    [](auto& x, auto& y) {
                      return x.score > y.score
                             || (x.score == y.score && x.point_id < y.point_id);
                    });
  out.resize(n);
  return out;
}

caf::error keyword_index::save(int64_t watermark) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  if (d.dir.empty())
    return make_error(errc::index_error, "keyword index: in memory only");
  fs::path dir{d.dir};
  fs::path tmp = dir / "keywords.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    return make_error(errc::index_error, "cannot create " + tmp.string());
  {
    std::ofstream out{tmp / "keywords.bin", std::ios::binary};
    io::write_pod(out, keyword_magic);
    io::write_pod(out, watermark);
    // Only terms some point still uses, renumbered densely: terms of
    // removed (deleted) points must not survive on disk.
    constexpr uint32_t unused = ~uint32_t{0};
    std::vector<uint32_t> remap(d.terms.size(), unused);
    std::vector<uint32_t> used;
    for (auto& [id, tfs] : d.point_terms)
      for (auto& [term, tf] : tfs)
        if (remap[term] == unused) {
          remap[term] = static_cast<uint32_t>(used.size());
          used.push_back(term);
        }
    io::write_pod(out, static_cast<uint64_t>(used.size()));
    for (auto t : used)
      io::write_str(out, d.terms[t]);
    io::write_pod(out, static_cast<uint64_t>(d.point_terms.size()));
    for (auto& [id, tfs] : d.point_terms) {
      d.payloads.write_point(out, id);
      io::write_pod(out, static_cast<uint32_t>(tfs.size()));
      for (auto& [term, tf] : tfs) {
        io::write_pod(out, remap[term]);
        io::write_pod(out, tf);
      }
    }
    if (!out.flush())
      return make_error(errc::index_error, "cannot write keyword snapshot");
  }
  fs::path snap = dir / "keywords";
  fs::path old = dir / "keywords.old";
  fs::remove_all(old, ec);
  if (fs::exists(snap))
    fs::rename(snap, old, ec);
  fs::rename(tmp, snap, ec);
  if (ec)
    return make_error(errc::index_error,
                      "cannot rename keyword snapshot: " + ec.message());
  fs::remove_all(old, ec);
  d.watermark = watermark;
  return caf::none;
}

int64_t keyword_index::watermark() const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->watermark;
}

size_t keyword_index::size() const {
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  return impl_->payloads.size();
}

} // namespace agentmem::storage
