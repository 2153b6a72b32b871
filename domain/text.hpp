#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace agentmem::domain {

/// Tokeniser shared by the hashing embedder and the summariser.
///
/// Rules (documented in docs/memory.md): ASCII letters are lower-cased;
/// a token is a maximal run of ASCII letters/digits or UTF-8 bytes >= 0x80
/// (so non-Latin words stay whole); apostrophes inside a word are dropped
/// ("don't" -> "dont"); tokens in the English stop-word list and 1-character
/// ASCII tokens are removed; the rest are stemmed with the Snowball English
/// stemmer (libstemmer). One instance per thread: the stemmer is not
/// thread-safe.
class tokenizer {
public:
  tokenizer();
  ~tokenizer();
  tokenizer(const tokenizer&) = delete;
  tokenizer& operator=(const tokenizer&) = delete;

  /// Appends the stemmed content tokens of `text` to `out`.
  void tokens(std::string_view text, std::vector<std::string>& out);

  /// The raw (lower-cased, unstemmed) words of `text`, stop words kept.
  static void words(std::string_view text, std::vector<std::string>& out);

  /// True for words in the built-in English stop-word list.
  static bool is_stop_word(std::string_view word);

  /// Words whose token is remembered (bounded by `max_cached_words`).
  size_t cached_words() const {
    return stems_.size();
  }

  /// Bound of the word -> token cache: it is emptied when full. Words
  /// longer than `max_cached_word_bytes` are not cached, so an entry is
  /// ≤ ≈ 150 B and the cache ≤ ≈ 1.2 MiB per tokenizer.
  static constexpr size_t max_cached_words = 8192;
  static constexpr size_t max_cached_word_bytes = 32;

private:
  struct stem {
    std::string token;
    bool keep; // false: a stop word
  };
  void* stemmer_; // sb_stemmer*
  // Lower-cased word -> its token. Stemming and the stop-word lookup were
  // ≈ 60 % of tokens()' time, and text repeats its words (Zipf): most
  // words of a batch were seen before (docs/performance.md, tenth round).
  std::unordered_map<std::string, stem> stems_;
  std::string word_; // scratch: the word being read
};

/// Splits text into sentences at '.', '!', '?' or newlines followed by
/// white space (abbreviation-naive); trims each; drops empty ones.
std::vector<std::string_view> split_sentences(std::string_view text);

/// Truncates to at most `max_bytes` without cutting a UTF-8 sequence; adds
/// "…" when something was cut.
std::string truncate_utf8(std::string_view s, size_t max_bytes);

/// `s` without leading and trailing white space (std::isspace, C locale).
std::string_view trim(std::string_view s);

/// Value (0-15) of the hex digit `c`, either case; -1 for any other char.
int hex_digit_value(char c) noexcept;

} // namespace agentmem::domain
