#include "storage/keyword_index.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "domain/text.hpp"
#include "messages/errc.hpp"
#include "storage/string_interner.hpp"

namespace fs = std::filesystem;

namespace agentmem::storage {

namespace {

// "AMK5": term frequencies in half units, payloads with tags, scope and
// importance, speaker terms (older snapshots are rebuilt from Postgres).
constexpr uint32_t keyword_magic = 0x414D4B35;

// Speaker name tokens are terms of their own field: the prefix keeps them
// apart from text terms (the tokenizer never emits a byte below 0x20), and
// their postings carry tf 0, so they add nothing to BM25 scores or lengths.
constexpr char speaker_prefix = '\x01';


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

// Distinct terms of a query with their frequencies, in first-seen order;
// `length` is the token count.
std::vector<std::pair<std::string, uint32_t>>
term_counts(std::string_view text, size_t& length) {
  thread_local domain::tokenizer tok;
  std::vector<std::string> tokens;
  tok.tokens(text, tokens);
  length = tokens.size();
  std::vector<std::pair<std::string, uint32_t>> out;
  std::unordered_map<std::string_view, size_t> pos;
  for (auto& t : tokens) {
    auto [it, added] = pos.try_emplace(t, out.size());
    if (added)
      out.emplace_back(t, 0);
    ++out[it->second].second;
  }
  return out;
}

} // namespace

struct keyword_index::impl {
  std::string dir;
  bm25_params params;
  payload_store payloads; // length = document length in terms
  string_interner terms; // term -> id, id -> term
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

  // The filter's user's corpus; nullptr when the filter matches nothing.
  const user_corpus* corpus_of(const payload_store::compiled_filter& cf) const {
    return cf.empty || cf.user >= corpora.size() ? nullptr : &corpora[cf.user];
  }

  uint32_t term_id(std::string_view t) {
    return terms.intern(t);
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

  // The document's terms as (term id, weighted tf) in first-seen order
  // (text, then context, then speaker names); `length` is the weighted
  // token count. Each token goes straight to its id (one lookup) and
  // repeats are merged by sorting ids: a per-document map and copies of
  // every token were most of the index's share of a steady run
  // (docs/performance.md, eleventh round).
  std::vector<std::pair<uint32_t, uint32_t>>
  term_frequencies(const memory& m, size_t& length) {
    thread_local domain::tokenizer tok;
    thread_local std::vector<std::string> tokens;
    struct occurrence {
      uint32_t term, first, units;
    };
    thread_local std::vector<occurrence> seen;
    tokens.clear();
    tok.tokens(m.text, tokens);
    auto n_text = tokens.size();
    if (!m.context.empty())
      tok.tokens(m.context, tokens);
    length = n_text * text_units + (tokens.size() - n_text) * context_units;
    seen.clear();
    for (size_t i = 0; i < tokens.size(); ++i)
      seen.push_back({term_id(tokens[i]), static_cast<uint32_t>(i),
                      i < n_text ? text_units : context_units});
    std::sort(seen.begin(), seen.end(), [](auto& x, auto& y) {
      return x.term < y.term || (x.term == y.term && x.first < y.first);
    });
    size_t distinct = 0;
    for (size_t i = 0; i < seen.size(); ++i) {
      if (distinct > 0 && seen[distinct - 1].term == seen[i].term)
        seen[distinct - 1].units += seen[i].units;
      else
        seen[distinct++] = seen[i];
    }
    seen.resize(distinct);
    std::sort(seen.begin(), seen.end(),
              [](auto& x, auto& y) { return x.first < y.first; });
    std::vector<std::pair<uint32_t, uint32_t>> tfs;
    tfs.reserve(seen.size());
    for (auto& o : seen)
      tfs.emplace_back(o.term, o.units);
    if (!m.speaker.empty()) {
      std::vector<std::string> names;
      tok.tokens(m.speaker, names);
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      for (auto& n : names)
        tfs.emplace_back(term_id(speaker_prefix + n), 0);
    }
    return tfs;
  }

  bool add(const memory& m) {
    size_t length = 0;
    auto tfs = term_frequencies(m, length);
    if (payloads.contains(m.point_id)) {
      payloads.set_importance(m.point_id, static_cast<float>(m.importance));
      replace(m, static_cast<uint32_t>(length), std::move(tfs));
      return false;
    }
    payloads.add(m.point_id, m.user_id, m.session_id, m.memory_type, m.ts_ms,
                 static_cast<uint32_t>(length), m.tags, point_scope_of(m));
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

size_t keyword_index::sync_labels(const std::vector<memory>& ms) {
  std::unique_lock<std::shared_mutex> guard{impl_->mtx};
  size_t changed = 0;
  for (auto& m : ms)
    changed += impl_->payloads.set_labels(m.point_id, m.tags,
                                          static_cast<float>(m.importance))
                 ? 1
                 : 0;
  return changed;
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

namespace {

bool better_point(const scored_point& x, const scored_point& y) {
  return x.score > y.score || (x.score == y.score && x.point_id < y.point_id);
}

} // namespace

// BM25 of every point holding one of the weighted terms (the corpus of the
// filter's user), filter conditions not yet checked.
struct keyword_index::scorer {
  const impl& d;
  const impl::user_corpus& corpus;
  double n_docs;
  double avglen;

  double idf(const std::vector<posting>& list) const {
    auto df = static_cast<double>(list.size());
    return std::log(1.0 + (n_docs - df + 0.5) / (df + 0.5));
  }

  std::unordered_map<uint64_t, double>
  score(const std::vector<std::pair<uint32_t, double>>& terms) const {
    const double k1 = d.params.k1, b = d.params.b;
    std::unordered_map<uint64_t, double> scores;
    for (auto& [tid, weight] : terms) {
      auto it = corpus.postings.find(tid);
      if (it == corpus.postings.end())
        continue;
      double w = weight * idf(it->second);
      for (auto& post : it->second) {
        auto* p = d.payloads.find(post.point);
        double tf = post.tf / units_per_count;
        double norm = k1 * (1 - b + b * p->length / avglen);
        scores[post.point] += w * tf * (k1 + 1) / (tf + norm);
      }
    }
    return scores;
  }
};

std::vector<scored_point>
keyword_index::score_all(const std::string& query, const vector_filter& filter,
                         const prf_params& prf) const {
  size_t qlen = 0;
  auto qterms = term_counts(query, qlen);
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  auto cf = d.payloads.compile(filter);
  auto* user = d.corpus_of(cf);
  if (!user)
    return {};
  auto& corpus = *user;
  auto n_docs = static_cast<double>(d.payloads.user_size(cf));
  if (n_docs == 0)
    return {};
  scorer sc{d, corpus,  n_docs,
            std::max(1.0, static_cast<double>(corpus.total_length) / n_docs)};
  std::vector<std::pair<uint32_t, double>> terms;
  for (auto& [term, qtf] : qterms)
    if (auto tid = d.terms.find(term))
      terms.emplace_back(*tid, 1.0);
  auto matching = [&](const std::unordered_map<uint64_t, double>& scores) {
    std::vector<scored_point> out;
    out.reserve(scores.size());
    for (auto& [id, s] : scores) {
      auto* p = d.payloads.find(id);
      if (p && d.payloads.matches(*p, cf))
        out.push_back({id, static_cast<float>(s)});
    }
    return out;
  };
  auto first = matching(sc.score(terms));
  if (prf.docs == 0 || prf.terms == 0 || first.empty())
    return first;
  // Relevance model of the first pass's top documents.
  auto n = std::min(prf.docs, first.size());
  std::partial_sort(first.begin(), first.begin() + n, first.end(),
                    better_point);
  std::unordered_map<uint32_t, double> fb;
  for (size_t i = 0; i < n; ++i) {
    auto pt = d.point_terms.find(first[i].point_id);
    auto* p = d.payloads.find(first[i].point_id);
    if (pt == d.point_terms.end() || !p || p->length == 0)
      continue;
    for (auto& [term, tf] : pt->second) {
      if (tf == 0)
        continue; // speaker field
      auto list = corpus.postings.find(term);
      if (list != corpus.postings.end())
        fb[term] += static_cast<double>(tf) / p->length * sc.idf(list->second);
    }
  }
  std::vector<std::pair<uint32_t, double>> top(fb.begin(), fb.end());
  auto m = std::min(prf.terms, top.size());
  // Ties broken by the term's text, not its id: ids follow insertion
  // order, which differs between an index built live, one rebuilt from
  // Postgres and one loaded from a snapshot, and their rankings must not.
  std::partial_sort(top.begin(), top.begin() + m, top.end(),
                    [&d](auto& x, auto& y) {
                      return x.second > y.second
                             || (x.second == y.second
                                 && d.terms[x.first] < d.terms[y.first]);
                    });
  top.resize(m);
  if (top.empty())
    return first;
  double max_fb = top.front().second;
  for (auto& [term, w] : top) {
    auto add = prf.weight * w / max_fb;
    auto it = std::find_if(terms.begin(), terms.end(),
                           [&](auto& t) { return t.first == term; });
    if (it != terms.end())
      it->second += add;
    else
      terms.emplace_back(term, add);
  }
  return matching(sc.score(terms));
}

std::vector<scored_point>
keyword_index::search(const std::string& query, size_t k,
                      const vector_filter& filter) const {
  if (k == 0)
    return {};
  auto out = score_all(query, filter);
  auto n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + n, out.end(), better_point);
  out.resize(n);
  return out;
}

std::vector<uint64_t>
keyword_index::speaker_points(const std::string& query,
                              const vector_filter& filter) const {
  thread_local domain::tokenizer tok;
  std::vector<std::string> words;
  tok.tokens(query, words);
  std::shared_lock<std::shared_mutex> guard{impl_->mtx};
  auto& d = *impl_;
  auto cf = d.payloads.compile(filter);
  auto* user = d.corpus_of(cf);
  if (!user)
    return {};
  auto& corpus = *user;
  const std::vector<posting>* named = nullptr;
  std::vector<uint32_t> seen;
  for (auto& w : words) {
    auto tid = d.terms.find(speaker_prefix + w);
    if (!tid || std::find(seen.begin(), seen.end(), *tid) != seen.end())
      continue;
    seen.push_back(*tid);
    auto it = corpus.postings.find(*tid);
    if (it == corpus.postings.end())
      continue;
    auto same = [](const std::vector<posting>& a, const std::vector<posting>& b) {
      return a.size() == b.size()
             && std::equal(a.begin(), a.end(), b.begin(),
                           [](auto& x, auto& y) { return x.point == y.point; });
    };
    if (named && !same(*named, it->second))
      return {}; // two speakers named: no single person to favour
    named = &it->second;
  }
  std::vector<uint64_t> out;
  if (!named)
    return out;
  for (auto& post : *named) {
    auto* p = d.payloads.find(post.point);
    if (p && d.payloads.matches(*p, cf))
      out.push_back(post.point);
  }
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
