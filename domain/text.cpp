#include "domain/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <libstemmer.h>
#include <xxhash.h>

namespace agentmem::domain {

namespace {

// A compact English stop-word list: function words and pronouns, which
// carry no topic. Sorted: looked up with binary_search.
constexpr std::array<std::string_view, 126> stop_words = {
  "a", "about", "above", "after", "again", "against", "all", "am", "an",
  "and", "any", "are", "as", "at", "be", "because", "been", "before",
  "being", "below", "between", "both", "but", "by", "can", "could", "did",
  "do", "does", "doing", "down", "during", "each", "few", "for", "from",
  "further", "had", "has", "have", "having", "he", "her", "here", "hers",
  "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is",
  "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no",
  "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other",
  "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should",
  "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
  "themselves", "then", "there", "these", "they", "this", "those", "through",
  "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
  "when", "where", "which", "while", "who", "whom", "why", "will", "with",
  "would", "you", "your", "yours", "yourself", "yourselves",
};

bool word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c >= 0x80;
}

char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32)
                                : static_cast<char>(c);
}

} // namespace

tokenizer::tokenizer() : stemmer_(sb_stemmer_new("english", "UTF_8")) {
}

tokenizer::~tokenizer() {
  if (stemmer_)
    sb_stemmer_delete(static_cast<sb_stemmer*>(stemmer_));
}

bool tokenizer::is_stop_word(std::string_view word) {
  return std::binary_search(stop_words.begin(), stop_words.end(), word);
}

namespace {

// Reads the word starting at or after `i` into `w` (lower-cased, in-word
// apostrophes dropped) and leaves `i` after it; false when no word is left.
bool next_word(std::string_view text, size_t& i, std::string& w) {
  const size_t n = text.size();
  while (i < n && !word_byte(static_cast<unsigned char>(text[i])))
    ++i;
  if (i >= n)
    return false;
  w.clear();
  while (i < n) {
    auto c = static_cast<unsigned char>(text[i]);
    if (word_byte(c)) {
      w += lower(c);
      ++i;
    } else if (c == '\'' && i + 1 < n && !w.empty()
               && word_byte(static_cast<unsigned char>(text[i + 1]))) {
      ++i; // drop in-word apostrophes: don't -> dont
    } else {
      break;
    }
  }
  return true;
}

} // namespace

void tokenizer::words(std::string_view text, std::vector<std::string>& out) {
  size_t i = 0;
  std::string w;
  while (next_word(text, i, w))
    out.push_back(w);
}

const tokenizer::cached_word* tokenizer::cached(std::string_view word,
                                                uint64_t hash) const {
  if (cache_.empty())
    return nullptr;
  const size_t mask = cache_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const auto& c = cache_[i];
    if (c.hash == 0)
      return nullptr;
    if (c.hash == hash && c.word_len == word.size()
        && std::memcmp(c.word, word.data(), word.size()) == 0)
      return &c;
  }
}

void tokenizer::grow() {
  // Value-initialised: every slot's hash is 0 (empty).
  std::vector<cached_word> old(cache_.empty() ? 256 : cache_.size() * 2);
  old.swap(cache_);
  const size_t mask = cache_.size() - 1;
  for (auto& o : old) {
    if (o.hash == 0)
      continue;
    size_t i = o.hash & mask;
    while (cache_[i].hash != 0)
      i = (i + 1) & mask;
    cache_[i] = o;
  }
}

tokenizer::cached_word* tokenizer::insert(std::string_view word,
                                          uint64_t hash) {
  if (cached_ >= max_cached_words) {
    for (auto& c : cache_)
      c.hash = 0;
    cached_ = 0;
  }
  if (2 * (cached_ + 1) > cache_.size())
    grow(); // at most half full: short probe runs
  const size_t mask = cache_.size() - 1;
  size_t i = hash & mask;
  while (cache_[i].hash != 0)
    i = (i + 1) & mask;
  auto& c = cache_[i];
  c.hash = hash;
  c.word_len = static_cast<uint8_t>(word.size());
  std::memcpy(c.word, word.data(), word.size());
  ++cached_;
  return &c;
}

void tokenizer::tokens(std::string_view text, std::vector<std::string>& out) {
  size_t i = 0;
  auto* st = static_cast<sb_stemmer*>(stemmer_);
  // The word's token; `keep` false for a stop word.
  auto stem_of = [&](const std::string& w, bool& keep) -> std::string_view {
    keep = !is_stop_word(w);
    if (keep && st) {
      auto* p = sb_stemmer_stem(st, reinterpret_cast<const sb_symbol*>(w.data()),
                                static_cast<int>(w.size()));
      if (p)
        return {reinterpret_cast<const char*>(p),
                static_cast<size_t>(sb_stemmer_length(st))};
    }
    return w;
  };
  while (next_word(text, i, word_)) {
    if (word_.size() < 2)
      continue;
    // Long "words" (ids, base64, URLs without separators) rarely repeat
    // and are not cached (hash 0: not looked up, not kept).
    uint64_t h = 0;
    if (word_.size() <= max_cached_word_bytes) {
      h = XXH3_64bits(word_.data(), word_.size());
      h += (h == 0); // 0 marks an empty slot
      if (auto* c = cached(word_, h)) {
        if (c->keep)
          out.emplace_back(c->token, c->token_len);
        continue;
      }
    }
    bool keep = false;
    auto token = stem_of(word_, keep);
    if (h != 0 && token.size() <= max_cached_word_bytes) {
      auto* c = insert(word_, h);
      c->keep = keep;
      c->token_len = static_cast<uint8_t>(token.size());
      std::memcpy(c->token, token.data(), token.size());
    }
    if (keep)
      out.emplace_back(token);
  }
}

std::vector<std::string_view> split_sentences(std::string_view text) {
  std::vector<std::string_view> out;
  auto push = [&](size_t b, size_t e) {
    while (b < e && std::isspace(static_cast<unsigned char>(text[b])))
      ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1])))
      --e;
    if (e > b)
      out.push_back(text.substr(b, e - b));
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool end = false;
    if (c == '\n')
      end = true;
    else if ((c == '.' || c == '!' || c == '?') && i + 1 < text.size()
             && std::isspace(static_cast<unsigned char>(text[i + 1])))
      end = true;
    if (end) {
      push(start, i + 1);
      start = i + 1;
    }
  }
  push(start, text.size());
  return out;
}

std::string truncate_utf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes)
    return std::string{s};
  size_t cut = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to a sequence start.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  std::string out{s.substr(0, cut)};
  out += "\xE2\x80\xA6";
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace agentmem::domain
