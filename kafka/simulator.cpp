#include "kafka/simulator.hpp"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "kafka/producer.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::kafka {

namespace {

using json = nlohmann::json;
using slots = std::map<std::string, std::string>;

// --- deterministic randomness ----------------------------------------------

// splitmix64: tiny, fast, and identical on every platform (unlike the
// std:: distributions, whose output is implementation-defined).
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class rng {
public:
  explicit rng(uint64_t seed) : s_(seed) {
  }
  uint64_t next() {
    s_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = s_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) {
    return (next() >> 11) % n;
  }
  /// Uniform in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
  }
  /// Uniform in [0, 1).
  double unit() {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
  }
  bool chance(double p) {
    return unit() < p;
  }
  template <class T>
  const T& pick(const std::vector<T>& xs) {
    return xs[below(xs.size())];
  }

private:
  uint64_t s_;
};

// A bijection on 62-bit integers: distinct counters give distinct outputs,
// so ids derived from (seed, counter) never collide within one seed.
uint64_t permute62(uint64_t x, uint64_t key) {
  constexpr uint64_t mask = (uint64_t{1} << 62) - 1;
  x = (x ^ key) & mask;
  x = (x * 0xbf58476d1ce4e5b9ULL) & mask; // odd multiplier: invertible
  x ^= x >> 31;
  x = (x * 0x94d049bb133111ebULL) & mask;
  x ^= x >> 29;
  return x;
}

/// UUID-like (version 4 layout) id, unique per (seed, domain, counter).
std::string uuid_like(uint64_t seed, uint64_t domain, uint64_t counter) {
  uint64_t hi = mix64(seed * 0x100000001b3ULL + domain);
  hi = (hi & ~uint64_t{0xF000}) | 0x4000; // version nibble
  uint64_t lo = permute62(counter, mix64(seed ^ (domain << 32)));
  lo |= uint64_t{0x8} << 60; // RFC 4122 variant bits "10"
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

// --- vocabulary --------------------------------------------------------------

const std::vector<std::string> first_names{
  "Alice", "Bruno", "Chen",  "Divya", "Emeka", "Fatima", "Gabriel",
  "Hana",  "Ivan",  "Julia", "Kenji", "Laila", "Mateo",  "Nora",
  "Omar",  "Priya", "Quinn", "Rosa",  "Sami",  "Tomas",  "Wen",
  "Yusuf", "Zoe"};
const std::vector<std::string> home_cities{
  "Berlin", "Chicago", "Toronto", "Melbourne", "Austin",
  "Dublin", "Singapore", "Nairobi", "Lyon",    "Denver"};
const std::vector<std::string> destinations{
  "Lisbon",   "Kyoto",        "Mexico City", "Reykjavik", "Cape Town",
  "Vancouver", "Hanoi",       "Istanbul",    "Edinburgh", "Buenos Aires",
  "Marrakesh", "Oslo",        "Seoul",       "Barcelona"};
const std::vector<std::string> dishes{
  "shakshuka",       "mushroom risotto", "pad thai",   "vegetable lasagna",
  "miso ramen",      "paella",           "banana bread", "lentil soup",
  "falafel wraps",   "sourdough bread",  "chana masala", "gnocchi"};
const std::vector<std::string> diets{
  "vegetarian", "gluten-free", "lactose intolerant", "vegan",
  "pescatarian", "allergic to peanuts"};
const std::vector<std::string> languages{
  "Spanish", "Japanese", "Portuguese", "German",
  "Korean",  "Italian",  "French",     "Mandarin"};
const std::vector<std::string> repos{
  "payments-api", "search-indexer", "mobile-app",
  "billing-service", "auth-gateway", "data-pipeline"};
const std::vector<std::string> prog_langs{"Go",     "Rust",   "Python",
                                          "TypeScript", "C++", "Kotlin"};
const std::vector<std::string> budget_categories{
  "groceries", "dining out", "subscriptions", "travel",
  "childcare", "utilities",  "clothing",      "entertainment"};
const std::vector<std::string> races{"half marathon", "10K", "marathon",
                                     "sprint triathlon", "trail 25K"};
const std::vector<std::string> pets{"a beagle named Miso",
                                    "two cats, Pepper and Salt",
                                    "a golden retriever named Biscuit",
                                    "a rescue greyhound called Dash"};
const std::vector<std::string> months{
  "January", "February", "March",     "April",   "May",      "June",
  "July",    "August",   "September", "October", "November", "December"};
const std::vector<std::string> clients{"web", "ios", "android", "cli",
                                       "desktop"};
const std::vector<std::string> locales{"en-US", "en-GB", "de-DE", "pt-PT",
                                       "ja-JP", "es-MX"};

std::string fill(const std::string& tmpl, const slots& s) {
  std::string out;
  out.reserve(tmpl.size() + 32);
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      auto end = tmpl.find('}', i);
      if (end != std::string::npos) {
        auto it = s.find(tmpl.substr(i + 1, end - i - 1));
        if (it != s.end()) {
          out += it->second;
          i = end;
          continue;
        }
      }
    }
    out += tmpl[i];
  }
  return out;
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out += digits[static_cast<size_t>(i)];
    if ((n - i - 1) % 3 == 0 && i != n - 1)
      out += ',';
  }
  return out;
}

// --- topics ------------------------------------------------------------------

struct turn_template {
  std::string user;
  std::string assistant;
};

struct task_template {
  std::string goal;
  std::string summary;
};

struct file_template {
  std::string filename;
  std::string mime_type;
  std::vector<std::string> paragraphs; // 3..5 are picked, in order
};

struct topic {
  std::string name;
  std::string agent_type;
  std::vector<std::string> agent_names;
  std::vector<turn_template> turns;
  std::vector<std::string> tools;
  std::vector<task_template> tasks;
  std::vector<file_template> files;
};

const std::vector<topic>& topics() {
  static const std::vector<topic> xs{
    {"travel",
     "travel_planner",
     {"Atlas", "Compass"},
     {{"I'm planning a {days}-day trip to {city} in {month}. Can you suggest "
       "an itinerary?",
       "Here's a {days}-day outline for {city}: arrive and walk the historic "
       "center on day one, museums and a food market on day two, then a day "
       "trip out of town. I kept the mornings light since you said you don't "
       "like early starts."},
      {"We're flying out of {home}. What's the cheapest way to get to {city} "
       "around mid-{month}?",
       "Flights from {home} to {city} in mid-{month} start around ${amount} "
       "round trip if you fly midweek. I filtered out red-eyes and kept "
       "options with window seats still available."},
      {"I prefer window seats and I really hate red-eye flights, please keep "
       "that in mind for the {city} trip.",
       "Noted: window seats only and no overnight flights. I'll apply that to "
       "every search for {city} and future trips."},
      {"Can you find a quiet hotel near the old town in {city}? Budget is "
       "about ${amount} total.",
       "I found three quiet hotels within a ten-minute walk of the old town "
       "in {city}. The best value is a small guesthouse at ${amount} for the "
       "stay, with strong reviews for noise and breakfast."},
      {"We're bringing {pet}, so the place in {city} has to be pet friendly.",
       "Understood, I only kept pet-friendly places in {city}; two of them "
       "have a garden and one is next to a large park."},
      {"My partner is {diet}, so we need restaurants in {city} that can "
       "handle that.",
       "For a {diet} diet, {city} has good options: I shortlisted four "
       "restaurants with clearly labeled menus and held a table for your "
       "first evening."},
      {"Is {month} a good time to visit {city}, or is it too rainy?",
       "{month} is shoulder season in {city}: fewer crowds, mild "
       "temperatures, and rain on maybe a third of the days. A light rain "
       "jacket is enough."},
      {"What should I pack for {days} days in {city}? I only want a "
       "carry-on.",
       "For {days} days with a carry-on: three tops, two bottoms, one warm "
       "layer, comfortable walking shoes and a compact toiletry kit. Your "
       "hotel has laundry service halfway through."}},
     {"flights.search", "weather.forecast", "web_search",
      "calendar.create_event"},
     {{"Build a {days}-day itinerary for {city}",
       "Itinerary drafted with {days} days, 2 day trips and restaurant "
       "suggestions"},
      {"Compare hotel prices in {city} for {month}",
       "Compared 14 hotels; cheapest quiet option is ${amount} for the stay"},
      {"Book restaurant reservations in {city}",
       "Reserved 3 tables that accommodate a {diet} diet"}},
     {{"itinerary_{city_slug}.md",
       "text/markdown",
       {"# {days} days in {city}\n\nThis is the working itinerary for the "
        "{month} trip. Flights leave from {home}; we land in the early "
        "afternoon and take the train to the hotel near the old town.",
        "Day 1: walk the historic center, coffee at the main square, early "
        "dinner close to the hotel. Keep it light because of the travel day.",
        "Day 2: the city museum in the morning, the covered food market for "
        "lunch, and a sunset viewpoint. Restaurants must work for a {diet} "
        "diet.",
        "Day 3: day trip by train to the coast, about {km} km of easy trail. "
        "The last train back leaves around 9 pm, so do not miss it.",
        "Budget so far: about ${amount} for hotels and transport, meals not "
        "included. Remember travel insurance and the adapter plugs."}},
      {"packing_list.txt",
       "text/plain",
       {"Packing list for {city}, carry-on only, {days} days.",
        "Clothes: three tops, two pairs of trousers, one light jacket, "
        "rain shell, walking shoes, sandals.",
        "Documents: passport, printed hotel confirmations, insurance card, "
        "a copy of the train tickets.",
        "Other: phone charger, travel adapter, reusable water bottle, small "
        "first-aid kit, earplugs for the flight."}}}},
    {"cooking",
     "chef_assistant",
     {"Saffron", "Basil"},
     {{"What can I make tonight with leftover rice, eggs and some spinach?",
       "Try a quick fried rice: sauté garlic, wilt the spinach, push it aside "
       "and scramble two eggs, then toss in the cold rice with soy sauce and "
       "a splash of sesame oil. Fifteen minutes, one pan."},
      {"I want to try making {dish} this weekend. I'm {diet}, can you adapt "
       "the recipe?",
       "Here's a {diet} version of {dish}: I swapped the problem ingredients "
       "and adjusted the cooking time so the texture stays close to the "
       "original."},
      {"My {dish} always comes out too watery. What am I doing wrong?",
       "Watery {dish} usually means the vegetables release moisture late. "
       "Salt and drain them first, and reduce the sauce over higher heat "
       "before combining."},
      {"I'm cooking for {n} people on Saturday and one of them is {diet}. "
       "Menu ideas?",
       "For {n} guests with one {diet} eater, make the main naturally {diet} "
       "so nobody feels singled out: {dish}, a big seasonal salad and roasted "
       "potatoes, then a fruit crumble."},
      {"How long can I keep homemade {dish} in the fridge?",
       "Cooked {dish} keeps 3 to 4 days in an airtight container in the "
       "fridge, or about two months frozen. Reheat until steaming hot."},
      {"Can you scale the {dish} recipe from 4 servings to {n}?",
       "Scaled to {n} servings: multiply the main ingredients by {factor}, "
       "but raise salt and spices a little less, then taste and adjust at "
       "the end."},
      {"I just got a cast iron pan. How do I season it properly?",
       "Wash and dry it, rub a very thin layer of neutral oil everywhere, "
       "then bake it upside down at 230 °C for an hour. Repeat two or three "
       "times and avoid acidic sauces for the first few weeks."}},
     {"recipe.lookup", "web_search", "unit_converter"},
     {{"Create a weekly meal plan that is {diet}",
       "Planned 7 dinners and 3 batch-cooked lunches, all {diet}"},
      {"Build a shopping list for {dish} for {n} people",
       "Shopping list with 12 items, estimated ${small}"}},
     {{"family_recipes.txt",
       "text/plain",
       {"{dish} (grandma's version). Serves 4. Start the day before if you "
        "can: the flavors are better once everything has rested overnight.",
        "Ingredients: olive oil, two onions, three cloves of garlic, a tin "
        "of tomatoes, a handful of fresh herbs, salt, pepper, and whatever "
        "vegetables are in season.",
        "Method: soften the onions slowly for at least ten minutes, add the "
        "garlic, then the tomatoes. Simmer until thick. Taste, season, and "
        "only then add the rest.",
        "Notes: for {diet} guests, leave out the cheese and finish with "
        "toasted seeds instead. Keeps 3 days in the fridge."}},
      {"dinner_party_menu.md",
       "text/markdown",
       {"# Dinner for {n}\n\nSaturday at 7 pm. One guest is {diet}; the "
        "whole menu is planned around that.",
        "Starter: roasted tomato soup with herb oil. Main: {dish} with a "
        "green salad. Dessert: apple and pear crumble.",
        "Timeline: soup and crumble can be made in the morning; the main "
        "needs about an hour and should start at 5:45 pm.",
        "Drinks: sparkling water with citrus, one red and one white wine, "
        "and a non-alcoholic ginger punch."}}}},
    {"code_review",
     "coding_agent",
     {"Reviewer", "Lint"},
     {{"Can you review PR #{pr} in {repo}? It refactors the retry logic.",
       "I reviewed PR #{pr}: the retry loop now uses exponential backoff "
       "with jitter, which is good, but it also retries non-idempotent POST "
       "requests. I left three comments, one of them blocking."},
      {"The CI for {repo} is flaky again, the integration tests time out "
       "about {pct}% of the time.",
       "The flaky tests in {repo} share one database fixture and race on "
       "cleanup. Giving each test its own schema should remove most of the "
       "{pct}% timeouts."},
      {"Is it OK to hold a mutex while calling the HTTP client in {pl}? The "
       "reviewer on #{pr} complained.",
       "Holding a mutex across a network call serializes every caller "
       "behind the slowest request. Copy what you need under the lock, "
       "release it, then call the client."},
      {"I need to add pagination to the list endpoint in {repo}. Cursor or "
       "offset based?",
       "Use cursor-based pagination: it stays stable when rows are inserted "
       "and avoids deep OFFSET scans. Encode the last seen id and timestamp "
       "in an opaque cursor."},
      {"Please check whether #{pr} introduces any SQL injection risk.",
       "#{pr} builds one query by string concatenation in the search "
       "handler. Switch it to a parameterized statement; the rest of the PR "
       "looks safe."},
      {"We're migrating {repo} from {pl} to {pl2}. Where should we start?",
       "Start with the leaf modules that have the fewest dependencies, keep "
       "the {pl} and {pl2} versions behind the same interface, and port the "
       "tests first so they can check both."},
      {"I prefer small PRs under 400 lines. Can you split #{pr} into a few "
       "commits?",
       "I split #{pr} into four commits: the interface change, the new "
       "implementation, the call-site updates and the tests. Each one "
       "builds on its own."}},
     {"code.run_tests", "repo.search", "web_search"},
     {{"Run the full test suite for {repo} on PR #{pr}",
       "Ran 1,284 tests: all green except 2 known flaky ones"},
      {"Draft release notes for {repo}",
       "Release notes drafted from 23 merged PRs, grouped by area"}},
     {{"review_notes_pr{pr}.md",
       "text/markdown",
       {"# Review notes for #{pr} ({repo})\n\nScope: retry logic, "
        "connection pooling and the configuration loader. Roughly 600 "
        "changed lines across 14 files.",
        "Blocking: POST requests are retried even though the endpoint is "
        "not idempotent. Either add an idempotency key or restrict retries "
        "to GET and PUT.",
        "Non-blocking: the backoff cap of 30 seconds is hard-coded; move it "
        "to the config file next to the other timeouts.",
        "Tests: the new unit tests cover the happy path only. Please add a "
        "case where the server closes the connection mid-response.",
        "Overall the change is an improvement; happy to approve once the "
        "blocking item is addressed."}},
      {"incident_{repo}.txt",
       "text/plain",
       {"Incident summary for {repo}. Between 02:10 and 02:45 UTC about "
        "{pct}% of requests failed with timeouts.",
        "Root cause: a connection pool limit of 10 was reached after a "
        "deploy doubled the number of worker threads.",
        "Mitigation: the pool size was raised to 40 and the deploy was "
        "rolled back. Error rates returned to normal within five minutes.",
        "Follow-ups: alert on pool saturation, load-test deploys that "
        "change concurrency, and document the pool sizing rule."}}}},
    {"budget",
     "finance_assistant",
     {"Ledger", "Penny"},
     {{"I spent ${amount} on {category} last month. Is that too much?",
       "${amount} on {category} is about {pct}% of your monthly spending, "
       "a bit above the usual range. A weekly cap would make it easier to "
       "keep track."},
      {"Help me set up a monthly budget. My take-home pay is ${income}.",
       "A simple split for ${income}: 50% needs, 30% wants, 20% savings. I "
       "created categories for rent, groceries, utilities, dining out and "
       "savings with those limits."},
      {"I want to save ${amount} for a trip to {city} by {month}. How much "
       "per week?",
       "To reach ${amount} by {month} you need to put aside roughly "
       "${weekly} a week. I scheduled a reminder every Friday."},
      {"Can you categorize last month's transactions and tell me where the "
       "money went?",
       "Most of last month's money went to rent, {category} and groceries. "
       "Dining out rose {pct}% compared to the month before."},
      {"Should I pay off my credit card first or put more into my emergency "
       "fund?",
       "Pay the card first if its interest is above about 8%, but keep at "
       "least one month of expenses in the emergency fund while you do."},
      {"We're cancelling a few subscriptions. Which ones do we actually "
       "use?",
       "You used four of your seven subscriptions in the last 60 days. "
       "Cancelling the other three saves about ${small} a month."}},
     {"calculator", "bank.transactions", "spreadsheet.update"},
     {{"Reconcile last month's {category} transactions",
       "Matched 41 of 43 transactions; 2 need a receipt"},
      {"Project savings toward the {city} trip",
       "On track to reach ${amount} by {month} at ${weekly} a week"}},
     {{"budget_{month_slug}.csv",
       "text/csv",
       {"category,planned,actual\nrent,1450,1450\ngroceries,520,566\n"
        "{category},300,{small}\nsavings,800,800",
        "Notes: {category} went over plan this month because of two "
        "one-off purchases. Groceries were 9% above plan.",
        "Goal: save ${amount} for the {city} trip by {month}; currently "
        "about a third of the way there.",
        "Next month: cancel the unused streaming subscription and move the "
        "difference to savings."}}}},
    {"fitness",
     "fitness_coach",
     {"Stride", "Coach Kai"},
     {{"I'm training for a {race} in {weeks} weeks. Can you make me a plan?",
       "Here's a {weeks}-week plan for the {race}: three runs a week (one "
       "easy, one tempo, one long), one strength session, and a cut-back "
       "week every fourth week."},
      {"My knee hurts after long runs. Should I take a break?",
       "Take three or four days off running and swap in cycling or "
       "swimming. If the pain is sharp or still there after a week, see a "
       "physiotherapist before the next long run."},
      {"I can only train three days a week because of work. Is that enough "
       "for a {race}?",
       "Three quality days are enough for a {race} if each one has a "
       "purpose: intervals, a tempo run and a long run. Add mobility work on "
       "the other days."},
      {"What should I eat before a morning workout? I'm {diet}.",
       "Something small and easy 45 minutes before: a banana with oat "
       "milk, or toast with jam. It works for a {diet} diet and won't sit "
       "heavily."},
      {"I ran {km} km today at an easy pace and felt great.",
       "Nice work, {km} km at an easy effort is exactly what builds the "
       "base. I logged it; tomorrow should be rest or very light."},
      {"How do I get my first pull-up? I can barely hang from the bar.",
       "Start with dead hangs, scapular pulls and slow negative pull-ups, "
       "three times a week. Most people get their first full rep within six "
       "to ten weeks."}},
     {"workout.log", "calendar.create_event", "weather.forecast"},
     {{"Generate a {weeks}-week {race} plan",
       "Plan generated with {weeks} weeks, peak long run of 18 km"},
      {"Summarize this week's training load",
       "3 sessions, 31 km total, load up 8% on last week"}},
     {{"training_plan.pdf",
       "application/pdf",
       {"{race} training plan, {weeks} weeks. Goal: finish feeling strong, "
        "no injuries.",
        "Weeks 1-4: build the base with easy runs, one long run up to "
        "{km} km, and two strength sessions.",
        "Weeks 5-8: add a weekly tempo run and strides; keep 80% of the "
        "volume easy.",
        "Final weeks: taper the volume by 40%, keep some intensity, sleep "
        "at least eight hours, and rehearse race-day breakfast."}}}},
    {"language",
     "tutor",
     {"Lingo", "Professor Vega"},
     {{"I want to learn {lang} before my trip to {city}. Where do I start?",
       "Start with pronunciation and the 300 most common words, 20 minutes "
       "a day. I'll add travel phrases for {city} in week two."},
      {"Can you quiz me on {lang} food vocabulary?",
       "Sure! Ten words, I'll give the English and you answer in {lang}. "
       "First one: bread."},
      {"I keep mixing up the past tenses in {lang}. Can you explain the "
       "difference?",
       "Think of one past tense as a snapshot of a finished event and the "
       "other as the background scene. Let's do five example sentences "
       "together."},
      {"Let's practice ordering at a restaurant in {lang}.",
       "Great, I'm the waiter. I'll greet you in {lang}, and you order a "
       "starter, a main and a drink. Don't worry about mistakes."},
      {"I studied {lang} for {n} minutes every day this week!",
       "That's a {n}-minute streak all week, well done. Consistency matters "
       "more than long sessions; keep it going."}},
     {"translate", "web_search"},
     {{"Create {lang} flashcards for travel phrases",
       "Created 60 flashcards in 4 decks"},
      {"Schedule daily {lang} practice reminders",
       "Daily reminder set for 7:30 pm"}},
     {{"{lang_slug}_notes.txt",
       "text/plain",
       {"{lang} study notes, week {n}. Focus this week: greetings, numbers "
        "and ordering food.",
        "Phrases to remember: asking for the bill, asking for directions, "
        "saying that I am {diet}.",
        "Grammar: regular verbs in the present tense; the two past tenses "
        "are next week.",
        "Practice plan: 20 minutes of flashcards every morning and one short "
        "conversation with the tutor on weekends."}}}},
  };
  return xs;
}

std::string slug(std::string s) {
  for (auto& c : s)
    c = (c == ' ') ? '_'
                   : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// --- tools ---------------------------------------------------------------------

struct tool_result {
  std::string category;
  json input;
  json output;
  std::string summary;
};

tool_result make_tool(const std::string& name, const slots& s, rng& r) {
  auto get = [&](const char* k) { return s.at(k); };
  if (name == "flights.search") {
    json opts = json::array();
    for (int i = 0, n = static_cast<int>(r.range(2, 4)); i < n; ++i)
      opts.push_back({{"airline", r.pick(std::vector<std::string>{
                                    "TAP", "Lufthansa", "KLM", "Iberia",
                                    "Air Canada", "Turkish Airlines"})},
                      {"price_usd", r.range(280, 1400)},
                      {"stops", r.range(0, 2)}});
    return {"travel",
            {{"from", get("home")}, {"to", get("city")},
             {"month", get("month")}, {"passengers", 2}},
            {{"options", opts}},
            "Searched flights " + get("home") + " to " + get("city")};
  }
  if (name == "weather.forecast") {
    json days = json::array();
    for (int i = 0; i < 3; ++i)
      days.push_back({{"day", i + 1},
                      {"high_c", r.range(8, 31)},
                      {"low_c", r.range(-2, 18)},
                      {"condition", r.pick(std::vector<std::string>{
                                      "sunny", "cloudy", "light rain",
                                      "showers", "windy"})}});
    return {"api",
            {{"city", get("city")}, {"days", 3}},
            {{"forecast", days}},
            "Checked the weather in " + get("city")};
  }
  if (name == "web_search") {
    std::string q = get("topic") == "code_review"
                      ? get("pl") + " connection pool best practices"
                      : get("topic") == "cooking"
                          ? get("dish") + " recipe " + get("diet")
                          : "things to do in " + get("city");
    json results = json::array();
    for (int i = 0, n = static_cast<int>(r.range(3, 5)); i < n; ++i)
      results.push_back(
        {{"title", q + " (result " + std::to_string(i + 1) + ")"},
         {"url", "https://example.com/" + slug(q) + "/" + std::to_string(i)}});
    return {"search", {{"query", q}, {"max_results", 5}},
            {{"results", results}, {"count", results.size()}},
            "Searched the web for \"" + q + "\""};
  }
  if (name == "calendar.create_event") {
    return {"productivity",
            {{"title", get("topic") == "fitness" ? "Long run" : "Trip to "
                                                                 + get("city")},
             {"date", get("month") + " " + std::to_string(r.range(1, 28))},
             {"duration_min", r.range(30, 180)}},
            {{"event_id", "evt_" + std::to_string(r.range(10000, 99999))},
             {"status", "confirmed"}},
            "Added an event to the calendar"};
  }
  if (name == "recipe.lookup") {
    return {"search",
            {{"dish", get("dish")}, {"diet", get("diet")}},
            {{"ingredients", json::array({"olive oil", "onion", "garlic",
                                          "salt", "pepper"})},
             {"minutes", r.range(20, 120)},
             {"servings", 4}},
            "Looked up a recipe for " + get("dish")};
  }
  if (name == "unit_converter") {
    int64_t grams = r.range(50, 900);
    return {"math",
            {{"value", grams}, {"from", "g"}, {"to", "oz"}},
            {{"result", std::round(grams / 28.3495 * 10) / 10}},
            "Converted grams to ounces"};
  }
  if (name == "code.run_tests") {
    int64_t failed = r.range(0, 3);
    return {"code",
            {{"repo", get("repo")}, {"ref", "pull/" + get("pr")}},
            {{"passed", r.range(400, 1500)}, {"failed", failed},
             {"duration_s", r.range(40, 600)}},
            "Ran the test suite of " + get("repo")};
  }
  if (name == "repo.search") {
    return {"code",
            {{"repo", get("repo")}, {"pattern", "retry|backoff"}},
            {{"matches", r.range(1, 40)},
             {"files", json::array({"src/client.go", "src/retry.go"})}},
            "Searched " + get("repo") + " for retry code"};
  }
  if (name == "calculator") {
    int64_t a = r.range(100, 5000);
    int64_t pct = r.range(5, 40);
    return {"math",
            {{"expression", std::to_string(a) + " * " + std::to_string(pct)
                              + " / 100"}},
            {{"result", static_cast<double>(a * pct) / 100.0}},
            "Calculated a percentage"};
  }
  if (name == "bank.transactions") {
    return {"finance",
            {{"account", "checking"}, {"month", get("month")}},
            {{"transactions", r.range(30, 120)},
             {"total_usd", r.range(1500, 6000)}},
            "Fetched last month's transactions"};
  }
  if (name == "spreadsheet.update") {
    return {"productivity",
            {{"sheet", "Budget " + get("month")},
             {"range", "B2:D" + std::to_string(r.range(10, 40))}},
            {{"updated_cells", r.range(10, 120)}},
            "Updated the budget spreadsheet"};
  }
  if (name == "workout.log") {
    return {"health",
            {{"type", "run"}, {"distance_km", std::stod(get("km"))},
             {"pace", "easy"}},
            {{"logged", true}, {"weekly_km", r.range(10, 60)}},
            "Logged a workout"};
  }
  // translate
  return {"language",
          {{"text", "Where is the train station?"},
           {"target", get("lang")}},
          {{"translation", "(" + get("lang") + ") Where is the train station?"},
           {"confidence", std::round(r.range(80, 99)) / 100.0}},
          "Translated a phrase to " + get("lang")};
}

const std::vector<std::string> tool_errors{
  "upstream timeout after 5000 ms",
  "rate limited by provider (HTTP 429)",
  "invalid argument: date is in the past",
  "service unavailable (HTTP 503)",
  "authentication expired; reconnect the integration"};

const std::vector<std::string> models{"gpt-4o-mini", "claude-3-5-sonnet",
                                      "llama-3.1-70b-instruct",
                                      "mistral-large"};

// --- users ---------------------------------------------------------------------

struct user_state {
  std::string user_id;
  slots persona;
  bool in_session = false;
  std::string session_id;
  size_t topic_idx = 0;
  std::string agent_name;
  std::string model;
  int steps_left = 0;
  int messages = 0;
  int64_t session_start_ms = 0;
  bool awaiting_reply = false;
  size_t turn_idx = 0; // template of the pending user message
  slots session_slots;
};

} // namespace

struct activity_generator::state {
  simulator_config cfg;
  rng r;
  std::vector<user_state> users;
  uint64_t counter = 0;
  uint64_t sessions = 0;
  int64_t start_ms = 0;
  double spacing_ms = 0;

  explicit state(const simulator_config& c)
    : cfg(c), r(mix64(c.seed ^ 0x5eed5eed5eedULL)) {
    start_ms = c.start_time_ms != 0
                 ? c.start_time_ms
                 : std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    spacing_ms = c.rate > 0 ? 1000.0 / c.rate : 0.0;
    int n = std::max(1, c.users);
    users.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      auto& u = users[static_cast<size_t>(i)];
      char id[32];
      std::snprintf(id, sizeof(id), "user-%04d", i + 1);
      u.user_id = id;
      u.persona = {{"name", r.pick(first_names)},
                   {"home", r.pick(home_cities)},
                   {"diet", r.pick(diets)},
                   {"pet", r.pick(pets)},
                   {"lang", r.pick(languages)},
                   {"repo", r.pick(repos)},
                   {"pl", r.pick(prog_langs)}};
    }
  }

  int64_t ts_of(uint64_t i) const {
    return start_ms + static_cast<int64_t>(std::floor(i * spacing_ms));
  }

  // Per-message numbers, drawn when the user speaks and reused by the reply.
  void draw_turn_numbers(slots& s) {
    int64_t amount = r.range(3, 60) * 100;
    int64_t weeks = r.range(4, 20);
    s["amount"] = with_commas(amount);
    s["weekly"] = with_commas((amount + weeks - 1) / weeks);
    s["small"] = std::to_string(r.range(18, 95));
    s["income"] = with_commas(r.range(30, 90) * 100);
    s["pct"] = std::to_string(r.range(5, 40));
    int64_t n = r.range(3, 12);
    s["n"] = std::to_string(n);
    char factor[16];
    std::snprintf(factor, sizeof(factor), "%.2g", static_cast<double>(n) / 4);
    s["factor"] = factor;
    s["km"] = std::to_string(r.range(5, 24));
    s["weeks"] = std::to_string(weeks);
  }

  void start_session(user_state& u, int64_t ts) {
    u.in_session = true;
    u.session_id = "sess-" + uuid_like(cfg.seed, 2, sessions++);
    u.topic_idx = r.below(topics().size());
    auto& t = topics()[u.topic_idx];
    u.agent_name = r.pick(t.agent_names);
    u.model = r.pick(models);
    u.steps_left = static_cast<int>(r.range(6, 18));
    u.messages = 0;
    u.session_start_ms = ts;
    u.awaiting_reply = false;
    u.session_slots = u.persona;
    auto& s = u.session_slots;
    s["topic"] = t.name;
    s["city"] = r.pick(destinations);
    s["city_slug"] = slug(s["city"]);
    s["dish"] = r.pick(dishes);
    s["month"] = r.pick(months);
    s["month_slug"] = slug(s["month"]);
    s["days"] = std::to_string(r.range(3, 12));
    s["race"] = r.pick(races);
    s["category"] = r.pick(budget_categories);
    s["lang_slug"] = slug(s["lang"]);
    s["pr"] = std::to_string(r.range(100, 4999));
    std::string pl2;
    do
      pl2 = r.pick(prog_langs);
    while (pl2 == s["pl"]);
    s["pl2"] = pl2;
    draw_turn_numbers(s);
  }

  json base(const user_state& u, const std::string& event_type, int64_t ts) {
    return json{{"event_id", uuid_like(cfg.seed, 1, counter)},
                {"ts", domain::format_rfc3339_ms(ts)},
                {"user_id", u.user_id},
                {"session_id", u.session_id},
                {"agent_type", topics()[u.topic_idx].agent_type},
                {"agent_name", u.agent_name},
                {"event_type", event_type}};
  }

  json user_message(user_state& u, int64_t ts) {
    auto& t = topics()[u.topic_idx];
    u.turn_idx = r.below(t.turns.size());
    draw_turn_numbers(u.session_slots);
    auto j = base(u, "message", ts);
    j["role"] = "user";
    j["content"] = fill(t.turns[u.turn_idx].user, u.session_slots);
    if (r.chance(0.25)) {
      j["importance"] = static_cast<double>(r.range(30, 95)) / 100.0;
      j["tags"] = json::array({t.name});
    }
    u.awaiting_reply = true;
    ++u.messages;
    return j;
  }

  json assistant_message(user_state& u, int64_t ts) {
    auto& t = topics()[u.topic_idx];
    auto j = base(u, "message", ts);
    j["role"] = "assistant";
    std::string content = fill(t.turns[u.turn_idx].assistant, u.session_slots);
    // Rough token count: prompt context plus ~1.3 tokens per word.
    int64_t words = 1;
    for (char c : content)
      words += c == ' ';
    j["tokens_used"] = r.range(150, 900) + words * 13 / 10;
    j["model"] = u.model;
    j["processing_time_ms"] = r.range(300, 4500);
    j["content"] = std::move(content);
    u.awaiting_reply = false;
    ++u.messages;
    return j;
  }

  json tool_call(user_state& u, int64_t ts) {
    auto& t = topics()[u.topic_idx];
    const auto& name = r.pick(t.tools);
    auto res = make_tool(name, u.session_slots, r);
    auto j = base(u, "tool_call", ts);
    j["role"] = "tool";
    j["tool"] = {{"name", name}, {"category", res.category}};
    j["input"] = std::move(res.input);
    j["processing_time_ms"] = r.range(40, 2500);
    if (r.chance(0.08)) {
      j["success"] = false;
      j["error_message"] = r.pick(tool_errors);
      j["content"] = res.summary + " (failed)";
    } else {
      j["success"] = true;
      j["output"] = std::move(res.output);
      j["content"] = res.summary;
    }
    return j;
  }

  json task(user_state& u, int64_t ts) {
    auto& t = topics()[u.topic_idx];
    const auto& tt = r.pick(t.tasks);
    draw_turn_numbers(u.session_slots);
    auto& s = u.session_slots;
    auto j = base(u, "task", ts);
    std::string goal = fill(tt.goal, s);
    int64_t total = r.range(2, 7);
    j["content"] = goal;
    j["input"] = {{"goal", goal},
                  {"priority", r.pick(std::vector<std::string>{
                                 "low", "normal", "normal", "high"})}};
    j["processing_time_ms"] = r.range(800, 45000);
    if (r.chance(0.07)) {
      int64_t done = r.range(0, total - 1);
      j["success"] = false;
      j["error_message"] =
        "step " + std::to_string(done + 1) + " of " + std::to_string(total)
        + " failed: " + r.pick(tool_errors);
      j["output"] = {{"status", "failed"},
                     {"steps_completed", done},
                     {"steps_total", total}};
    } else {
      j["success"] = true;
      j["output"] = {{"status", "completed"},
                     {"steps_completed", total},
                     {"steps_total", total},
                     {"summary", fill(tt.summary, s)}};
    }
    j["metadata"] = {{"task_id", "task-" + uuid_like(cfg.seed, 3, counter)
                                             .substr(0, 8)}};
    return j;
  }

  json file_upload(user_state& u, int64_t ts) {
    auto& t = topics()[u.topic_idx];
    const auto& ft = r.pick(t.files);
    draw_turn_numbers(u.session_slots);
    auto& s = u.session_slots;
    // 3..all paragraphs, in document order.
    size_t total = ft.paragraphs.size();
    size_t keep = std::min(total, static_cast<size_t>(r.range(3, 5)));
    std::vector<bool> chosen(total, false);
    chosen[0] = true;
    for (size_t k = 1; k < keep;) {
      size_t i = r.below(total);
      if (!chosen[i]) {
        chosen[i] = true;
        ++k;
      }
    }
    std::string text;
    for (size_t i = 0; i < total; ++i)
      if (chosen[i]) {
        if (!text.empty())
          text += "\n\n";
        text += fill(ft.paragraphs[i], s);
      }
    // Binary formats are larger than the text extracted from them.
    int64_t size = static_cast<int64_t>(text.size());
    if (ft.mime_type == "application/pdf")
      size = size * 9 + r.range(20000, 90000);
    auto j = base(u, "file_upload", ts);
    j["role"] = "user";
    std::string filename = fill(ft.filename, s);
    j["content"] = "Uploaded " + filename;
    j["file"] = {{"filename", filename},
                 {"mime_type", ft.mime_type},
                 {"size_bytes", size},
                 {"text", std::move(text)}};
    j["tags"] = json::array({t.name, "upload"});
    return j;
  }

  json session_start_event(user_state& u, int64_t ts) {
    start_session(u, ts);
    auto j = base(u, "session_start", ts);
    j["metadata"] = {{"client", r.pick(clients)},
                     {"locale", r.pick(locales)},
                     {"app_version", "2." + std::to_string(r.range(0, 9)) + "."
                                       + std::to_string(r.range(0, 20))}};
    return j;
  }

  json session_end_event(user_state& u, int64_t ts) {
    auto j = base(u, "session_end", ts);
    j["metadata"] = {{"messages", u.messages},
                     {"duration_s", (ts - u.session_start_ms) / 1000},
                     {"reason", r.chance(0.8) ? "user_closed" : "idle_timeout"}};
    u.in_session = false;
    return j;
  }

  std::pair<std::string, std::string> next() {
    int64_t ts = ts_of(counter);
    auto& u = users[r.below(users.size())];
    json j;
    if (!u.in_session) {
      j = session_start_event(u, ts);
    } else if (u.awaiting_reply) {
      // A reply, sometimes after the agent used a tool.
      j = r.chance(0.3) ? tool_call(u, ts) : assistant_message(u, ts);
    } else if (u.steps_left <= 0) {
      j = session_end_event(u, ts);
    } else {
      --u.steps_left;
      double x = r.unit();
      if (x < 0.68)
        j = user_message(u, ts);
      else if (x < 0.80)
        j = task(u, ts);
      else if (x < 0.90)
        j = file_upload(u, ts);
      else
        j = tool_call(u, ts);
    }
    ++counter;
    return {u.user_id, j.dump()};
  }
};

activity_generator::activity_generator(const simulator_config& cfg)
  : state_(std::make_unique<state>(cfg)) {
}

activity_generator::~activity_generator() = default;

std::pair<std::string, std::string> activity_generator::next() {
  return state_->next();
}

uint64_t activity_generator::generated() const {
  return state_->counter;
}

std::vector<std::pair<std::string, std::string>>
generate_events(const simulator_config& cfg, size_t n) {
  activity_generator gen{cfg};
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(gen.next());
  return out;
}

caf::expected<uint64_t> run_simulator(const simulator_config& cfg,
                                      const std::atomic<bool>* stop) {
  if (cfg.users < 1)
    return make_error(errc::invalid_config, "simulator: users must be >= 1");
  if (!(cfg.rate > 0) || !std::isfinite(cfg.rate))
    return make_error(errc::invalid_config, "simulator: rate must be > 0");
  if (!(cfg.duration_s >= 0) || !std::isfinite(cfg.duration_s))
    return make_error(errc::invalid_config,
                      "simulator: duration_s must be >= 0");
  auto prod = producer::create(cfg.brokers, cfg.properties);
  if (!prod)
    return std::move(prod.error());
  const auto total = static_cast<uint64_t>(std::llround(cfg.rate * cfg.duration_s));
  activity_generator gen{cfg};
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto next_log = t0 + std::chrono::seconds(5);
  uint64_t sent = 0;
  auto stopped = [&] { return stop != nullptr && stop->load(); };
  for (; sent < total && !stopped(); ++sent) {
    // Event i is due at t0 + i / rate: the same schedule as its ts.
    auto due = t0 + std::chrono::duration_cast<clock::duration>(
                      std::chrono::duration<double>(sent / cfg.rate));
    while (clock::now() < due && !stopped())
      std::this_thread::sleep_until(
        std::min(due, clock::now() + std::chrono::milliseconds(100)));
    if (stopped())
      break;
    auto [key, value] = gen.next();
    if (auto err = (*prod)->produce(cfg.topic, key, value))
      return err;
    if (clock::now() >= next_log) {
      spdlog::info("simulator: {} of {} events sent to {}", sent + 1, total,
                   cfg.topic);
      next_log += std::chrono::seconds(5);
    }
  }
  if (auto err = (*prod)->flush(std::chrono::seconds(30)))
    return err;
  spdlog::info("simulator: {} events delivered to {}", sent, cfg.topic);
  return sent;
}

} // namespace agentmem::kafka
