#include "domain/importance.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "domain/text.hpp"
#include "messages/memory.hpp"

namespace agentmem::domain {

namespace {

namespace w = importance_weights;

bool alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// `hay` is lower-cased ASCII; whole-word (or whole-phrase) match.
bool has_word(std::string_view hay, std::string_view needle) {
  size_t pos = 0;
  while ((pos = hay.find(needle, pos)) != std::string_view::npos) {
    size_t end = pos + needle.size();
    bool left = pos == 0 || !alnum(hay[pos - 1]);
    bool right = end >= hay.size() || !alnum(hay[end]);
    if (left && right)
      return true;
    pos = end;
  }
  return false;
}

template <size_t N>
bool any_word(std::string_view hay, const std::string_view (&cues)[N]) {
  return std::any_of(std::begin(cues), std::end(cues),
                     [&](std::string_view c) { return has_word(hay, c); });
}

constexpr std::string_view explicit_cues[] = {
  "remember", "don't forget", "do not forget", "note that", "keep in mind",
  "important", "make sure", "for future reference"};

constexpr std::string_view personal_cues[] = {
  "i am", "i'm", "my", "i prefer", "i like", "i love", "i hate", "i want",
  "i need", "i live", "i work", "always", "never", "favorite", "favourite"};

constexpr std::string_view date_words[] = {
  "january", "february", "april", "june", "july", "august", "september",
  "october", "november", "december", "monday", "tuesday", "wednesday",
  "thursday", "friday", "saturday", "sunday", "yesterday", "tomorrow"};

constexpr std::string_view emotion_words[] = {
  "love", "loved", "hate", "hated", "happy", "sad", "angry", "upset",
  "excited", "worried", "afraid", "scared", "proud", "thrilled", "grateful",
  "frustrated", "disappointed", "anxious", "stressed", "glad", "lonely",
  "heartbroken", "furious", "delighted", "nervous"};

// A capitalised word that does not start a sentence ("I" and its
// contractions excluded), or an e-mail address or URL.
bool has_entity(std::string_view text) {
  if (text.find("http://") != std::string_view::npos
      || text.find("https://") != std::string_view::npos
      || text.find("www.") != std::string_view::npos)
    return true;
  auto at = text.find('@');
  if (at != std::string_view::npos && at > 0 && alnum(text[at - 1])
      && text.find('.', at) != std::string_view::npos)
    return true;
  bool sentence_start = true;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (!alnum(c)) {
      if (c == '.' || c == '!' || c == '?' || c == ':' || c == '\n'
          || c == '"')
        sentence_start = true;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (alnum(text[j]) || text[j] == '\''))
      ++j;
    auto word = text.substr(i, j - i);
    bool capital = std::isupper(static_cast<unsigned char>(word[0])) != 0
                   && word.size() > 1
                   && std::islower(static_cast<unsigned char>(word[1])) != 0;
    bool pronoun_i = word == "I" || word.rfind("I'", 0) == 0;
    if (capital && !sentence_start && !pronoun_i)
      return true;
    sentence_start = false;
    i = j;
  }
  return false;
}

} // namespace

importance_breakdown score_importance(const activity& a,
                                      std::string_view type) {
  importance_breakdown b;
  if (a.importance >= 0) {
    b.from_event = true;
    b.score = std::clamp(a.importance, 0.0, 1.0);
    return b;
  }
  bool conversation = type == memory_types::conversation;
  bool episodic = type == memory_types::episodic;
  if (conversation)
    b.base = w::base_conversation;
  else if (type == memory_types::document)
    b.base = w::base_document;
  else if (type == memory_types::session_summary)
    b.base = w::base_session_summary;
  else
    b.base = w::base_episodic;
  if (conversation || episodic) {
    if (episodic && (!a.success || !a.error_message.empty()))
      b.failure = w::failure;
    auto text = trim(a.content);
    std::string lower;
    lower.reserve(text.size());
    for (char c : text)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (any_word(lower, explicit_cues))
      b.explicit_cue = w::explicit_cue;
    if (any_word(lower, personal_cues))
      b.personal = w::personal;
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return c >= '0' && c <= '9'; })
        || any_word(lower, date_words))
      b.numbers = w::numbers;
    if (has_entity(text))
      b.entities = w::entities;
    if (any_word(lower, emotion_words))
      b.emotion = w::emotion;
    if (!text.empty() && text.back() == '?')
      b.question = w::question;
    if (a.role == "user")
      b.role = w::user_role;
    b.length = std::min(w::max_length,
                        w::per_200_bytes
                          * static_cast<double>(text.size() / 200));
  }
  double sum = b.base + b.failure + b.explicit_cue + b.personal + b.numbers
               + b.entities + b.emotion + b.question + b.role + b.length;
  b.score = std::clamp(sum, 0.0, 1.0);
  return b;
}

} // namespace agentmem::domain
