#pragma once

#include <cstdint>
#include <string>
#include <string_view>
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
    return cached_;
  }

  /// Bound of the word -> token cache: it is emptied when full. Words (and
  /// tokens) longer than `max_cached_word_bytes` are not cached; the table
  /// grows with use to at most 2 × 8,192 slots of 80 B = 1.3 MiB.
  static constexpr size_t max_cached_words = 8192;
  static constexpr size_t max_cached_word_bytes = 32;

private:
  // One slot of the word -> token cache, open addressing with linear
  // probing over a power-of-two table at most half full. Stemming and the
  // stop-word lookup were ≈ 60 % of tokens()' time, and text repeats its
  // words (Zipf), so most words of a batch were seen before (tenth round);
  // a node-based std::unordered_map then cost a division, two dependent
  // loads and a std::hash per word: 5 % of a backlog's process CPU
  // (docs/performance.md, fifteenth round).
  struct cached_word {
    uint64_t hash; // of the word; 0 marks an empty slot
    uint8_t word_len;
    uint8_t token_len;
    bool keep; // false: a stop word
    char word[max_cached_word_bytes];
    char token[max_cached_word_bytes];
  };
  const cached_word* cached(std::string_view word, uint64_t hash) const;
  cached_word* insert(std::string_view word, uint64_t hash);
  void grow();

  void* stemmer_; // sb_stemmer*
  std::vector<cached_word> cache_; // size 0 or a power of two
  size_t cached_ = 0;
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
