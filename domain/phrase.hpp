#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace agentmem::domain {

/// One token of a sentence as knowledge extraction sees it
/// (domain/facts.cpp, domain/entities.cpp).
struct phrase_token {
  std::string text;  ///< as written (typographic apostrophes made ASCII)
  std::string lower; ///< ASCII-lower-cased `text`
  size_t begin = 0;  ///< byte offset in the sentence (apostrophes made ASCII)
  size_t end = 0;    ///< one past its last byte
  bool punct = false;   ///< a single punctuation character , ; : ! ? ( ) " .
  bool capital = false; ///< starts with an ASCII capital letter
  bool possessive = false; ///< the word carried "'s" (stripped from text)
  bool expanded = false;   ///< produced by expanding a contraction
};

/// Splits one sentence into words and punctuation. Words are maximal runs
/// of non-space, non-punctuation bytes (so "e-mail", "U.S", "tom@x.org"
/// and UTF-8 words stay whole; a trailing '.' is punctuation). Contractions
/// are expanded into their words ("I'm" -> "I" "am", "don't" -> "do"
/// "not", "can't" -> "can" "not", "I've" -> "I" "have", "I'd" -> "I"
/// "would", "I'll" -> "I" "will"; the pieces share the original span), and
/// a possessive "'s" is stripped and flagged ("Tom's" -> "Tom").
std::vector<phrase_token> tokenize_phrase(std::string_view sentence);

/// ASCII lower-case copy.
std::string ascii_lower(std::string_view s);

/// Lower-cases and collapses runs of white space to one space, trimmed:
/// the comparison key of objects and entity names.
std::string normalize_key(std::string_view s);

/// 32 lower-case hex chars of the 128-bit XXH3 of `key`.
std::string hex128(std::string_view key);

} // namespace agentmem::domain
