#include "domain/phrase.hpp"

#include <cctype>
#include <cstdio>

#include <xxhash.h>

namespace agentmem::domain {

namespace {

bool is_punct_char(char c) {
  switch (c) {
    case ',': case ';': case ':': case '!': case '?': case '(': case ')':
    case '"': case '[': case ']': case '{': case '}':
      return true;
    default:
      return false;
  }
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// Replaces U+2019 and U+2018 (curly apostrophes) by ASCII '\''.
std::string ascii_apostrophes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 2 < s.size() && static_cast<unsigned char>(s[i]) == 0xE2
        && static_cast<unsigned char>(s[i + 1]) == 0x80
        && (static_cast<unsigned char>(s[i + 2]) == 0x99
            || static_cast<unsigned char>(s[i + 2]) == 0x98)) {
      out += '\'';
      i += 2;
      continue;
    }
    out += s[i];
  }
  return out;
}

struct contraction {
  std::string_view from; // compared length first: most words differ there
  const char* first;
  const char* second;
};

// Lower-case contractions and their expansions.
constexpr contraction contractions[] = {
  {"i'm", "i", "am"},         {"i've", "i", "have"},
  {"i'd", "i", "would"},      {"i'll", "i", "will"},
  {"don't", "do", "not"},     {"doesn't", "does", "not"},
  {"didn't", "did", "not"},   {"can't", "can", "not"},
  {"cannot", "can", "not"},   {"won't", "will", "not"},
  {"isn't", "is", "not"},     {"wasn't", "was", "not"},
  {"aren't", "are", "not"},   {"haven't", "have", "not"},
  {"hasn't", "has", "not"},   {"wouldn't", "would", "not"},
  {"we're", "we", "are"},     {"you're", "you", "are"},
  {"they're", "they", "are"}, {"it's", "it", "is"},
  {"he's", "he", "is"},       {"she's", "she", "is"},
  {"that's", "that", "is"},   {"name's", "name", "is"},
  {"im", "i", "am"},          {"dont", "do", "not"},
};

void push_word(std::string_view sentence, size_t b, size_t e,
               std::vector<phrase_token>& out) {
  phrase_token t;
  t.begin = b;
  t.end = e;
  t.text = std::string{sentence.substr(b, e - b)};
  t.lower = ascii_lower(t.text);
  for (auto& c : contractions) {
    if (t.lower == c.from) {
      bool cap = std::isupper(static_cast<unsigned char>(t.text[0])) != 0;
      phrase_token a = t, z = t;
      a.lower = c.first;
      a.text = c.first;
      if (cap || a.lower == "i")
        a.text[0] = static_cast<char>(
          std::toupper(static_cast<unsigned char>(a.text[0])));
      a.capital = cap;
      a.expanded = z.expanded = true;
      z.lower = z.text = c.second;
      out.push_back(std::move(a));
      out.push_back(std::move(z));
      return;
    }
  }
  if (t.lower.size() > 2 && t.lower.compare(t.lower.size() - 2, 2, "'s") == 0) {
    t.possessive = true;
    t.text.resize(t.text.size() - 2);
    t.lower.resize(t.lower.size() - 2);
  } else if (t.lower.size() > 1 && t.lower.back() == '\'') {
    t.text.pop_back(); // plural possessive or a closing quote
    t.lower.pop_back();
  }
  while (!t.text.empty() && t.text.front() == '\'') {
    t.text.erase(0, 1); // an opening quote
    t.lower.erase(0, 1);
  }
  if (t.text.empty())
    return;
  t.capital = std::isupper(static_cast<unsigned char>(t.text[0])) != 0;
  out.push_back(std::move(t));
}

} // namespace

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string normalize_key(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string hex128(std::string_view key) {
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::vector<phrase_token> tokenize_phrase(std::string_view raw) {
  auto s = ascii_apostrophes(raw);
  std::vector<phrase_token> out;
  size_t i = 0;
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    if (is_punct_char(s[i])) {
      phrase_token t;
      t.begin = i;
      t.end = i + 1;
      t.text = t.lower = std::string(1, s[i]);
      t.punct = true;
      out.push_back(std::move(t));
      ++i;
      continue;
    }
    size_t b = i;
    while (i < s.size() && !is_space(s[i]) && !is_punct_char(s[i]))
      ++i;
    size_t e = i;
    // Trailing dots (sentence end, ellipsis) are punctuation; dots inside
    // a word ("U.S", "x.org") are not.
    size_t dots = 0;
    while (e > b && s[e - 1] == '.') {
      --e;
      ++dots;
    }
    if (e > b) {
      auto w = std::string_view{s}.substr(b, e - b);
      if (w == "-" || w == "--" || w == "\xE2\x80\x94" || w == "\xE2\x80\x93") {
        phrase_token t; // a dash between words separates like a comma
        t.begin = b;
        t.end = e;
        t.text = t.lower = "-";
        t.punct = true;
        out.push_back(std::move(t));
      } else {
        push_word(s, b, e, out);
      }
    }
    if (dots > 0) {
      phrase_token t;
      t.begin = e;
      t.end = e + dots;
      t.text = t.lower = ".";
      t.punct = true;
      out.push_back(std::move(t));
    }
  }
  return out;
}

} // namespace agentmem::domain
