#include "domain/entities.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <initializer_list>
#include <set>

#include "domain/facts.hpp"
#include "domain/phrase.hpp"
#include "domain/text.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::domain {

namespace {

using tokens = std::vector<phrase_token>;

bool in(std::string_view w, std::initializer_list<std::string_view> xs) {
  return std::find(xs.begin(), xs.end(), w) != xs.end();
}

/// 1..12 for a month name or abbreviation (lower case), else 0.
unsigned month_of(std::string_view w) {
  static constexpr std::string_view full[] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december"};
  static constexpr std::string_view abbr[] = {
    "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec"};
  for (unsigned i = 0; i < 12; ++i)
    if (w == full[i] || w == abbr[i])
      return i + 1;
  if (w == "sept")
    return 9;
  return 0;
}

bool is_weekday(std::string_view w) {
  return in(w, {"monday", "tuesday", "wednesday", "thursday", "friday",
                "saturday", "sunday"});
}

// Capitalised words that are never (the start of) an entity.
bool is_common_cap(std::string_view w) {
  return in(w, {"i", "the", "a", "an", "my", "your", "his", "her", "their",
                "our", "it", "its", "this", "that", "these", "those", "he",
                "she", "they", "we", "you", "me", "us", "ok", "okay", "hi",
                "hey", "hello", "thanks", "thank", "yes", "no", "yeah", "yep",
                "nope", "oh", "wow", "well", "so", "but", "and", "or", "also",
                "just", "sure", "please", "sorry", "lol", "haha", "omg",
                "good", "great", "nice", "cool", "awesome", "what", "why",
                "how", "when", "where", "who", "which", "if", "then", "there",
                "here", "today", "tomorrow", "yesterday", "mr", "mrs", "ms",
                "dr", "mom", "dad", "not", "as", "at", "in", "on", "for",
                "with", "to", "of", "by", "from", "all", "some", "any",
                "every", "each", "let", "lets", "can", "could", "would",
                "will", "should", "do", "does", "did", "is", "are", "was",
                "were", "have", "has", "had", "be", "been", "am", "maybe",
                "absolutely", "definitely", "congrats", "congratulations",
                "image", "tool", "task", "input", "output", "error", "re",
                "fyi", "btw", "ps", "am", "pm", "woohoo", "yay", "aww",
                "awww", "yo", "dear", "ah", "ugh", "hmm", "whoa", "gosh",
                "cheers", "life", "nature"})
         || is_weekday(w);
}

bool is_connector(std::string_view w) {
  return in(w, {"of", "de", "van", "von", "&", "da", "del", "la", "le"});
}

bool is_org_suffix(std::string_view w) {
  return in(w, {"inc", "corp", "corporation", "llc", "ltd", "gmbh", "ag",
                "company", "co", "university", "college", "school",
                "institute", "bank", "hospital", "foundation", "group",
                "labs", "technologies", "systems", "agency", "airlines",
                "association", "society", "club", "team", "department",
                "ministry", "council", "academy", "studio", "studios",
                "center", "centre", "inc.", "ltd."});
}

bool is_motion_verb(std::string_view w) {
  return in(w, {"moved", "move", "moving", "went", "go", "going", "goes",
                "travel", "travelled", "traveled", "traveling",
                "travelling", "flew", "fly", "flying", "trip", "drove",
                "drive", "driving", "relocated", "returned", "headed",
                "heading", "came", "come", "coming", "back", "over",
                "vacation", "holiday", "road", "journey", "flight",
                "visit", "welcome", "way", "get"});
}

bool is_person_cue_before(std::string_view w) {
  return in(w, {"with", "met", "meet", "meeting", "told", "tell", "asked",
                "ask", "named", "called", "friend", "friends", "brother",
                "sister", "mom", "mother", "dad", "father", "wife",
                "husband", "partner", "boyfriend", "girlfriend", "son",
                "daughter", "colleague", "coworker", "boss", "manager",
                "neighbor", "neighbour", "cousin", "uncle", "aunt",
                "roommate", "teammate", "mr", "mrs", "ms", "dr", "grandma",
                "grandpa", "dear", "thanks", "hey", "hi", "hello", "bye",
                "mentor", "buddy", "love", "miss", "call", "texted",
                "emailed", "saw", "and"});
}

bool is_person_cue_after(std::string_view w) {
  return in(w, {"said", "says", "told", "asked", "thinks", "thought",
                "wants", "wanted", "loves", "likes", "and", "is", "was",
                "has", "had", "works", "lives", "moved", "went", "came"});
}

// Trailing characters that end a sentence rather than an email/URL.
void trim_trailing(std::string& s) {
  while (!s.empty() && in(std::string_view{&s.back(), 1},
                          {".", ",", ";", ":", "!", "?", ")", "]", "}", "'",
                           "\"", ">"}))
    s.pop_back();
}

bool email_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
         || c == '%' || c == '+' || c == '-';
}

void find_emails(std::string_view text, std::vector<entity_ref>& out) {
  for (size_t at = text.find('@'); at != std::string_view::npos;
       at = text.find('@', at + 1)) {
    size_t b = at;
    while (b > 0 && email_char(text[b - 1]))
      --b;
    size_t e = at + 1;
    while (e < text.size()
           && (std::isalnum(static_cast<unsigned char>(text[e]))
               || text[e] == '.' || text[e] == '-'))
      ++e;
    std::string s{text.substr(b, e - b)};
    trim_trailing(s);
    auto a = s.find('@');
    if (a == 0 || a == std::string::npos)
      continue;
    auto domain = std::string_view{s}.substr(a + 1);
    auto dot = domain.rfind('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 2 > domain.size())
      continue;
    out.push_back({s, entity_types::email});
  }
}

void find_urls(std::string_view text, std::vector<entity_ref>& out) {
  size_t i = 0;
  while (i < text.size()) {
    size_t p = std::string_view::npos;
    for (auto prefix : {"https://", "http://", "www."}) {
      auto q = text.find(prefix, i);
      if (q < p)
        p = q;
    }
    if (p == std::string_view::npos)
      return;
    if (text.compare(p, 4, "www.") == 0 && p > 0
        && !std::isspace(static_cast<unsigned char>(text[p - 1]))
        && text[p - 1] != '(' && text[p - 1] != '<') {
      i = p + 4; // "www." inside an http URL or a word
      continue;
    }
    size_t e = p;
    while (e < text.size()
           && !std::isspace(static_cast<unsigned char>(text[e]))
           && !in(std::string_view{&text[e], 1}, {"<", ">", "\"", "'"}))
      ++e;
    std::string s{text.substr(p, e - p)};
    trim_trailing(s);
    if (s.size() > 8)
      out.push_back({s, entity_types::url});
    i = e;
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

// "3", "3rd", "21st" -> 3 / 21; 0 when not a day of month.
unsigned day_of(std::string_view w) {
  size_t n = 0;
  while (n < w.size() && n < 2 && w[n] >= '0' && w[n] <= '9')
    ++n;
  if (n == 0)
    return 0;
  auto rest = w.substr(n);
  if (!rest.empty() && !in(rest, {"st", "nd", "rd", "th"}))
    return 0;
  unsigned d = static_cast<unsigned>(std::stoi(std::string{w.substr(0, n)}));
  return d >= 1 && d <= 31 ? d : 0;
}

int year_of(std::string_view w) {
  if (w.size() != 4 || !all_digits(w))
    return -1;
  int y = std::stoi(std::string{w});
  return y >= 1000 && y <= 2999 ? y : -1;
}

std::string iso(int y, unsigned m, unsigned d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

// Dates in token form starting at t[i]; returns tokens consumed (0: none).
size_t date_at(const tokens& t, size_t i, std::string& name) {
  auto& w = t[i].lower;
  // ISO date as one token.
  if (w.size() == 10 && w[4] == '-' && w[7] == '-' && parse_day(w)) {
    name = w;
    return 1;
  }
  auto next = [&](size_t k) -> const phrase_token* {
    return k < t.size() ? &t[k] : nullptr;
  };
  if (unsigned m = month_of(w); m != 0) {
    // Month day[,] [year] | Month year
    if (auto* d = next(i + 1); d && day_of(d->lower)) {
      unsigned day = day_of(d->lower);
      size_t k = i + 2;
      if (auto* c = next(k); c && c->lower == ",")
        ++k;
      if (auto* y = next(k); y && year_of(y->lower) > 0) {
        int yy = year_of(y->lower);
        if (parse_day(iso(yy, m, day))) {
          name = iso(yy, m, day);
          return k + 1 - i;
        }
      }
      name = t[i].text + " " + d->text;
      return 2;
    }
    if (auto* y = next(i + 1); y && year_of(y->lower) > 0) {
      name = t[i].text + " " + y->text;
      return 2;
    }
    return 0;
  }
  if (unsigned day = day_of(w); day != 0 && !t[i].punct) {
    size_t k = i + 1;
    if (auto* o = next(k); o && o->lower == "of")
      ++k;
    auto* mo = next(k);
    if (!mo || month_of(mo->lower) == 0)
      return 0;
    unsigned m = month_of(mo->lower);
    size_t j = k + 1;
    if (auto* c = next(j); c && c->lower == ",")
      ++j;
    if (auto* y = next(j); y && year_of(y->lower) > 0) {
      int yy = year_of(y->lower);
      if (parse_day(iso(yy, m, day))) {
        name = iso(yy, m, day);
        return j + 1 - i;
      }
    }
    name = t[i].text + " " + mo->text;
    return k + 1 - i;
  }
  return 0;
}

struct collector {
  std::vector<entity_ref>& out;

  void add(std::string name, std::string type) {
    auto key = normalize_key(name);
    if (key.empty())
      return;
    for (auto& r : out)
      if (normalize_key(r.name) == key && r.type == type)
        return;
    out.push_back({std::move(name), std::move(type)});
  }
};

bool inside_email_or_url(const phrase_token& tok) {
  return tok.text.find('@') != std::string::npos
         || tok.lower.rfind("http", 0) == 0 || tok.lower.rfind("www.", 0) == 0;
}

void scan_sentence(std::string_view sentence,
                   const std::map<std::string, std::string>& hints,
                   collector& c) {
  auto t = tokenize_phrase(sentence);
  size_t first_word = 0;
  while (first_word < t.size() && t[first_word].punct)
    ++first_word;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].punct || inside_email_or_url(t[i]))
      continue;
    std::string date;
    if (size_t n = date_at(t, i, date); n > 0) {
      c.add(date, entity_types::date);
      i += n - 1;
      continue;
    }
    if (!t[i].capital || is_common_cap(t[i].lower) || t[i].expanded
        || month_of(t[i].lower) != 0)
      continue;
    // A run of capitalised words, with connectors inside.
    size_t b = i, e = i + 1;
    while (e < t.size()) {
      if (!t[e].punct && t[e].capital && !t[e].expanded
          && !is_common_cap(t[e].lower) && !t[e - 1].possessive) {
        ++e;
        continue;
      }
      if (e + 1 < t.size() && is_connector(t[e].lower) && t[e + 1].capital
          && !t[e - 1].possessive && !is_common_cap(t[e + 1].lower)) {
        e += 2;
        continue;
      }
      break;
    }
    i = e - 1;
    if (e - b > 6)
      continue; // a shouted sentence, a title: not one entity
    std::string name;
    for (size_t k = b; k < e; ++k) {
      if (!name.empty())
        name += ' ';
      name += t[k].text;
    }
    auto key = normalize_key(name);
    size_t words = e - b;
    const std::string prev = b > 0 ? t[b - 1].lower : "";
    const std::string prev2 = b > 1 ? t[b - 2].lower : "";
    const std::string next = e < t.size() ? t[e].lower : "";
    bool org_suffix = false;
    for (size_t k = b; k < e; ++k)
      org_suffix = org_suffix || is_org_suffix(t[k].lower);
    std::string type;
    if (auto h = hints.find(key); h != hints.end()) {
      type = h->second;
    } else if (org_suffix
               || ((prev == "at" || prev == "for")
                   && in(prev2, {"work", "works", "worked", "working", "job",
                                 "intern", "interned", "internship",
                                 "employed", "volunteer", "volunteering"}))
               || prev == "joined" || (prev == "by" && prev2 == "employed")) {
      type = entity_types::organization;
    } else if (in(prev, {"in", "from", "near", "visited", "visiting",
                         "around", "across", "toward", "towards", "outside",
                         "inside", "downtown"})
               || (prev == "to" && is_motion_verb(prev2))
               || (prev == "at" && !in(prev2, {"look", "looked", "looking",
                                               "laugh", "laughed", "smiled",
                                               "stared", "yelled"}))) {
      type = entity_types::place;
    } else if (is_person_cue_before(prev)
               || (t[e - 1].possessive && b > first_word)
               || (prev == "to"
                   && in(prev2, {"talked", "talk", "talking", "spoke",
                                 "speak", "speaking", "wrote", "write",
                                 "writing", "sent", "gave", "give",
                                 "introduced", "married", "engaged", "said",
                                 "say", "listen", "listened", "next",
                                 "close", "thanks", "grateful", "reached"}))
               || (is_person_cue_after(next) && b > first_word)
               || (words >= 2 && words <= 3
                   && std::none_of(t.begin() + static_cast<long>(b),
                                   t.begin() + static_cast<long>(e),
                                   [](const phrase_token& x) {
                                     return is_connector(x.lower)
                                            || x.text.size() < 2;
                                   }))) {
      type = entity_types::person;
    } else if (b == first_word && words == 1
               && (in(next, {"said", "says", "told", "asked", "thinks",
                             "wants", "replied", "texted", "called"})
                   || (next == "and" && e + 1 < t.size()
                       && in(t[e + 1].lower, {"i", "me"})))) {
      type = entity_types::person; // "Tom said ...", "Tom and I ..."
    } else if (b == first_word && words == 1) {
      continue; // a capital that only starts the sentence
    } else {
      type = entity_types::other;
    }
    c.add(name, type);
  }
}

} // namespace

std::string make_entity_id(std::string_view type, std::string_view name) {
  std::string key{type};
  key += '\0';
  key += normalize_key(name);
  return hex128(key);
}

std::vector<entity_ref>
extract_entities(std::string_view text,
                 const std::map<std::string, std::string>& hints) {
  std::vector<entity_ref> out;
  collector c{out};
  find_emails(text, out);
  find_urls(text, out);
  for (auto sentence : split_sentences(text))
    scan_sentence(sentence, hints, c);
  return out;
}

void extract_knowledge(const activity& a, knowledge_delta& out) {
  const auto& cls = a.activity_class;
  if (cls == "session_start" || cls == "session_end")
    return;
  // 1. facts
  size_t first_fact = out.facts.size();
  extract_facts(a, out.facts);
  // Types that facts give their objects (a works_at object is an org).
  std::map<std::string, std::string> hints;
  auto target_type = [](const std::string& predicate) -> const char* {
    if (predicate == "lives_in" || predicate == "from")
      return entity_types::place;
    if (predicate == "works_at")
      return entity_types::organization;
    if (predicate == "knows")
      return entity_types::person;
    if (predicate == "uses")
      return entity_types::tool;
    return nullptr;
  };
  for (size_t i = first_fact; i < out.facts.size(); ++i) {
    auto& f = out.facts[i];
    if (auto* ty = target_type(f.predicate))
      hints[f.object_key] = ty;
    if (f.subject != "user")
      hints[normalize_key(f.subject)] = entity_types::person;
  }
  // 2. entities of the text
  std::string_view text;
  if (cls == "file_upload")
    text = !a.file.text.empty() ? std::string_view{a.file.text}
                                : std::string_view{a.content};
  else
    text = a.content;
  if (text.size() > 20000) {
    size_t cut = 20000;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      --cut;
    text = text.substr(0, cut);
  }
  auto found = extract_entities(text, hints);
  std::set<std::string> mentioned; // entity ids already mentioned by `a`
  auto mention = [&](const std::string& name, const std::string& type) {
    auto id = make_entity_id(type, name);
    if (mentioned.insert(id).second)
      out.mentions.push_back({a.user_id, id, name, type, a.event_id, a.ts_ms});
    return id;
  };
  // `out` collects a whole batch: only this activity's edges can repeat
  // one (scanning them all was quadratic in the batch's size).
  const size_t first_relation = out.relations.size();
  auto edge = [&](const std::string& src, const std::string& dst,
                  const char* relation) {
    if (src == dst)
      return;
    for (size_t k = first_relation; k < out.relations.size(); ++k) {
      auto& r = out.relations[k];
      if (r.src_id == src && r.dst_id == dst && r.relation == relation)
        return;
    }
    out.relations.push_back({a.user_id, src, dst, relation, a.event_id,
                             a.ts_ms});
  };
  std::vector<std::string> text_ids;
  for (auto& e : found)
    text_ids.push_back(mention(e.name, e.type));
  // 3. the speaker / caller
  std::string speaker;
  if (cls == "message" && !a.agent_name.empty())
    speaker = mention(a.agent_name, a.role == "user" || a.role.empty()
                                      ? entity_types::person
                                      : entity_types::agent);
  if (cls == "tool_call" || cls == "task") {
    const auto& caller = a.agent_name.empty() ? a.agent_type : a.agent_name;
    if (!caller.empty())
      speaker = mention(caller, entity_types::agent);
    if (cls == "tool_call" && !a.tool_name.empty()) {
      auto tool = mention(a.tool_name, entity_types::tool);
      if (!speaker.empty())
        edge(speaker, tool, "uses");
    }
  }
  // 4. co-occurrence and mentions
  size_t n = std::min<size_t>(text_ids.size(), 12);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      auto& x = text_ids[i];
      auto& y = text_ids[j];
      if (x < y)
        edge(x, y, "co_occurs");
      else
        edge(y, x, "co_occurs");
    }
  if (!speaker.empty())
    for (auto& id : text_ids)
      edge(speaker, id, "mentions");
  // 5. typed edges from positive facts
  for (size_t i = first_fact; i < out.facts.size(); ++i) {
    auto& f = out.facts[i];
    auto* ty = target_type(f.predicate);
    if (ty == nullptr || !f.polarity)
      continue;
    auto src = f.subject == "user"
                 ? mention(a.user_id, entity_types::user)
                 : mention(f.subject, entity_types::person);
    auto dst = mention(f.object, ty);
    edge(src, dst, f.predicate.c_str());
  }
}

} // namespace agentmem::domain
