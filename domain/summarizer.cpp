#include "domain/summarizer.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "domain/text.hpp"

namespace agentmem::domain {

namespace {

struct sentence {
  size_t order;
  std::string speaker;
  std::string_view text;
  std::vector<std::string> tokens;
};

} // namespace

std::string summarize_session(const std::vector<utterance>& utterances,
                              size_t max_sentences, size_t max_chars) {
  thread_local tokenizer tok; // per thread: its stemmer and word cache
  std::vector<sentence> sents;
  std::unordered_map<std::string, double> prob;
  double total = 0;
  for (auto& u : utterances) {
    for (auto s : split_sentences(u.text)) {
      sentence x{sents.size(), u.speaker, s, {}};
      tok.tokens(s, x.tokens);
      if (x.tokens.empty())
        continue;
      for (auto& t : x.tokens) {
        prob[t] += 1;
        total += 1;
      }
      sents.push_back(std::move(x));
    }
  }
  if (sents.empty())
    return {};
  for (auto& [w, p] : prob)
    p /= total;
  std::vector<bool> used(sents.size(), false);
  std::vector<size_t> picked;
  size_t chars = 0;
  while (picked.size() < max_sentences && picked.size() < sents.size()) {
    // The most probable word still present in an unused sentence.
    std::string best_word;
    double best_p = -1;
    for (size_t i = 0; i < sents.size(); ++i) {
      if (used[i])
        continue;
      for (auto& t : sents[i].tokens) {
        double p = prob[t];
        if (p > best_p || (p == best_p && t < best_word)) {
          best_p = p;
          best_word = t;
        }
      }
    }
    // Among sentences holding it, the one with the highest mean p(w).
    size_t best = sents.size();
    double best_score = -1;
    for (size_t i = 0; i < sents.size(); ++i) {
      if (used[i])
        continue;
      auto& ts = sents[i].tokens;
      if (std::find(ts.begin(), ts.end(), best_word) == ts.end())
        continue;
      double score = 0;
      for (auto& t : ts)
        score += prob[t];
      score /= static_cast<double>(ts.size());
      if (score > best_score) {
        best_score = score;
        best = i;
      }
    }
    if (best == sents.size())
      break;
    used[best] = true;
    size_t len = sents[best].text.size() + sents[best].speaker.size() + 3;
    if (!picked.empty() && chars + len > max_chars)
      break;
    chars += len;
    picked.push_back(best);
    for (auto& t : sents[best].tokens)
      prob[t] = prob[t] * prob[t];
  }
  std::sort(picked.begin(), picked.end());
  std::string out;
  for (auto i : picked) {
    if (!out.empty())
      out += ' ';
    if (!sents[i].speaker.empty()) {
      out += sents[i].speaker;
      out += ": ";
    }
    out += truncate_utf8(sents[i].text, max_chars);
  }
  return out;
}

} // namespace agentmem::domain
