#include "domain/dedup.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
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
  // Token sets only when a pair passes the cosine test (the Jaccard test
  // comes second), and candidates only among memories of the same user
  // and type (comparing every pair of a batch was quadratic).
  std::vector<std::optional<std::set<std::string>>> tokens(ms.size());
  auto tokens_of = [&](size_t i) -> const std::set<std::string>& {
    if (!tokens[i])
      tokens[i] = token_set(ms[i].text);
    return *tokens[i];
  };
  std::map<std::pair<std::string_view, std::string_view>, std::vector<size_t>>
    earlier; // (user, type) -> eligible indices so far, ascending
  size_t marked = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (!dedup_eligible(ms[i].memory_type) || ms[i].vector.empty())
      continue;
    auto& m = ms[i];
    std::string target;
    double best = -2;
    if (i < stored.size() && stored[i] && stored[i]->memory_id != m.memory_id
        && stored[i]->cosine >= cfg.min_cosine
        && jaccard(tokens_of(i), token_set(stored[i]->text))
             >= cfg.min_jaccard) {
      target = stored[i]->memory_id;
      best = stored[i]->cosine;
    }
    auto& same = earlier[{m.user_id, m.memory_type}];
    for (auto j : same) {
      auto& o = ms[j];
      if (o.memory_id == m.memory_id)
        continue;
      double c = cosine(m.vector, o.vector);
      if (c < cfg.min_cosine || c <= best
          || jaccard(tokens_of(i), tokens_of(j)) < cfg.min_jaccard)
        continue;
      best = c;
      target = o.update_of.empty() ? o.memory_id : o.update_of;
    }
    same.push_back(i);
    if (!target.empty() && target != m.memory_id) {
      m.update_of = std::move(target);
      ++marked;
    }
  }
  return marked;
}

} // namespace agentmem::domain
