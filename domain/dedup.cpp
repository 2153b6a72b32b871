#include "domain/dedup.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "domain/text.hpp"

namespace agentmem::domain {

bool dedup_eligible(std::string_view type) {
  return type == memory_types::episodic || type == memory_types::document;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.empty() || a.size() != b.size())
    return 0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0)
    return 0;
  return dot / std::sqrt(na * nb);
}

namespace {

std::set<std::string> token_set(std::string_view text) {
  thread_local tokenizer tok;
  std::vector<std::string> ts;
  tok.tokens(text, ts);
  return {ts.begin(), ts.end()};
}

double jaccard(const std::set<std::string>& a, const std::set<std::string>& b) {
  if (a.empty() && b.empty())
    return 1;
  size_t common = 0;
  for (auto& t : a)
    common += b.count(t);
  return static_cast<double>(common)
         / static_cast<double>(a.size() + b.size() - common);
}

} // namespace

double token_jaccard(std::string_view a, std::string_view b) {
  return jaccard(token_set(a), token_set(b));
}

size_t mark_near_duplicates(
  std::vector<memory>& ms,
  const std::vector<std::optional<dedup_candidate>>& stored,
  const dedup_config& cfg) {
  if (!cfg.enabled)
    return 0;
  std::vector<std::set<std::string>> tokens(ms.size());
  std::vector<bool> eligible(ms.size(), false);
  for (size_t i = 0; i < ms.size(); ++i) {
    eligible[i] = dedup_eligible(ms[i].memory_type) && !ms[i].vector.empty();
    if (eligible[i])
      tokens[i] = token_set(ms[i].text);
  }
  size_t marked = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (!eligible[i])
      continue;
    auto& m = ms[i];
    std::string target;
    double best = -2;
    if (i < stored.size() && stored[i] && stored[i]->memory_id != m.memory_id
        && stored[i]->cosine >= cfg.min_cosine
        && jaccard(tokens[i], token_set(stored[i]->text)) >= cfg.min_jaccard) {
      target = stored[i]->memory_id;
      best = stored[i]->cosine;
    }
    for (size_t j = 0; j < i; ++j) {
      auto& o = ms[j];
      if (!eligible[j] || o.user_id != m.user_id
          || o.memory_type != m.memory_type || o.memory_id == m.memory_id)
        continue;
      double c = cosine(m.vector, o.vector);
      if (c < cfg.min_cosine || c <= best
          || jaccard(tokens[i], tokens[j]) < cfg.min_jaccard)
        continue;
      best = c;
      target = o.update_of.empty() ? o.memory_id : o.update_of;
    }
    if (!target.empty() && target != m.memory_id) {
      m.update_of = std::move(target);
      ++marked;
    }
  }
  return marked;
}

} // namespace agentmem::domain
