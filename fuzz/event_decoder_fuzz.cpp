// libFuzzer target for domain::event_decoder::decode and
// domain::decode_batch (event contract v1, docs/events.md).
//
// Input: a Kafka record value, optionally followed by the marker "\n@key:"
// and the record key: "<value>\n@key:<key>". Usually one record; the
// separator "\n@next\n" starts another one (at most 64), so a batch is
// "<value1>\n@key:<key1>\n@next\n<value2>...". Neither marker can occur
// inside well-formed JSON (a raw newline is not allowed in a string), so
// splitting on them costs the fuzzer no valid documents.
//
// Every record is decoded by two long-lived decoders (decoders are reused
// across records in production, so their buffers and key stacks are too):
// one with the default limits, one with tight limits (2 KiB value, 32-byte
// content, depth 4, 2 tags) so the limit checks are reachable with small
// inputs. Both use a fixed clock (2024-06-01T00:00:00Z, as the unit tests).
// Then all records go through decode_batch with the default decoder.
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//   - decode never crashes, leaks or hits ASan/UBSan/libstdc++ assertions;
//   - success: every field obeys docs/events.md (required fields non-empty
//     and within their character limits, valid UTF-8 without NUL, ts within
//     [min_ts, now + max_future], vocabularies, per-type requirements,
//     counts >= 0, importance -1 or 0..1, tags), raw_json == value,
//     source == record source, key empty or == user_id, JSON-valued fields
//     are compact JSON objects; and an independent parser (nlohmann-json)
//     accepts the value, finds no duplicate key, no nesting beyond the
//     limit, and the same field values;
//   - failure: the code is one of the reason codes of the table in
//     docs/events.md (read at start-up), the detail is
//     non-empty, the documented check order holds (size, UTF-8, raw NUL
//     first), and the code is consistent with the independent parser
//     (invalid_json => nlohmann rejects; duplicate_key => a repeated key was
//     seen; too_deep => nesting beyond the limit was seen; codes reported
//     after the full pass => nlohmann accepts);
//   - key_mismatch => the same value with an empty key decodes;
//   - monotonic limits: tight accepts => default accepts the same activity;
//     default rejects => tight rejects;
//   - decode_batch agrees with decode record by record: valid records in
//     input order with later duplicates of an event_id dropped, dead letters
//     in input order with the record, code and detail of decode, entries
//     already in the output vector untouched.
//
// AGENTMEM_FUZZ_VERBOSE=1 prints each input's outcome (for triage:
// `AGENTMEM_FUZZ_VERBOSE=1 build-fuzz/event_decoder_fuzz <files>`).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "domain/contract.hpp"
#include "domain/importance.hpp"
#include "domain/timestamp.hpp"

using agentmem::activity;
using agentmem::kafka_record;
using agentmem::domain::contract_limits;
using agentmem::domain::decode_error;
using agentmem::domain::event_decoder;

namespace {

using json = nlohmann::json;

constexpr std::string_view key_marker = "\n@key:";
constexpr std::string_view record_separator = "\n@next\n";
constexpr size_t max_records = 64;

// 2024-06-01T00:00:00Z, the clock of tests/domain/contract_test.cpp.
int64_t fixed_now() {
  return 1'717'200'000'000;
}

contract_limits tight_limits() {
  contract_limits l;
  l.max_event_bytes = 2048;
  l.max_content_bytes = 32;
  l.max_depth = 4;
  l.max_tags = 2;
  return l;
}

const char* const documented_codes[] = {
  "invalid_json",        "invalid_utf8",     "not_an_object",
  "missing_field",       "wrong_type",       "empty_field",
  "field_too_long",      "oversize_event",   "oversize_content",
  "too_deep",            "nul_byte",         "duplicate_key",
  "number_out_of_range", "too_many_tags",    "invalid_timestamp",
  "timestamp_out_of_range", "invalid_event_type", "invalid_role",
  "key_mismatch",
};

// The reason codes of the rejection table in docs/events.md (the rows
// "| `code` | when |" after the "| code | when |" header); the built-in
// list above when the file cannot be read.
const std::vector<std::string>& reason_codes() {
  static const std::vector<std::string> codes = [] {
    std::vector<std::string> out;
    std::ifstream in(AGENTMEM_ROOT "/docs/events.md");
    std::string line;
    bool table = false;
    while (std::getline(in, line)) {
      if (line.rfind("| code | when |", 0) == 0) {
        table = true;
        continue;
      }
      if (!table)
        continue;
      if (line.rfind("| `", 0) != 0) {
        if (!out.empty())
          break; // end of the table
        continue; // the |---| row
      }
      auto end = line.find('`', 3);
      if (end != std::string::npos)
        out.push_back(line.substr(3, end - 3));
    }
    if (out.empty()) {
      std::fprintf(stderr, "event_decoder_fuzz: no reason codes in "
                           "%s/docs/events.md; using the built-in list\n",
                   AGENTMEM_ROOT);
      out.assign(std::begin(documented_codes), std::end(documented_codes));
    }
    return out;
  }();
  return codes;
}

const char* const known_event_types[] = {
  "message",       "tool_call",   "task",     "file_upload",
  "session_start", "session_end", "feedback",
};

// Context printed when an invariant fails.
struct current_input {
  const kafka_record* rec = nullptr;
  const char* decoder = "";
  const decode_error* err = nullptr;
} ctx;

[[noreturn]] void violated(const char* what, int line) {
  std::fprintf(stderr, "\n*** invariant violated (event_decoder_fuzz.cpp:%d, "
                       "%s limits): %s\n",
               line, ctx.decoder, what);
  if (ctx.err)
    std::fprintf(stderr, "*** decode error: %s: %s\n", ctx.err->code.c_str(),
                 ctx.err->detail.c_str());
  if (ctx.rec)
    std::fprintf(stderr, "*** value: %zu bytes, key: %zu bytes\n",
                 ctx.rec->value.size(), ctx.rec->key.size());
  std::abort();
}

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      violated(#cond, __LINE__);                                              \
  } while (0)

bool is_utf8(std::string_view s) {
  return simdjson::validate_utf8(s.data(), s.size());
}

// Code points of valid UTF-8.
size_t chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// Valid UTF-8, no NUL, between lo and hi code points.
bool text_ok(std::string_view s, size_t lo, size_t hi) {
  if (!is_utf8(s) || has_nul(s))
    return false;
  size_t n = chars(s);
  return n >= lo && n <= hi;
}

bool event_type_ok(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'a' || s[0] > 'z')
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

// Empty, or a compact JSON object: minifying it again changes nothing and
// an independent parser reads an object.
bool compact_object_ok(const std::string& s) {
  if (s.empty())
    return true;
  if (s.front() != '{' || s.back() != '}' || !is_utf8(s) || has_nul(s))
    return false;
  std::string again(s.size() + simdjson::SIMDJSON_PADDING, '\0');
  size_t n = 0;
  if (simdjson::minify(s.data(), s.size(), again.data(), n)
      || std::string_view(again.data(), n) != s)
    return false;
  return json::accept(s) && json::parse(s).is_object();
}

// nlohmann SAX pass that only observes: deepest nesting and the first
// repeated key of any object (compared after unescaping). Stays valid for
// the prefix read before a syntax error.
struct observer : nlohmann::json_sax<json> {
  std::vector<std::vector<std::string>> keys; // one entry per open container
  std::vector<bool> is_object;
  size_t max_depth = 0;
  bool duplicate = false;

  bool open(bool obj) {
    keys.emplace_back();
    is_object.push_back(obj);
    max_depth = std::max(max_depth, keys.size());
    return true;
  }
  bool close() {
    keys.pop_back();
    is_object.pop_back();
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t& k) override {
    auto& ks = keys.back();
    for (auto& seen : ks)
      if (seen == k)
        duplicate = true;
    ks.push_back(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) override {
    return false;
  }
};

struct observation {
  bool accepted = false;
  observer obs;
};

void observe(const std::string& value, observation& o) {
  o.accepted = json::sax_parse(value, &o.obs, json::input_format_t::json,
                               /*strict=*/true, /*ignore_comments=*/false);
}

std::string str_or(const json& doc, const char* k, std::string dflt = "") {
  auto it = doc.find(k);
  if (it == doc.end() || it->is_null())
    return dflt;
  CHECK(it->is_string());
  return it->get<std::string>();
}

// The activity agrees with an independent reading of the value.
void compare_with_nlohmann(const activity& a, const std::string& value,
                           const contract_limits& lim) {
  observation o;
  observe(value, o);
  CHECK(o.accepted);
  CHECK(!o.obs.duplicate);
  CHECK(o.obs.max_depth <= lim.max_depth);
  json doc = json::parse(value);
  CHECK(doc.is_object());
  CHECK(str_or(doc, "event_id") == a.event_id);
  CHECK(str_or(doc, "user_id") == a.user_id);
  CHECK(str_or(doc, "session_id") == a.session_id);
  CHECK(str_or(doc, "agent_type") == a.agent_type);
  CHECK(str_or(doc, "event_type") == a.event_type);
  CHECK(agentmem::domain::parse_rfc3339_ms(str_or(doc, "ts")) == a.ts_ms);
  CHECK(str_or(doc, "agent_name") == a.agent_name);
  CHECK(str_or(doc, "role") == a.role);
  CHECK(str_or(doc, "content") == a.content);
  CHECK(str_or(doc, "model") == a.model);
  CHECK(str_or(doc, "error_message") == a.error_message);
  auto count = [&](const char* k) -> int64_t {
    auto it = doc.find(k);
    if (it == doc.end() || it->is_null())
      return 0;
    CHECK(it->is_number_integer());
    return it->get<int64_t>();
  };
  CHECK(count("tokens_used") == a.tokens_used);
  CHECK(count("processing_time_ms") == a.processing_time_ms);
  {
    auto it = doc.find("success");
    bool s = it == doc.end() || it->is_null() ? true : it->get<bool>();
    CHECK(s == a.success);
  }
  {
    auto it = doc.find("importance");
    double imp = it == doc.end() || it->is_null()
                   ? -1.0
                   : static_cast<double>(
                       agentmem::domain::stored_importance(it->get<double>()));
    CHECK(imp == a.importance);
  }
  {
    auto it = doc.find("cost_usd");
    int64_t nano = it == doc.end() || it->is_null()
                     ? -1
                     : std::llround(it->get<double>() * 1e9);
    CHECK(nano == a.cost_nanousd);
  }
  {
    auto it = doc.find("tags");
    std::vector<std::string> tags;
    if (it != doc.end() && !it->is_null())
      tags = it->get<std::vector<std::string>>();
    CHECK(tags == a.tags);
  }
  for (auto [k, text] : {std::pair<const char*, const std::string*>{
                           "input", &a.input_json},
                         {"output", &a.output_json},
                         {"metadata", &a.metadata_json}}) {
    auto it = doc.find(k);
    if (it == doc.end() || it->is_null()) {
      CHECK(text->empty());
    } else {
      CHECK(it->is_object());
      CHECK(json::parse(*text) == *it);
    }
  }
  {
    auto it = doc.find("tool");
    if (it == doc.end() || it->is_null()) {
      CHECK(a.tool_name.empty() && a.tool_category.empty());
    } else {
      CHECK(str_or(*it, "name") == a.tool_name);
      CHECK(str_or(*it, "category") == a.tool_category);
    }
  }
  {
    auto it = doc.find("file");
    CHECK(a.has_file == (it != doc.end() && !it->is_null()));
    if (a.has_file) {
      CHECK(str_or(*it, "filename") == a.file.filename);
      CHECK(str_or(*it, "mime_type") == a.file.mime_type);
      CHECK(str_or(*it, "text") == a.file.text);
      auto sz = it->find("size_bytes");
      int64_t n = sz == it->end() || sz->is_null() ? -1 : sz->get<int64_t>();
      CHECK(n == a.file.size_bytes);
    }
  }
}

void check_success(const activity& a, const kafka_record& rec,
                   const contract_limits& lim) {
  CHECK(rec.value.size() <= lim.max_event_bytes);
  CHECK(a.raw_json == rec.value);
  CHECK(a.source.topic == rec.source.topic);
  CHECK(a.source.partition == rec.source.partition);
  CHECK(a.source.offset == rec.source.offset);
  CHECK(rec.key.empty() || rec.key == a.user_id);
  // Required fields.
  CHECK(text_ok(a.event_id, 1, 128));
  CHECK(text_ok(a.user_id, 1, 128));
  CHECK(text_ok(a.session_id, 1, 128));
  CHECK(text_ok(a.agent_type, 1, 64));
  CHECK(event_type_ok(a.event_type));
  CHECK(a.ts_ms >= lim.min_ts_ms);
  CHECK(a.ts_ms <= fixed_now() + lim.max_future_ms);
  bool known = false;
  for (auto t : known_event_types)
    known = known || a.event_type == t;
  CHECK(a.activity_class == (known ? a.event_type : std::string("custom")));
  // Optional fields.
  CHECK(a.role.empty() || a.role == "user" || a.role == "assistant"
        || a.role == "system" || a.role == "tool");
  CHECK(text_ok(a.agent_name, 0, 128));
  CHECK(text_ok(a.model, 0, 128));
  CHECK(text_ok(a.error_message, 0, 65536));
  CHECK(text_ok(a.content, 0, SIZE_MAX));
  CHECK(a.content.size() <= lim.max_content_bytes);
  CHECK(text_ok(a.tool_name, 0, 128));
  CHECK(text_ok(a.tool_category, 0, 128));
  CHECK(text_ok(a.file.filename, 0, 1024));
  CHECK(text_ok(a.file.mime_type, 0, 255));
  CHECK(text_ok(a.file.text, 0, SIZE_MAX));
  CHECK(a.file.text.size() <= lim.max_content_bytes);
  CHECK(a.file.size_bytes >= -1);
  if (!a.has_file)
    CHECK(a.file.filename.empty() && a.file.mime_type.empty()
          && a.file.text.empty() && a.file.size_bytes == -1);
  CHECK(a.tokens_used >= 0);
  CHECK(a.processing_time_ms >= 0);
  CHECK(a.importance == -1.0 || (a.importance >= 0.0 && a.importance <= 1.0));
  CHECK(a.cost_nanousd >= -1 && a.cost_nanousd <= 1'000'000'000'000'000);
  CHECK(a.tags.size() <= lim.max_tags);
  for (auto& t : a.tags)
    CHECK(text_ok(t, 1, 128));
  CHECK(compact_object_ok(a.input_json));
  CHECK(compact_object_ok(a.output_json));
  CHECK(compact_object_ok(a.metadata_json));
  // Per-type requirements.
  if (a.event_type == "message")
    CHECK(!a.role.empty() && !a.content.empty());
  if (a.event_type == "tool_call")
    CHECK(!a.tool_name.empty());
  if (a.event_type == "file_upload")
    CHECK(a.has_file && !a.file.filename.empty());
  compare_with_nlohmann(a, rec.value, lim);
}

void check_failure(const decode_error& e, const kafka_record& rec,
                   const contract_limits& lim) {
  ctx.err = &e;
  bool documented = false;
  for (auto& c : reason_codes())
    documented = documented || e.code == c;
  CHECK(documented);
  CHECK(!e.detail.empty());
  const std::string& v = rec.value;
  // Whole-value checks run first, in this order.
  if (v.size() > lim.max_event_bytes) {
    CHECK(e.code == "oversize_event");
    return;
  }
  if (v.empty()) {
    CHECK(e.code == "invalid_json");
    return;
  }
  bool utf8 = is_utf8(v);
  CHECK(utf8 == (e.code != "invalid_utf8"));
  if (!utf8)
    return;
  if (has_nul(v)) {
    CHECK(e.code == "nul_byte");
    return;
  }
  if (e.code == "nul_byte")
    CHECK(v.find("\\u0000") != std::string::npos);
  // The rest is checked against an independent parser.
  observation o;
  observe(v, o);
  if (e.code == "invalid_json")
    CHECK(!o.accepted);
  if (e.code == "not_an_object")
    CHECK(o.accepted && !json::parse(v).is_object());
  if (e.code == "duplicate_key")
    CHECK(o.obs.duplicate);
  if (e.code == "too_deep")
    CHECK(o.obs.max_depth > lim.max_depth);
  // Reported after the complete pass over the document: it is well-formed.
  if (e.code == "missing_field" || e.code == "key_mismatch")
    CHECK(o.accepted);
  if (e.code == "key_mismatch")
    CHECK(!rec.key.empty());
}

// Decodes `rec` and checks the result; returns whether it was accepted.
bool run(event_decoder& dec, const char* name, const kafka_record& rec,
         activity& out, std::optional<decode_error>& err) {
  ctx = {&rec, name, nullptr};
  err = dec.decode(rec, out);
  if (!err) {
    check_success(out, rec, dec.limits());
    return true;
  }
  check_failure(*err, rec, dec.limits());
  if (err->code == "key_mismatch") {
    // The key is checked last: without it the record is valid.
    kafka_record keyless = rec;
    keyless.key.clear();
    activity a;
    auto again = dec.decode(keyless, a);
    CHECK(!again);
    CHECK(a.user_id != rec.key);
  }
  ctx.err = nullptr;
  return false;
}

bool same_activity(const activity& x, const activity& y) {
  return x.event_id == y.event_id && x.ts_ms == y.ts_ms
         && x.user_id == y.user_id && x.session_id == y.session_id
         && x.agent_type == y.agent_type && x.event_type == y.event_type
         && x.activity_class == y.activity_class
         && x.agent_name == y.agent_name && x.role == y.role
         && x.content == y.content && x.input_json == y.input_json
         && x.output_json == y.output_json && x.tool_name == y.tool_name
         && x.tool_category == y.tool_category && x.has_file == y.has_file
         && x.file.filename == y.file.filename
         && x.file.mime_type == y.file.mime_type
         && x.file.size_bytes == y.file.size_bytes
         && x.file.text == y.file.text && x.model == y.model
         && x.tokens_used == y.tokens_used
         && x.processing_time_ms == y.processing_time_ms
         && x.success == y.success && x.error_message == y.error_message
         && x.importance == y.importance && x.cost_nanousd == y.cost_nanousd
         && x.tags == y.tags
         && x.metadata_json == y.metadata_json && x.raw_json == y.raw_json;
}

// Splits the input into records (see the top of this file).
std::vector<kafka_record> split_records(std::string_view in) {
  std::vector<kafka_record> recs;
  while (true) {
    auto next = recs.size() + 1 < max_records ? in.find(record_separator)
                                              : std::string_view::npos;
    std::string_view part = in.substr(0, next);
    kafka_record rec;
    rec.source.topic = "agent.activity.v1";
    rec.source.partition = 7;
    rec.source.offset = 1000 + static_cast<int64_t>(recs.size());
    auto m = part.find(key_marker);
    rec.value.assign(part.substr(0, m));
    if (m != std::string_view::npos)
      rec.key.assign(part.substr(m + key_marker.size()));
    recs.push_back(std::move(rec));
    if (next == std::string_view::npos)
      break;
    in.remove_prefix(next + record_separator.size());
  }
  return recs;
}

struct outcome {
  bool ok = false;
  activity a;
  std::optional<decode_error> err;
};

void check_batch(event_decoder& dec, const std::vector<kafka_record>& recs,
                 const std::vector<outcome>& single) {
  ctx = {nullptr, "decode_batch", nullptr};
  std::vector<activity> out(1);
  out[0].event_id = "already-there";
  std::vector<agentmem::dead_letter> dead;
  agentmem::domain::decode_batch(dec, recs, out, dead);
  std::vector<const activity*> want_ok;
  std::vector<size_t> want_dead;
  std::vector<std::string> ids;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (!single[i].ok) {
      want_dead.push_back(i);
    } else if (std::find(ids.begin(), ids.end(), single[i].a.event_id)
               == ids.end()) {
      ids.push_back(single[i].a.event_id);
      want_ok.push_back(&single[i].a);
    }
  }
  CHECK(out.size() == 1 + want_ok.size());
  CHECK(out[0].event_id == "already-there" && out[0].raw_json.empty());
  for (size_t i = 0; i < want_ok.size(); ++i)
    CHECK(same_activity(out[i + 1], *want_ok[i]));
  CHECK(dead.size() == want_dead.size());
  for (size_t i = 0; i < want_dead.size(); ++i) {
    const auto& d = dead[i];
    const auto& r = recs[want_dead[i]];
    const auto& e = *single[want_dead[i]].err;
    CHECK(d.reason_code == e.code);
    CHECK(d.reason == e.detail);
    CHECK(d.record.value == r.value && d.record.key == r.key);
    CHECK(d.record.source.offset == r.source.offset);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Long-lived, like the decoder of a consumer actor.
  static event_decoder dflt{contract_limits{}, fixed_now};
  static event_decoder tight{tight_limits(), fixed_now};
  static const bool verbose = std::getenv("AGENTMEM_FUZZ_VERBOSE") != nullptr;

  auto recs = split_records(
    std::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<outcome> single(recs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    const kafka_record& rec = recs[i];
    outcome& d = single[i];
    activity a_tight;
    std::optional<decode_error> e_tight;
    d.ok = run(dflt, "default", rec, d.a, d.err);
    bool ok_tight = run(tight, "tight", rec, a_tight, e_tight);
    if (verbose)
      std::fprintf(stderr, "record %zu: default: %s | tight: %s\n", i,
                   d.ok ? "ok" : (d.err->code + ": " + d.err->detail).c_str(),
                   ok_tight ? "ok" : e_tight->code.c_str());
    ctx = {&rec, "default vs tight", nullptr};
    if (ok_tight) {
      CHECK(d.ok);
      CHECK(same_activity(d.a, a_tight));
    }
  }
  check_batch(dflt, recs, single);
  return 0;
}
