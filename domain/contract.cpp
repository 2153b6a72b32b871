#include "domain/contract.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <simdjson.h>

#include "domain/importance.hpp"
#include "domain/strict_input.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::domain {

namespace {

namespace od = simdjson::ondemand;

// Top-level fields of contract v1. The order of the first six is the order
// in which missing required fields are reported.
enum field_id : uint8_t {
  f_event_id,
  f_ts,
  f_user_id,
  f_session_id,
  f_agent_type,
  f_event_type,
  f_agent_name,
  f_role,
  f_content,
  f_input,
  f_output,
  f_tool,
  f_file,
  f_model,
  f_tokens_used,
  f_processing_time_ms,
  f_success,
  f_error_message,
  f_importance,
  f_tags,
  f_metadata,
  f_cost_usd,
  f_project_id,
  f_unknown,
};

constexpr const char* field_names[] = {
  "event_id",    "ts",          "user_id",
  "session_id",  "agent_type",  "event_type",
  "agent_name",  "role",        "content",
  "input",       "output",      "tool",
  "file",        "model",       "tokens_used",
  "processing_time_ms", "success", "error_message",
  "importance",  "tags",        "metadata",
  "cost_usd",    "project_id",
};

constexpr uint32_t bit(field_id id) {
  return uint32_t{1} << id;
}

// Maps a key to its field; dispatching on the length first keeps this at
// one or two memcmp per key.
field_id lookup_field(std::string_view k) {
  switch (k.size()) {
    case 2:
      return k == "ts" ? f_ts : f_unknown;
    case 4:
      if (k == "role")
        return f_role;
      if (k == "tool")
        return f_tool;
      if (k == "file")
        return f_file;
      if (k == "tags")
        return f_tags;
      return f_unknown;
    case 5:
      if (k == "input")
        return f_input;
      if (k == "model")
        return f_model;
      return f_unknown;
    case 6:
      return k == "output" ? f_output : f_unknown;
    case 7:
      if (k == "user_id")
        return f_user_id;
      if (k == "content")
        return f_content;
      if (k == "success")
        return f_success;
      return f_unknown;
    case 8:
      if (k == "event_id")
        return f_event_id;
      if (k == "metadata")
        return f_metadata;
      if (k == "cost_usd")
        return f_cost_usd;
      return f_unknown;
    case 10:
      if (k == "session_id")
        return f_session_id;
      if (k == "agent_type")
        return f_agent_type;
      if (k == "event_type")
        return f_event_type;
      if (k == "agent_name")
        return f_agent_name;
      if (k == "importance")
        return f_importance;
      if (k == "project_id")
        return f_project_id;
      return f_unknown;
    case 11:
      return k == "tokens_used" ? f_tokens_used : f_unknown;
    case 13:
      return k == "error_message" ? f_error_message : f_unknown;
    case 18:
      return k == "processing_time_ms" ? f_processing_time_ms : f_unknown;
    default:
      return f_unknown;
  }
}

// Event types with their own activity class; others are "custom".
constexpr std::string_view known_event_types[] = {
  "message",       "tool_call",   "task",     "file_upload",
  "session_start", "session_end", "feedback",
};

// Character limits (Unicode code points) of string fields.
constexpr size_t id_chars = 128;
constexpr size_t agent_type_chars = 64;
constexpr size_t name_chars = 128;
constexpr size_t tag_chars = 128;
constexpr size_t filename_chars = 1024;
constexpr size_t mime_type_chars = 255;
constexpr size_t error_message_chars = 65536;
// tokens_used and processing_time_ms are summed per (user, UTC day, agent)
// into bigint usage_analytics counters: with 2^32-1 per event a counter
// overflows only after 2^31 such events in one day, while 2^63-1 overflowed
// it with two events and Postgres then rejected (SQLSTATE 22003) every later
// event of that user, day and agent.
constexpr int64_t max_rolled_up = (int64_t{1} << 32) - 1;
// cost_usd of one event: summed in 1e-9 USD into int64 (9.2e9 USD) per
// batch delta and numeric(24,9) per rollup row.
constexpr double max_cost_usd = 1e6;
// Hard cap on max_depth: the walk recurses once per level.
constexpr size_t depth_cap = 1024;

bool valid_event_type(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'a' || s[0] > 'z')
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

bool valid_role(std::string_view s) {
  return s == "user" || s == "assistant" || s == "system" || s == "tool";
}

std::string_view rtrim_ws(std::string_view s) {
  while (!s.empty()
         && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r'
             || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Short excerpt of user-provided text for error details.
std::string excerpt(std::string_view s, size_t max = 64) {
  if (s.size() <= max)
    return std::string(s);
  // Do not cut inside a UTF-8 sequence.
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  std::string r(s.substr(0, cut));
  r += "...";
  return r;
}

const char* type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "unknown";
}

// "field 'x'" for error details; the empty name stands for the document.
std::string field_ref(std::string_view field) {
  if (field.empty())
    return "document";
  std::string r = "field '";
  r += field;
  r += '\'';
  return r;
}

int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

// Outcome of reading one optional field.
enum class got { value, null, error };

} // namespace

struct event_decoder::impl {
  contract_limits lim;
  int64_t (*now)();
  od::parser parser;
  od::document doc;
  // Copy of the record value followed by SIMDJSON_PADDING zero bytes.
  std::unique_ptr<char[]> buf;
  size_t buf_cap = 0;
  // Keys of the object being walked at each depth (views into the parser's
  // string buffer), reused across records to avoid allocations.
  std::vector<std::vector<std::string_view>> keys;
  activity* out = nullptr;
  decode_error err;
  // Raw NUL bytes are rejected up front, so an unescaped string can only
  // hold NUL through a `\u0000` escape; when the value has no such text
  // (the usual case) the per-string scans are skipped.
  bool escaped_nul_possible = false;

  impl(contract_limits l, int64_t (*n)()) : lim(l), now(n ? n : system_now_ms) {
    lim.max_depth = std::min(lim.max_depth, depth_cap);
    keys.resize(lim.max_depth + 2);
    for (auto& k : keys)
      k.reserve(16);
  }

  // -- error helpers ---------------------------------------------------------

  bool fail(const char* code, std::string detail) {
    err.code = code;
    err.detail = std::move(detail);
    return false;
  }

  bool json_fail(simdjson::error_code e, std::string_view field) {
    std::string where = field.empty() ? "document" : field_ref(field);
    switch (e) {
      case simdjson::UTF8_ERROR:
        return fail("invalid_utf8", where + ": invalid UTF-8");
      case simdjson::DEPTH_ERROR:
        return fail("too_deep", where + ": nesting too deep");
      case simdjson::CAPACITY:
        return fail("oversize_event", where + ": document too large");
      case simdjson::STRING_ERROR:
        return fail("invalid_json",
                    where + ": invalid string escape or lone surrogate");
      case simdjson::UNESCAPED_CHARS:
        return fail("invalid_json",
                    where + ": unescaped control character in a string");
      default:
        return fail("invalid_json",
                    where + ": " + simdjson::error_message(e));
    }
  }

  bool too_deep(std::string_view field) {
    return fail("too_deep", field_ref(field) + ": nested deeper than "
                              + std::to_string(lim.max_depth) + " levels");
  }

  bool number_fail(std::string_view tok, std::string_view field) {
    if (strict::json_number_grammar(tok))
      return fail("number_out_of_range",
                  field_ref(field) + ": number " + excerpt(tok)
                    + " does not fit a 64-bit integer or a finite double");
    return fail("invalid_json", field_ref(field) + ": malformed number "
                                  + excerpt(tok));
  }

  bool wrong_type(std::string_view field, const char* expected,
                  od::json_type t) {
    return fail("wrong_type", field_ref(field) + ": expected " + expected
                                + ", got " + type_name(t));
  }

  bool nul_after_unescape(std::string_view s) const {
    return escaped_nul_possible && strict::has_nul(s);
  }

  // -- generic walk ----------------------------------------------------------

  std::vector<std::string_view>& keys_at(size_t depth) {
    return keys[depth]; // sized max_depth + 2 up front: never reallocates
  }

  // Rejects an object whose keys repeat. Small objects (the usual case)
  // compare pairwise; large ones sort, so a hostile object stays
  // O(n log n).
  bool check_unique(std::vector<std::string_view>& ks,
                    std::string_view field) {
    size_t n = ks.size();
    if (n < 2)
      return true;
    const std::string_view* dup = nullptr;
    if (n <= 16) {
      for (size_t i = 1; i < n && !dup; ++i)
        for (size_t j = 0; j < i; ++j)
          if (ks[i] == ks[j]) {
            dup = &ks[i];
            break;
          }
    } else {
      std::sort(ks.begin(), ks.end());
      auto it = std::adjacent_find(ks.begin(), ks.end());
      if (it != ks.end())
        dup = &*it;
    }
    if (!dup)
      return true;
    std::string where = field.empty() ? "event object" : field_ref(field);
    return fail("duplicate_key",
                where + ": duplicate key '" + excerpt(*dup) + "'");
  }

  bool check_number(od::value& v, std::string_view field) {
    std::string_view tok = rtrim_ws(v.raw_json_token());
    od::number_type nt;
    auto e = v.get_number_type().get(nt);
    if (!e) {
      switch (nt) {
        case od::number_type::floating_point_number: {
          double d;
          e = v.get_double().get(d);
          break;
        }
        case od::number_type::signed_integer: {
          int64_t i;
          e = v.get_int64().get(i);
          break;
        }
        case od::number_type::unsigned_integer: {
          uint64_t u;
          e = v.get_uint64().get(u);
          break;
        }
      }
    }
    return e ? number_fail(tok, field) : true;
  }

  bool check_null(od::value& v, std::string_view field) {
    bool is_null = false;
    if (v.is_null().get(is_null) || !is_null)
      return fail("invalid_json", field_ref(field) + ": malformed literal");
    return true;
  }

  // Validates any JSON value completely: structure, UTF-8 escapes, NUL
  // characters, numbers, duplicate keys and depth. `depth` is the nesting
  // level `v` has if it is a container; `field` names the top-level field
  // for error details.
  bool walk(od::value v, size_t depth, std::string_view field) {
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field);
    switch (t) {
      case od::json_type::object: {
        if (depth > lim.max_depth)
          return too_deep(field);
        od::object o;
        if (auto e = v.get_object().get(o))
          return json_fail(e, field);
        auto& ks = keys_at(depth);
        ks.clear();
        for (auto f : o) {
          std::string_view k;
          if (auto e = f.unescaped_key().get(k))
            return json_fail(e, field);
          if (nul_after_unescape(k))
            return fail("nul_byte",
                        field_ref(field) + ": NUL character in a key");
          ks.push_back(k);
          od::value c;
          if (auto e = f.value().get(c))
            return json_fail(e, field);
          if (!walk(c, depth + 1, field))
            return false;
        }
        return check_unique(ks, field);
      }
      case od::json_type::array: {
        if (depth > lim.max_depth)
          return too_deep(field);
        od::array a;
        if (auto e = v.get_array().get(a))
          return json_fail(e, field);
        for (auto x : a) {
          od::value c;
          if (auto e = x.get(c))
            return json_fail(e, field);
          if (!walk(c, depth + 1, field))
            return false;
        }
        return true;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s))
          return json_fail(e, field);
        if (nul_after_unescape(s))
          return fail("nul_byte",
                      field_ref(field) + ": NUL character in a string");
        return true;
      }
      case od::json_type::number:
        return check_number(v, field);
      case od::json_type::boolean: {
        bool b;
        if (v.get_bool().get(b))
          return fail("invalid_json", field_ref(field) + ": malformed literal");
        return true;
      }
      case od::json_type::null:
        return check_null(v, field);
    }
    return fail("invalid_json", field_ref(field) + ": unknown value");
  }

  // -- typed readers ---------------------------------------------------------

  got read_string(od::value& v, std::string_view field, std::string_view& s) {
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::string)
      return wrong_type(field, "a string", t), got::error;
    if (auto e = v.get_string().get(s))
      return json_fail(e, field), got::error;
    if (nul_after_unescape(s))
      return fail("nul_byte", field_ref(field) + ": NUL character in a string"),
             got::error;
    return got::value;
  }

  // Length in code points within [min_chars, max_chars] (min is 0 or 1).
  bool check_chars(std::string_view s, std::string_view field,
                   size_t min_chars, size_t max_chars) {
    if (s.size() < min_chars)
      return fail("empty_field", field_ref(field) + ": must not be empty");
    // Bytes bound code points from above: count only when it can matter.
    if (s.size() > max_chars) {
      size_t n = strict::utf8_count(s);
      if (n > max_chars)
        return fail("field_too_long",
                    field_ref(field) + ": " + std::to_string(n)
                      + " characters, at most " + std::to_string(max_chars));
    }
    return true;
  }

  // Optional string with a length limit; empty counts as absent.
  got read_text(od::value& v, std::string_view field, size_t max_chars,
                std::string& dst) {
    std::string_view s;
    got r = read_string(v, field, s);
    if (r != got::value)
      return r;
    if (!check_chars(s, field, 0, max_chars))
      return got::error;
    dst.assign(s.data(), s.size());
    return got::value;
  }

  // Required-when-present string of 1..max_chars code points.
  got read_id(od::value& v, std::string_view field, size_t max_chars,
              std::string& dst) {
    std::string_view s;
    got r = read_string(v, field, s);
    if (r != got::value)
      return r;
    if (!check_chars(s, field, 1, max_chars))
      return got::error;
    dst.assign(s.data(), s.size());
    return got::value;
  }

  got read_content(od::value& v, std::string_view field, std::string& dst) {
    std::string_view s;
    got r = read_string(v, field, s);
    if (r != got::value)
      return r;
    if (s.size() > lim.max_content_bytes)
      return fail("oversize_content",
                  field_ref(field) + ": " + std::to_string(s.size())
                    + " bytes, at most "
                    + std::to_string(lim.max_content_bytes)),
             got::error;
    dst.assign(s.data(), s.size());
    return got::value;
  }

  // Integer in 0..max; floats are a wrong type.
  got read_count(od::value& v, std::string_view field, int64_t& dst,
                 int64_t max = std::numeric_limits<int64_t>::max()) {
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::number)
      return wrong_type(field, "a non-negative integer", t), got::error;
    std::string_view tok = rtrim_ws(v.raw_json_token());
    od::number_type nt;
    if (v.get_number_type().get(nt))
      return number_fail(tok, field), got::error;
    if (nt == od::number_type::floating_point_number) {
      if (!strict::json_number_grammar(tok))
        return number_fail(tok, field), got::error;
      return fail("wrong_type", field_ref(field) + ": expected an integer, got "
                                  + excerpt(tok)),
             got::error;
    }
    if (nt == od::number_type::unsigned_integer)
      return fail("number_out_of_range",
                  field_ref(field) + ": " + excerpt(tok)
                    + " does not fit a 64-bit signed integer"),
             got::error;
    int64_t x;
    if (v.get_int64().get(x))
      return number_fail(tok, field), got::error;
    if (x < 0)
      return fail("number_out_of_range",
                  field_ref(field) + ": " + std::to_string(x) + " is negative"),
             got::error;
    if (x > max)
      return fail("number_out_of_range",
                  field_ref(field) + ": " + std::to_string(x)
                    + " is above the maximum " + std::to_string(max)),
             got::error;
    dst = x;
    return got::value;
  }

  got read_bool(od::value& v, std::string_view field, bool& dst) {
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::boolean)
      return wrong_type(field, "a boolean", t), got::error;
    if (v.get_bool().get(dst))
      return fail("invalid_json", field_ref(field) + ": malformed literal"),
             got::error;
    return got::value;
  }

  // A number in [lo, hi] (`range` spells the bounds for the error).
  got read_number_in(od::value& v, std::string_view field, double lo,
                     double hi, const char* range, double& dst) {
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::number)
      return wrong_type(field, "a number", t), got::error;
    std::string_view tok = rtrim_ws(v.raw_json_token());
    double d;
    if (v.get_double().get(d))
      return number_fail(tok, field), got::error;
    if (!(d >= lo && d <= hi))
      return fail("number_out_of_range", field_ref(field) + ": "
                                           + excerpt(tok)
                                           + " is not within " + range),
             got::error;
    dst = d;
    return got::value;
  }

  // At the precision PostgreSQL's `real` column stores: a value below
  // float's normal range (1e-311 is valid JSON and within 0..1) is 0, not
  // a batch PostgreSQL refuses ("out of range for type real").
  got read_importance(od::value& v, std::string_view field, double& dst) {
    auto g = read_number_in(v, field, 0.0, 1.0, "0..1", dst);
    if (g == got::value)
      dst = domain::stored_importance(dst);
    return g;
  }

  // cost_usd: kept in 1e-9 USD so that rollup sums are exact integers.
  got read_cost(od::value& v) {
    double d = 0;
    auto g = read_number_in(v, "cost_usd", 0.0, max_cost_usd, "0..1000000", d);
    if (g == got::value)
      out->cost_nanousd = std::llround(d * 1e9);
    return g;
  }

  // An object-valued field stored as compact JSON text: validated by the
  // walk, then the value's own bytes are minified (escapes are kept as
  // sent, so no re-encoding happens).
  got read_json_object(od::value& v, std::string_view field,
                       std::string& dst) {
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::object)
      return wrong_type(field, "an object", t), got::error;
    const char* begin = v.raw_json_token().data();
    if (!walk(v, 2, field))
      return got::error;
    // After the object the iterator sits on the parent's next token (`,`
    // or the closing `}` of the event), which bounds the object's text.
    const char* end = nullptr;
    if (auto e = doc.current_location().get(end))
      return json_fail(e, field), got::error;
    size_t len = static_cast<size_t>(end - begin);
    dst.resize(len + simdjson::SIMDJSON_PADDING);
    size_t n = 0;
    if (auto e = simdjson::minify(begin, len, dst.data(), n))
      return json_fail(e, field), got::error;
    dst.resize(n);
    return got::value;
  }

  got read_tool(od::value& v) {
    constexpr std::string_view field = "tool";
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::object)
      return wrong_type(field, "an object", t), got::error;
    if (2 > lim.max_depth)
      return too_deep(field), got::error;
    od::object o;
    if (auto e = v.get_object().get(o))
      return json_fail(e, field), got::error;
    auto& ks = keys_at(2);
    ks.clear();
    for (auto f : o) {
      std::string_view k;
      if (auto e = f.unescaped_key().get(k))
        return json_fail(e, field), got::error;
      if (nul_after_unescape(k))
        return fail("nul_byte", field_ref(field) + ": NUL character in a key"),
               got::error;
      ks.push_back(k);
      od::value c;
      if (auto e = f.value().get(c))
        return json_fail(e, field), got::error;
      got r;
      if (k == "name")
        r = read_id(c, "tool.name", name_chars, out->tool_name);
      else if (k == "category")
        r = read_text(c, "tool.category", name_chars, out->tool_category);
      else
        r = walk(c, 3, field) ? got::value : got::error;
      if (r == got::error)
        return got::error;
    }
    return check_unique(ks, field) ? got::value : got::error;
  }

  got read_file(od::value& v) {
    constexpr std::string_view field = "file";
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::object)
      return wrong_type(field, "an object", t), got::error;
    if (2 > lim.max_depth)
      return too_deep(field), got::error;
    od::object o;
    if (auto e = v.get_object().get(o))
      return json_fail(e, field), got::error;
    auto& ks = keys_at(2);
    ks.clear();
    file_info& fi = out->file;
    for (auto f : o) {
      std::string_view k;
      if (auto e = f.unescaped_key().get(k))
        return json_fail(e, field), got::error;
      if (nul_after_unescape(k))
        return fail("nul_byte", field_ref(field) + ": NUL character in a key"),
               got::error;
      ks.push_back(k);
      od::value c;
      if (auto e = f.value().get(c))
        return json_fail(e, field), got::error;
      got r;
      if (k == "filename") {
        r = read_id(c, "file.filename", filename_chars, fi.filename);
      } else if (k == "mime_type") {
        r = read_text(c, "file.mime_type", mime_type_chars, fi.mime_type);
      } else if (k == "size_bytes") {
        int64_t n = -1;
        r = read_count(c, "file.size_bytes", n);
        fi.size_bytes = n;
      } else if (k == "text") {
        r = read_content(c, "file.text", fi.text);
      } else {
        r = walk(c, 3, field) ? got::value : got::error;
      }
      if (r == got::error)
        return got::error;
    }
    out->has_file = true;
    return check_unique(ks, field) ? got::value : got::error;
  }

  got read_tags(od::value& v) {
    constexpr std::string_view field = "tags";
    od::json_type t;
    if (auto e = v.type().get(t))
      return json_fail(e, field), got::error;
    if (t == od::json_type::null)
      return check_null(v, field) ? got::null : got::error;
    if (t != od::json_type::array)
      return wrong_type(field, "an array of strings", t), got::error;
    if (2 > lim.max_depth)
      return too_deep(field), got::error;
    od::array a;
    if (auto e = v.get_array().get(a))
      return json_fail(e, field), got::error;
    size_t i = 0;
    // "tags[i]" for details, built only on the error path.
    auto elem = [&i] { return "tags[" + std::to_string(i) + "]"; };
    for (auto x : a) {
      od::value c;
      if (auto e = x.get(c))
        return json_fail(e, field), got::error;
      if (i >= lim.max_tags)
        return fail("too_many_tags", field_ref(field) + ": more than "
                                       + std::to_string(lim.max_tags)
                                       + " entries"),
               got::error;
      od::json_type et;
      if (auto e = c.type().get(et))
        return json_fail(e, elem()), got::error;
      if (et != od::json_type::string)
        return wrong_type(elem(), "a string", et), got::error;
      std::string_view s;
      if (auto e = c.get_string().get(s))
        return json_fail(e, elem()), got::error;
      if (nul_after_unescape(s))
        return fail("nul_byte", field_ref(elem()) + ": NUL character in a "
                                                    "string"),
               got::error;
      if (s.empty() || s.size() > tag_chars) {
        std::string name = elem();
        if (!check_chars(s, name, 1, tag_chars))
          return got::error;
      }
      out->tags.emplace_back(s);
      ++i;
    }
    return got::value;
  }

  got read_ts(od::value& v) {
    std::string_view s;
    got r = read_string(v, "ts", s);
    if (r != got::value)
      return r;
    auto ms = parse_rfc3339_ms(s);
    if (!ms)
      return fail("invalid_timestamp",
                  "field 'ts': not an RFC 3339 timestamp with offset: '"
                    + excerpt(s) + "'"),
             got::error;
    if (*ms < lim.min_ts_ms)
      return fail("timestamp_out_of_range",
                  "field 'ts': " + excerpt(s) + " is before "
                    + format_rfc3339_ms(lim.min_ts_ms)),
             got::error;
    int64_t latest = now() + lim.max_future_ms;
    if (*ms > latest)
      return fail("timestamp_out_of_range",
                  "field 'ts': " + excerpt(s) + " is after "
                    + format_rfc3339_ms(latest)
                    + " (more than " + std::to_string(lim.max_future_ms)
                    + " ms ahead of now)"),
             got::error;
    out->ts_ms = *ms;
    return got::value;
  }

  got read_event_type(od::value& v) {
    std::string_view s;
    got r = read_string(v, "event_type", s);
    if (r != got::value)
      return r;
    if (s.empty())
      return fail("empty_field", "field 'event_type': must not be empty"),
             got::error;
    if (!valid_event_type(s))
      return fail("invalid_event_type",
                  "field 'event_type': '" + excerpt(s)
                    + "' does not match [a-z][a-z0-9_]{0,63}"),
             got::error;
    out->event_type.assign(s.data(), s.size());
    out->activity_class = "custom";
    for (auto known : known_event_types)
      if (s == known) {
        out->activity_class = out->event_type;
        break;
      }
    return got::value;
  }

  got read_role(od::value& v) {
    std::string_view s;
    got r = read_string(v, "role", s);
    if (r != got::value)
      return r;
    if (!valid_role(s))
      return fail("invalid_role",
                  "field 'role': '" + excerpt(s)
                    + "' is not one of user, assistant, system, tool"),
             got::error;
    out->role.assign(s.data(), s.size());
    return got::value;
  }

  got read_field(field_id id, od::value& v) {
    switch (id) {
      case f_event_id:
        return read_id(v, "event_id", id_chars, out->event_id);
      case f_ts:
        return read_ts(v);
      case f_user_id:
        return read_id(v, "user_id", id_chars, out->user_id);
      case f_session_id:
        return read_id(v, "session_id", id_chars, out->session_id);
      case f_agent_type:
        return read_id(v, "agent_type", agent_type_chars, out->agent_type);
      case f_event_type:
        return read_event_type(v);
      case f_agent_name:
        return read_text(v, "agent_name", name_chars, out->agent_name);
      case f_role:
        return read_role(v);
      case f_content:
        return read_content(v, "content", out->content);
      case f_input:
        return read_json_object(v, "input", out->input_json);
      case f_output:
        return read_json_object(v, "output", out->output_json);
      case f_tool:
        return read_tool(v);
      case f_file:
        return read_file(v);
      case f_model:
        return read_text(v, "model", name_chars, out->model);
      case f_tokens_used:
        return read_count(v, "tokens_used", out->tokens_used, max_rolled_up);
      case f_processing_time_ms:
        return read_count(v, "processing_time_ms", out->processing_time_ms,
                          max_rolled_up);
      case f_success:
        return read_bool(v, "success", out->success);
      case f_error_message:
        return read_text(v, "error_message", error_message_chars,
                         out->error_message);
      case f_importance:
        return read_importance(v, "importance", out->importance);
      case f_tags:
        return read_tags(v);
      case f_metadata:
        return read_json_object(v, "metadata", out->metadata_json);
      case f_cost_usd:
        return read_cost(v);
      case f_project_id:
        return read_id(v, "project_id", id_chars, out->project_id);
      case f_unknown:
        break;
    }
    return got::error;
  }

  // The value is not an object: still tell malformed JSON (`nul`, `[1,`)
  // apart from well-formed JSON of the wrong shape.
  bool reject_non_object(od::json_type t, std::string_view value) {
    // simdjson's getters for a scalar document are unreliable (3.0.1):
    // `"a" x` reads as a string, `false8` as false, `nullx ` as null while
    // `null ` is refused, a 1083-character number loses its last character,
    // and a well-formed number it cannot represent counts as malformed. So a
    // scalar document is judged as the only element of an array, by the same
    // walk as any value inside an event.
    simdjson::padded_string wrapped;
    if (t != od::json_type::array) {
      std::string s;
      s.reserve(value.size() + 2);
      s += '[';
      s.append(value);
      s += ']';
      wrapped = simdjson::padded_string(s);
      if (auto e = parser.iterate(wrapped).get(doc))
        return json_fail(e, "");
    }
    od::array a;
    simdjson::error_code e = doc.get_array().get(a);
    size_t n = 0;
    if (!e) {
      for (auto x : a) {
        if (n == 1 && t != od::json_type::array) {
          e = simdjson::TAPE_ERROR; // `1, 2`: more than one scalar
          break;
        }
        od::value c;
        if ((e = x.get(c)))
          break;
        if (!walk(c, 2, ""))
          return false;
        ++n;
      }
    }
    const char* rest = nullptr;
    if (!e && doc.current_location().get(rest) == simdjson::SUCCESS)
      e = simdjson::TRAILING_CONTENT;
    if (e)
      return json_fail(e, "");
    return fail("not_an_object", std::string("document: value is ")
                                   + type_name(t) + ", not an object");
  }

  // -- one record ------------------------------------------------------------

  bool run(const kafka_record& rec, activity& result) {
    const std::string& value = rec.value;
    // Cheap whole-value checks first, before any parsing.
    if (value.size() > lim.max_event_bytes)
      return fail("oversize_event",
                  "value is " + std::to_string(value.size())
                    + " bytes, at most " + std::to_string(lim.max_event_bytes));
    if (value.empty())
      return fail("invalid_json", "document: empty record value");
    if (!simdjson::validate_utf8(value.data(), value.size()))
      return fail("invalid_utf8", "document: value is not valid UTF-8");
    if (std::memchr(value.data(), 0, value.size()))
      return fail("nul_byte", "document: raw NUL byte in the value");
    escaped_nul_possible =
      value.find("\\u0000") != std::string::npos;

    size_t need = value.size() + simdjson::SIMDJSON_PADDING;
    if (need > buf_cap) {
      size_t cap = std::max(need, std::min(buf_cap * 2, lim.max_event_bytes
                                              + simdjson::SIMDJSON_PADDING));
      cap = std::max(cap, size_t{4096});
      buf.reset(new char[cap]);
      buf_cap = cap;
    }
    std::memcpy(buf.get(), value.data(), value.size());
    std::memset(buf.get() + value.size(), 0, simdjson::SIMDJSON_PADDING);

    if (auto e = parser.iterate(buf.get(), value.size(), buf_cap).get(doc))
      return json_fail(e, "");
    od::json_type t;
    if (auto e = doc.type().get(t))
      return json_fail(e, "");
    if (t != od::json_type::object)
      return reject_non_object(t, value);
    od::object root;
    if (auto e = doc.get_object().get(root))
      return json_fail(e, "");
    if (lim.max_depth < 1)
      return fail("too_deep", "document: nested deeper than 0 levels");

    result = activity{};
    out = &result;
    uint32_t seen = 0;    // known keys met (for duplicate detection)
    uint32_t present = 0; // known keys with a non-null value
    auto& ks = keys_at(1);
    ks.clear();
    for (auto f : root) {
      std::string_view k;
      if (auto e = f.unescaped_key().get(k))
        return json_fail(e, "");
      if (nul_after_unescape(k))
        return fail("nul_byte", "document: NUL character in a key");
      od::value v;
      if (auto e = f.value().get(v))
        return json_fail(e, k);
      field_id id = lookup_field(k);
      if (id == f_unknown) {
        // Unknown fields are kept (raw_json) but must be valid too.
        ks.push_back(k);
        if (!walk(v, 2, k))
          return false;
        continue;
      }
      if (seen & bit(id))
        return fail("duplicate_key",
                    "event object: duplicate key '" + std::string(k) + "'");
      seen |= bit(id);
      got r = read_field(id, v);
      if (r == got::error)
        return false;
      if (r == got::value)
        present |= bit(id);
    }
    // Known keys are in `seen`; only unknown ones can still repeat.
    if (!check_unique(ks, ""))
      return false;
    // Anything after the closing brace (e.g. a second document).
    const char* rest = nullptr;
    if (doc.current_location().get(rest) == simdjson::SUCCESS)
      return fail("invalid_json", "document: trailing content after the "
                                  "event object");

    for (field_id id : {f_event_id, f_ts, f_user_id, f_session_id,
                        f_agent_type, f_event_type})
      if (!(present & bit(id)))
        return fail("missing_field", field_ref(field_names[id])
                                       + (seen & bit(id) ? ": is null"
                                                         : ": is required"));
    return check_event_rules(rec, present);
  }

  // Requirements that depend on event_type, then the record key.
  bool check_event_rules(const kafka_record& rec, uint32_t present) {
    const activity& a = *out;
    if (a.event_type == "message") {
      if (!(present & bit(f_role)))
        return fail("missing_field",
                    "field 'role': is required for event_type message");
      if (!(present & bit(f_content)))
        return fail("missing_field",
                    "field 'content': is required for event_type message");
      if (a.content.empty())
        return fail("empty_field",
                    "field 'content': must not be empty for event_type "
                    "message");
    } else if (a.event_type == "tool_call") {
      if (a.tool_name.empty())
        return fail("missing_field",
                    "field 'tool.name': is required for event_type tool_call");
    } else if (a.event_type == "file_upload") {
      if (!a.has_file || a.file.filename.empty())
        return fail("missing_field", "field 'file.filename': is required for "
                                     "event_type file_upload");
    }
    if (!rec.key.empty() && rec.key != a.user_id)
      return fail("key_mismatch", "record key '" + excerpt(rec.key)
                                    + "' differs from user_id '"
                                    + excerpt(a.user_id) + "'");
    out->raw_json = rec.value;
    out->source = rec.source;
    return true;
  }
};

event_decoder::event_decoder(contract_limits limits, int64_t (*now_ms)())
  : impl_(std::make_unique<impl>(limits, now_ms)) {
}

event_decoder::~event_decoder() = default;

event_decoder::event_decoder(event_decoder&&) noexcept = default;

event_decoder& event_decoder::operator=(event_decoder&&) noexcept = default;

std::optional<decode_error> event_decoder::decode(const kafka_record& rec,
                                                  activity& out) {
  if (impl_->run(rec, out))
    return std::nullopt;
  return std::move(impl_->err);
}

const contract_limits& event_decoder::limits() const noexcept {
  return impl_->lim;
}

void decode_batch(event_decoder& dec, const std::vector<kafka_record>& in,
                  std::vector<activity>& out, std::vector<dead_letter>& dead) {
  // No reallocation below, so views of kept event_ids stay valid.
  out.reserve(out.size() + in.size());
  std::unordered_set<std::string_view> ids;
  ids.reserve(in.size());
  for (const auto& rec : in) {
    activity& a = out.emplace_back();
    if (auto err = dec.decode(rec, a)) {
      out.pop_back();
      dead.push_back(dead_letter{rec, std::move(err->code),
                                 std::move(err->detail)});
      continue;
    }
    if (!ids.insert(out.back().event_id).second)
      out.pop_back(); // a redelivered/duplicated event: first one wins
  }
}

} // namespace agentmem::domain
