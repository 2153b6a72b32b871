#include "domain/facts.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <optional>

#include "domain/phrase.hpp"
#include "domain/text.hpp"

namespace agentmem::domain {

namespace {

using tokens = std::vector<phrase_token>;

bool in(std::string_view w, std::initializer_list<std::string_view> xs) {
  return std::find(xs.begin(), xs.end(), w) != xs.end();
}

// Words that may sit between "I" and the verb without changing the claim.
bool is_adverb(std::string_view w) {
  return in(w, {"really", "also", "still", "currently", "now", "actually",
                "just", "absolutely", "totally", "truly", "definitely",
                "honestly", "recently", "finally", "personally",
                "kinda", "mostly", "usually", "generally", "genuinely",
                "seriously", "officially", "literally", "too"});
}

bool is_hedge(std::string_view w) {
  return in(w, {"think", "guess", "maybe", "probably", "perhaps", "might",
                "suppose", "possibly", "believe"});
}

// Clause openers that make what follows hypothetical or not asserted.
bool is_irrealis(std::string_view w) {
  return in(w, {"if", "unless", "whether", "wish", "hope", "suppose",
                "imagine", "pretend", "wonder", "would", "could", "should",
                "might", "ask", "asked", "what", "whatever"});
}

bool is_stopper(std::string_view w) {
  return in(w, {"but", "because", "since", "so", "when", "while",
                "although", "though", "which", "who", "whereas", "whenever",
                "if", "until", "unless", "anymore", "cause", "cuz", "then",
                "where", "whom", "whose", "that", "over", "rather", "than",
                "instead", "versus"});
}

bool is_pronoun(std::string_view w) {
  return in(w, {"i", "we", "he", "she", "they", "you", "it", "my", "me",
                "our", "us", "them", "him", "her", "his", "their", "your",
                "this", "that", "these", "those", "there", "here", "one",
                "what", "something", "someone", "everything", "anything",
                "nothing", "all", "both", "lots"});
}

bool is_trailing_filler(std::string_view w) {
  return in(w, {"so", "much", "very", "a", "lot", "too", "now", "lately",
                "nowadays", "again", "though", "anyway", "either", "really",
                "more", "any", "as", "well", "also", "currently", "still",
                "these", "days", "right", "honestly", "actually", "the",
                "and", "or", "of", "to", "with", "for", "in", "at", "on"});
}

bool is_preposition(std::string_view w) {
  return in(w, {"with", "for", "since", "in", "on", "at", "as", "near",
                "during", "from", "after", "before", "because", "by",
                "until", "about", "over", "under", "into", "and", "or",
                "to", "like", "now", "these", "right", "currently", "full",
                "last", "next", "this", "yesterday", "today", "tomorrow",
                "recently", "ago", "soon"});
}

bool is_article(std::string_view w) {
  return in(w, {"a", "an", "the"});
}

// Function words that cannot be part of a "my <attribute> is" attribute.
bool is_function_word(std::string_view w) {
  return is_pronoun(w) || is_stopper(w) || is_adverb(w)
         || in(w, {"and", "or", "is", "was", "are", "were", "be", "been",
                   "am", "has", "have", "had", "not", "no", "to", "of", "in",
                   "on", "at", "for", "with", "a", "an", "the", "own",
                   "whole", "entire", "only", "first", "last", "new", "old",
                   "biggest", "main", "goal", "problem", "question",
                   "point", "guess", "bad", "fault", "plan", "idea",
                   "pleasure", "turn", "life", "day", "week", "mind",
                   "heart", "head", "back", "body", "dream",
                   "concern", "worry", "issue", "hope", "opinion"});
}

// Last words of "my <attribute> is <value>" attributes: things a person
// has exactly one of (docs/memory.md).
bool is_personal_attribute(std::string_view w) {
  return in(w, {"name", "birthday", "age", "email", "phone", "number",
                "address", "job", "occupation", "profession", "hometown",
                "nationality", "religion", "major", "degree", "pronouns",
                "height", "zodiac", "website", "username", "handle",
                "title", "specialty", "diet", "language", "nickname",
                "surname", "employer", "school", "university", "college",
                "salary", "budget", "timezone", "city", "country",
                "gender", "sign", "anniversary"});
}

// Relations of "my <relation> <Name>" (user knows Name).
bool is_relation_word(std::string_view w) {
  return in(w, {"friend", "brother", "sister", "mom", "mother", "dad",
                "father", "wife", "husband", "partner", "boyfriend",
                "girlfriend", "son", "daughter", "colleague", "coworker",
                "co-worker", "boss", "manager", "neighbor", "neighbour",
                "cousin", "uncle", "aunt", "roommate", "teammate", "grandma",
                "grandmother", "grandpa", "grandfather", "fiance", "fiancee",
                "bestie", "mentor", "buddy", "pal", "niece", "nephew",
                "kid", "child", "baby", "dog", "cat", "therapist", "doctor"});
}

struct clause_end {
  size_t end; // one past the last token of the object candidate
};

// Index one past the object that starts at `b`: stops at punctuation, a
// stopper word, "and"/"or" that starts a new clause, or "any more".
size_t object_end(const tokens& t, size_t b) {
  size_t i = b;
  for (; i < t.size(); ++i) {
    auto& w = t[i].lower;
    if (t[i].punct || is_stopper(w))
      break;
    if ((w == "and" || w == "or") && i + 1 < t.size()
        && (is_pronoun(t[i + 1].lower) || t[i + 1].lower == "not"))
      break;
    if (w == "any" && i + 1 < t.size() && t[i + 1].lower == "more")
      break;
    if (w == "no" && i + 1 < t.size() && t[i + 1].lower == "longer")
      break;
  }
  return i;
}

bool clause_has_anymore(const tokens& t, size_t b) {
  for (size_t i = b; i < t.size(); ++i) {
    if (t[i].punct && t[i].lower != "\"")
      return false;
    if (t[i].lower == "anymore"
        || (t[i].lower == "any" && i + 1 < t.size()
            && t[i + 1].lower == "more"))
      return true;
  }
  return false;
}

std::string join(const tokens& t, size_t b, size_t e,
                 bool keep_possessive = true) {
  std::string out;
  for (size_t i = b; i < e; ++i) {
    if (!out.empty() && !t[i].punct)
      out += ' ';
    out += t[i].text;
    if (t[i].possessive && keep_possessive)
      out += "'s";
  }
  return out;
}

// Words an object cannot start with: pronouns ("I love it", also "that'll"),
// wh-words ("I love how you ..."), auxiliaries ("... I love is great").
bool bad_object_start(std::string_view w) {
  auto apostrophe = w.find('\'');
  if (apostrophe != std::string_view::npos)
    w = w.substr(0, apostrophe);
  return is_pronoun(w)
         || in(w, {"how", "what", "why", "where", "when", "whether", "who",
                   "which", "way", "is", "was", "are", "were", "be", "been",
                   "has", "have", "had", "do", "does", "did", "will",
                   "would", "can", "could", "should", "every", "each",
                   "some", "any", "much", "more", "most", "such", "so",
                   "too", "very", "not", "no"});
}

enum class object_shape {
  phrase, ///< a noun phrase, articles stripped, fillers trimmed
  name,   ///< a run of capitalised words (1-4)
  place,  ///< a phrase cut at the first preposition
};

// The object starting at token `b`; empty when none is acceptable.
std::vector<std::string> read_objects(const tokens& t, size_t b,
                                      object_shape shape, bool split_lists,
                                      size_t max_words) {
  size_t e = object_end(t, b);
  std::vector<std::pair<size_t, size_t>> parts;
  if (shape == object_shape::name) {
    size_t i = b;
    while (i < e && i - b < 4 && t[i].capital && !t[i].expanded) {
      ++i;
      if (t[i - 1].possessive)
        break; // "my daughter Sara's birthday": Sara
    }
    if (i > b)
      parts.emplace_back(b, i);
  } else if (split_lists) {
    size_t s = b;
    for (size_t i = b; i <= e; ++i)
      if (i == e || t[i].lower == "and" || t[i].lower == "or") {
        if (i > s)
          parts.emplace_back(s, i);
        s = i + 1;
      }
  } else {
    parts.emplace_back(b, e);
  }
  std::vector<std::string> out;
  for (auto [s, x] : parts) {
    while (s < x && (is_article(t[s].lower) || t[s].lower == "to"))
      ++s;
    if (shape == object_shape::place)
      for (size_t i = s + 1; i < x; ++i)
        if (is_preposition(t[i].lower)) {
          x = i;
          break;
        }
    while (x > s && is_trailing_filler(t[x - 1].lower))
      --x;
    if (x <= s || x - s > max_words)
      continue;
    if (shape != object_shape::name && bad_object_start(t[s].lower))
      return {}; // one bad part: the list is about something else
    out.push_back(join(t, s, x, shape != object_shape::name));
  }
  return out;
}

using word_seq = std::array<std::string_view, 4>; // "" ends it early

struct verb_rule {
  word_seq words; // after "I" (and aux)
  const char* predicate;
  object_shape shape;
  bool lists; // "X and Y" are two objects
  double confidence;
};

// Verb phrases after "I" / "I do not" / "I no longer" / "I stopped".
const verb_rule verb_rules[] = {
  {{"live", "in"}, "lives_in", object_shape::place, false, 0.9},
  {{"reside", "in"}, "lives_in", object_shape::place, false, 0.9},
  {{"moved", "to"}, "lives_in", object_shape::place, false, 0.85},
  {{"relocated", "to"}, "lives_in", object_shape::place, false, 0.85},
  {{"grew", "up", "in"}, "from", object_shape::place, false, 0.85},
  {{"come", "from"}, "from", object_shape::place, false, 0.85},
  {{"work", "at"}, "works_at", object_shape::place, false, 0.9},
  {{"work", "for"}, "works_at", object_shape::place, false, 0.85},
  {{"working", "at"}, "works_at", object_shape::place, false, 0.85},
  {{"working", "for"}, "works_at", object_shape::place, false, 0.8},
  {{"got", "a", "job", "at"}, "works_at", object_shape::place, false, 0.85},
  {{"work", "as"}, "occupation", object_shape::phrase, false, 0.85},
  {{"like"}, "likes", object_shape::phrase, true, 0.8},
  {{"liking"}, "likes", object_shape::phrase, true, 0.8},
  {{"love"}, "likes", object_shape::phrase, true, 0.9},
  {{"loving"}, "likes", object_shape::phrase, true, 0.9},
  {{"enjoy"}, "likes", object_shape::phrase, true, 0.85},
  {{"enjoying"}, "likes", object_shape::phrase, true, 0.85},
  {{"adore"}, "likes", object_shape::phrase, true, 0.9},
  {{"prefer"}, "prefers", object_shape::phrase, false, 0.9},
  {{"dislike"}, "dislikes", object_shape::phrase, true, 0.85},
  {{"hate"}, "dislikes", object_shape::phrase, true, 0.9},
  {{"detest"}, "dislikes", object_shape::phrase, true, 0.9},
  {{"loathe"}, "dislikes", object_shape::phrase, true, 0.9},
  {{"use"}, "uses", object_shape::place, true, 0.7},
  {{"using"}, "uses", object_shape::place, true, 0.7},
  {{"speak"}, "speaks", object_shape::phrase, true, 0.85},
};

// Phrases after "I am" (and "I am not" / "I am no longer").
const verb_rule am_rules[] = {
  {{"from"}, "from", object_shape::place, false, 0.85},
  {{"living", "in"}, "lives_in", object_shape::place, false, 0.85},
  {{"based", "in"}, "lives_in", object_shape::place, false, 0.85},
  {{"working", "at"}, "works_at", object_shape::place, false, 0.85},
  {{"working", "for"}, "works_at", object_shape::place, false, 0.8},
  {{"employed", "at"}, "works_at", object_shape::place, false, 0.85},
  {{"employed", "by"}, "works_at", object_shape::place, false, 0.85},
  {{"allergic", "to"}, "allergic_to", object_shape::phrase, true, 0.95},
  {{"into"}, "likes", object_shape::phrase, true, 0.75},
  {{"a", "big", "fan", "of"}, "likes", object_shape::phrase, true, 0.85},
  {{"a", "huge", "fan", "of"}, "likes", object_shape::phrase, true, 0.85},
  {{"a", "fan", "of"}, "likes", object_shape::phrase, true, 0.85},
  {{"called"}, "name", object_shape::name, false, 0.85},
  {{"named"}, "name", object_shape::name, false, 0.85},
  {{"using"}, "uses", object_shape::place, true, 0.7},
};

// Words after "I am a/an" that are not a kind of person.
bool is_not_identity(std::string_view w) {
  return in(w, {"bit", "little", "lot", "lil", "tad", "fan", "huge", "big",
                "great", "total", "bit", "mess", "wreck", "nervous", "good",
                "kind", "sort", "few", "couple", "part", "member", "fast",
                "slow", "quick", "firm", "strong", "true"});
}

// Matches `words` at t[i...] (an empty word ends them early, as in a
// word_seq), allowing adverbs between them; returns the index after the
// match.
template <class Words>
std::optional<size_t> match(const tokens& t, size_t i, const Words& words) {
  for (std::string_view w : words) {
    if (w.empty())
      break;
    while (i < t.size() && is_adverb(t[i].lower) && t[i].lower != w)
      ++i;
    if (i >= t.size() || t[i].lower != w)
      return std::nullopt;
    ++i;
  }
  return i;
}

std::optional<size_t> match(const tokens& t, size_t i,
                            std::initializer_list<std::string_view> words) {
  return match<std::initializer_list<std::string_view>>(t, i, words);
}

size_t skip_adverbs(const tokens& t, size_t i) {
  while (i < t.size() && is_adverb(t[i].lower))
    ++i;
  return i;
}

struct context {
  const tokens& t;
  std::string_view sentence;
  std::vector<statement>& out;
  size_t clause_start; // first token of the clause holding position i
};

void emit(context& c, std::string subject, const char* predicate,
          std::string object, bool polarity, double confidence) {
  statement s;
  s.subject = std::move(subject);
  s.predicate = predicate;
  s.object = std::move(object);
  bool pref = s.predicate == "likes" || s.predicate == "dislikes"
              || s.predicate == "prefers"
              || s.predicate.rfind("favorite_", 0) == 0;
  s.kind = pref ? "preference" : "fact";
  s.polarity = polarity;
  s.confidence = confidence;
  s.sentence = std::string{c.sentence};
  // The same statement twice in a sentence ("I love X, I love X") is one.
  for (auto& o : c.out)
    if (o.sentence == s.sentence && o.subject == s.subject
        && o.predicate == s.predicate && o.polarity == s.polarity
        && normalize_key(o.object) == normalize_key(s.object))
      return;
  c.out.push_back(std::move(s));
}

// Confidence factor of the clause before token `i`: hedged clauses count
// less, hypothetical ones not at all (0).
double clause_factor(const tokens& t, size_t clause_start, size_t i) {
  double f = 1.0;
  for (size_t k = clause_start; k < i; ++k) {
    if (is_irrealis(t[k].lower))
      return 0;
    if (is_hedge(t[k].lower))
      f = 0.7;
  }
  return f;
}

enum class negation { none, negated, retracted };

// "I ..." at t[i] == "i".
void first_person(context& c, size_t i) {
  auto& t = c.t;
  double factor = clause_factor(t, c.clause_start, i);
  if (factor == 0)
    return;
  size_t k = skip_adverbs(t, i + 1);
  if (k >= t.size())
    return;
  negation neg = negation::none;
  bool am = false;
  if (t[k].lower == "am") {
    am = true;
    k = skip_adverbs(t, k + 1);
    if (auto m = match(t, k, {"no", "longer"})) {
      neg = negation::retracted;
      k = *m;
    } else if (k < t.size() && t[k].lower == "not") {
      neg = negation::negated;
      k = k + 1;
    }
    k = skip_adverbs(t, k);
  } else if (auto m = match(t, k, {"no", "longer"})) {
    neg = negation::retracted;
    k = *m;
  } else if (k < t.size() && t[k].lower == "never") {
    neg = negation::negated;
    ++k;
  } else if (auto m2 = match(t, k, {"do", "not"})) {
    neg = negation::negated;
    k = *m2;
  } else if (auto m3 = match(t, k, {"can", "not", "stand"})) {
    if (auto objs = read_objects(t, *m3, object_shape::phrase, true, 12);
        !objs.empty())
      for (auto& o : objs)
        emit(c, "user", "dislikes", o, true, 0.9 * factor);
    return;
  } else if (k < t.size() && t[k].lower == "stopped") {
    neg = negation::retracted;
    ++k;
  } else if (auto m4 = match(t, k, {"have", "been"})) {
    am = true; // "I've been living in", "I've been working at": current
    k = skip_adverbs(t, *m4);
  } else if (k + 1 < t.size() && t[k].lower == "do") {
    ++k; // emphatic "I do like X"
  } else if (k < t.size() && (t[k].lower == "have" || t[k].lower == "had")
             && k + 1 < t.size()
             && in(t[k + 1].lower, {"moved", "relocated", "lived"})) {
    ++k; // "I have moved to", perfect tense
  }
  k = skip_adverbs(t, k);
  if (neg != negation::none && clause_has_anymore(t, k))
    neg = negation::retracted;
  const verb_rule* rule = nullptr;
  size_t obj = 0;
  auto try_rules = [&](auto& rules) {
    for (auto& r : rules)
      if (auto m = match(t, k, r.words)) {
        rule = &r;
        obj = *m;
        return;
      }
  };
  if (am)
    try_rules(am_rules);
  else
    try_rules(verb_rules);
  if (rule == nullptr && am && k < t.size() && is_article(t[k].lower)
      && t[k].lower != "the") {
    // "I am a teacher", "I'm an engineer", "I'm no longer a vegetarian".
    size_t b = k + 1;
    if (b < t.size() && !is_not_identity(t[b].lower)) {
      auto objs = read_objects(t, b, object_shape::phrase, false, 4);
      for (auto& o : objs)
        emit(c, "user", "is_a", o, neg == negation::none, 0.75 * factor);
    }
    return;
  }
  if (rule == nullptr)
    return;
  std::string predicate = rule->predicate;
  // "moved to"/"relocated to" only assert where the user lives now.
  bool change_verb = in(rule->words[0], {"moved", "relocated"});
  if (change_verb && neg != negation::none)
    return;
  if ((predicate == "likes" || predicate == "dislikes") && !am
      && (t[k].lower.size() > 3
          && t[k].lower.compare(t[k].lower.size() - 3, 3, "ing") == 0)
      && neg != negation::retracted)
    return; // "I liking X" is not English; "stopped liking X" is handled
  bool polarity = true;
  if (neg == negation::negated && predicate == "likes") {
    predicate = "dislikes"; // "I don't like X": a dislike
  } else if (neg == negation::negated && predicate == "dislikes") {
    return; // "I don't hate X" says little
  } else if (neg != negation::none) {
    polarity = false; // "no longer", "not ... anymore", "stopped"
  }
  auto objs = read_objects(t, obj, rule->shape, rule->lists,
                           rule->shape == object_shape::name ? 4 : 12);
  for (auto& o : objs)
    emit(c, "user", predicate.c_str(), o, polarity, rule->confidence * factor);
}

std::string attribute_predicate(const tokens& t, size_t b, size_t e) {
  std::string p;
  for (size_t i = b; i < e; ++i) {
    if (!p.empty())
      p += '_';
    auto w = t[i].lower;
    if (w == "favourite")
      w = "favorite";
    p += w;
  }
  return p;
}

// "my <attribute> is <value>" and "my <relation> <Name>" at t[i] == "my".
void my_statement(context& c, size_t i) {
  auto& t = c.t;
  double factor = clause_factor(t, c.clause_start, i);
  if (factor == 0)
    return;
  // "my (best|old|...) friend Tom"
  size_t r = i + 1;
  while (r < t.size() && in(t[r].lower, {"best", "old", "good", "close",
                                         "little", "big", "older", "younger",
                                         "new", "dear", "late"}))
    ++r;
  if (r + 1 < t.size() && is_relation_word(t[r].lower) && !t[r].possessive
      && t[r + 1].capital && !t[r + 1].punct && t[r + 1].lower != "i") {
    auto objs = read_objects(t, r + 1, object_shape::name, false, 4);
    for (auto& o : objs)
      emit(c, "user", "knows", o, true, 0.8 * factor);
    return;
  }
  // attribute: 1-3 content words, the last without a possessive.
  size_t b = i + 1;
  size_t e = b;
  while (e < t.size() && e - b < 3 && !t[e].punct
         && !is_function_word(t[e].lower) && t[e].lower != "name"
         && std::all_of(t[e].lower.begin(), t[e].lower.end(), [](char ch) {
              return std::isalpha(static_cast<unsigned char>(ch)) || ch == '-';
            }))
    ++e;
  if (e < t.size() && t[e].lower == "name" && !t[e].punct)
    ++e; // "my name", "my brother's name"
  if (e == b || e >= t.size() || t[e].lower != "is" || t[e - 1].possessive)
    return;
  for (size_t k = b; k + 1 < e; ++k)
    if (!t[k].possessive && t[k].lower != "favorite"
        && t[k].lower != "favourite" && e - b > 2)
      return; // "my new car model is" - too loose
  bool favorite_attr = t[b].lower == "favorite" || t[b].lower == "favourite";
  if (!favorite_attr && !is_personal_attribute(t[e - 1].lower))
    return; // "my friend is nice", "my art is important": not an attribute
  std::string predicate = attribute_predicate(t, b, e);
  size_t v = skip_adverbs(t, e + 1);
  if (v >= t.size() || t[v].punct)
    return;
  auto& first = t[v].lower;
  if (first == "not" || first == "no" || is_pronoun(first)
      || in(first, {"so", "very", "too", "pretty", "quite", "always",
                    "never", "going", "getting", "kind", "sort", "gonna",
                    "like", "in", "on", "at", "with", "about", "being",
                    "doing", "having", "still", "more", "less", "better",
                    "worse", "over", "coming", "finally"})
      || (first.size() > 4 && first.compare(first.size() - 3, 3, "ing") == 0))
    return;
  bool is_name = predicate == "name";
  bool favorite = predicate.rfind("favorite_", 0) == 0;
  auto objs = read_objects(t, v,
                           is_name ? object_shape::name : object_shape::phrase,
                           false, 8);
  double conf = is_name ? 0.95 : favorite ? 0.85 : 0.6;
  for (auto& o : objs)
    emit(c, "user", predicate.c_str(), o, true, conf * factor);
}

bool name_like(const phrase_token& w) {
  return w.capital && !w.punct && !w.expanded
         && !in(w.lower, {"i", "the", "my", "he", "she", "they", "we", "it",
                          "this", "that", "there", "his", "her", "their",
                          "our", "your", "you", "a", "an", "and", "but",
                          "so", "then", "now", "also", "everyone", "nobody",
                          "somebody", "someone", "who", "what", "mom",
                          "dad"});
}

// "<Name> works at Acme", "<Name> lives in Oslo", "<Name> moved to Rome",
// "<Name> is from Lima" at verb index v (t[v-1] ends a capitalised run).
void third_person(context& c, size_t v) {
  auto& t = c.t;
  size_t b = v;
  while (b > 0 && v - b < 3 && name_like(t[b - 1]) && !t[b - 1].possessive)
    --b;
  if (b == v)
    return;
  if (b > 0 && (t[b - 1].capital && !t[b - 1].punct))
    return; // longer capitalised run: probably not a name
  double factor = clause_factor(t, c.clause_start, b);
  if (factor == 0)
    return;
  std::string subject = join(t, b, v);
  size_t k = skip_adverbs(t, v);
  bool polarity = true;
  if (auto m = match(t, k, {"no", "longer"})) {
    polarity = false;
    k = *m;
  }
  struct rule {
    word_seq words;
    const char* predicate;
  };
  static const rule rules[] = {
    {{"works", "at"}, "works_at"},   {{"works", "for"}, "works_at"},
    {{"lives", "in"}, "lives_in"},   {{"moved", "to"}, "lives_in"},
    {{"is", "from"}, "from"},        {{"comes", "from"}, "from"},
    {{"is", "working", "at"}, "works_at"},
    {{"is", "living", "in"}, "lives_in"},
  };
  for (auto& r : rules)
    if (auto m = match(t, k, r.words)) {
      if (!polarity && std::string_view{r.predicate} == "lives_in"
          && r.words[0] == "moved")
        return;
      auto objs = read_objects(t, *m, object_shape::place, false, 6);
      for (auto& o : objs)
        emit(c, subject, r.predicate, o, polarity, 0.75 * factor);
      return;
    }
}

void scan_sentence(std::string_view sentence, bool first_person_ok,
                   std::vector<statement>& out) {
  auto trimmed = sentence;
  while (!trimmed.empty()
         && std::isspace(static_cast<unsigned char>(trimmed.back())))
    trimmed.remove_suffix(1);
  if (!trimmed.empty() && trimmed.back() == '?')
    return; // a question asserts nothing
  auto t = tokenize_phrase(sentence);
  context c{t, sentence, out, 0};
  for (size_t i = 0; i < t.size(); ++i) {
    auto& w = t[i].lower;
    if (t[i].punct && w != "\"") {
      c.clause_start = i + 1;
      continue;
    }
    if (in(w, {"but", "and", "because", "so", "although", "though",
               "since", "while"})) {
      c.clause_start = i + 1;
      continue;
    }
    if (first_person_ok && w == "i" && !t[i].punct)
      first_person(c, i);
    else if (first_person_ok && w == "my")
      my_statement(c, i);
    else if (i > 0 && in(w, {"works", "lives", "moved", "is", "comes"})
             && t[i - 1].capital)
      third_person(c, i);
    else if (i > 0 && w == "no" && t[i - 1].capital)
      third_person(c, i);
  }
}

} // namespace

bool predicate_is_single(std::string_view p) {
  if (in(p, {"likes", "dislikes", "prefers", "allergic_to", "is_a", "knows",
             "uses", "speaks"}))
    return false;
  return true;
}

std::string slot_group_of(std::string_view p) {
  if (in(p, {"likes", "dislikes", "prefers"}))
    return "sentiment";
  return std::string{p};
}

std::vector<statement> extract_statements(std::string_view text,
                                          bool first_person) {
  std::vector<statement> out;
  for (auto sentence : split_sentences(text))
    scan_sentence(sentence, first_person, out);
  return out;
}

void extract_facts(const activity& a, std::vector<fact_record>& out) {
  bool first_person;
  if (a.activity_class == "message")
    first_person = a.role.empty() || a.role == "user";
  else if (a.activity_class == "feedback")
    first_person = true;
  else
    return;
  auto statements = extract_statements(a.content, first_person);
  int32_t ordinal = 0;
  for (auto& s : statements) {
    fact_record f;
    f.user_id = a.user_id;
    f.session_id = a.session_id;
    f.event_id = a.event_id;
    f.ordinal = ordinal++;
    f.subject = std::move(s.subject);
    f.predicate = std::move(s.predicate);
    f.object = std::move(s.object);
    f.object_key = normalize_key(f.object);
    f.kind = std::move(s.kind);
    f.polarity = s.polarity;
    f.slot_group = slot_group_of(f.predicate);
    f.slot_object = predicate_is_single(f.predicate) ? "" : f.object_key;
    f.confidence = s.confidence;
    f.valid_at_ms = a.ts_ms;
    f.source_text = truncate_utf8(s.sentence, 500);
    std::string key = a.user_id;
    for (const std::string* part : std::initializer_list<const std::string*>{
           &a.event_id, &f.subject, &f.predicate, &f.object_key}) {
      key += '\0';
      key += *part;
    }
    key += '\0';
    key += std::to_string(f.ordinal);
    key += '\0';
    key += f.polarity ? '+' : '-';
    f.fact_id = hex128(key);
    out.push_back(std::move(f));
  }
}

} // namespace agentmem::domain
