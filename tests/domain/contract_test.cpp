#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include "domain/contract.hpp"
#include "domain/timestamp.hpp"

using namespace agentmem;
using agentmem::domain::decode_batch;
using agentmem::domain::decode_error;
using agentmem::domain::event_decoder;
using agentmem::domain::parse_rfc3339_ms;

namespace {

// The decoder's clock in these tests: 2024-06-01T00:00:00Z.
int64_t fixed_now() {
  return 1'717'200'000'000;
}

kafka_record record(std::string value, std::string key = "") {
  kafka_record r;
  r.source.topic = "agent.activity.v1";
  r.source.partition = 3;
  r.source.offset = 42;
  r.key = std::move(key);
  r.value = std::move(value);
  return r;
}

// An event as ordered (name, raw JSON value) pairs, so that tests can
// replace, drop or repeat fields.
using fields = std::vector<std::pair<std::string, std::string>>;

std::string str(const std::string& s) {
  return "\"" + s + "\"";
}

fields message_fields() {
  return {{"event_id", str("e-1")},       {"ts", str("2024-05-31T12:00:00Z")},
          {"user_id", str("u-1")},        {"session_id", str("s-1")},
          {"agent_type", str("chat")},    {"event_type", str("message")},
          {"role", str("user")},          {"content", str("hello")}};
}

std::string render(const fields& fs) {
  std::string out = "{";
  for (auto& [k, v] : fs) {
    if (out.size() > 1)
      out += ',';
    out += str(k) + ":" + v;
  }
  return out + "}";
}

// The message event with `changes` applied: an existing field is replaced
// in place, a new one appended; a value of "<drop>" removes the field.
std::string message_with(const fields& changes) {
  auto fs = message_fields();
  for (auto& [k, v] : changes) {
    bool found = false;
    for (auto it = fs.begin(); it != fs.end(); ++it) {
      if (it->first == k) {
        found = true;
        if (v == "<drop>")
          fs.erase(it);
        else
          it->second = v;
        break;
      }
    }
    if (!found && v != "<drop>")
      fs.emplace_back(k, v);
  }
  return render(fs);
}

std::string nested(const std::string& open, const std::string& close,
                   int levels, const std::string& inner) {
  std::string s;
  for (int i = 0; i < levels; ++i)
    s += open;
  s += inner;
  for (int i = 0; i < levels; ++i)
    s += close;
  return s;
}

struct fixture {
  event_decoder dec{{}, fixed_now};
  activity out;

  std::optional<decode_error> decode(const std::string& value,
                                     const std::string& key = "") {
    return dec.decode(record(value, key), out);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(contract, fixture)

BOOST_AUTO_TEST_CASE(a_full_message_event_maps_every_field) {
  std::string value = R"({
    "event_id": "evt-0001",
    "ts": "2024-05-31T14:00:00.250+02:00",
    "user_id": "user-42",
    "session_id": "sess-7",
    "agent_type": "support_bot",
    "agent_name": "Helper \u00e9",
    "event_type": "message",
    "role": "assistant",
    "content": "Line one\nLine \"two\" \u2713",
    "input": { "prompt" : "hi",  "n": [1, 2.5, true, null] },
    "output": {"text": "hello"},
    "model": "gpt-4o-mini",
    "tokens_used": 321,
    "processing_time_ms": 87,
    "success": false,
    "error_message": "partial answer",
    "importance": 0.75,
    "tags": ["greeting", "vip"],
    "metadata": {"channel": "web", "ab": {"bucket": 3}},
    "x_trace": {"span": "abc"}
  })";
  BOOST_REQUIRE(!decode(value, "user-42"));
  BOOST_TEST(out.event_id == "evt-0001");
  BOOST_TEST(out.ts_ms == parse_rfc3339_ms("2024-05-31T12:00:00.250Z").value());
  BOOST_TEST(out.user_id == "user-42");
  BOOST_TEST(out.session_id == "sess-7");
  BOOST_TEST(out.agent_type == "support_bot");
  BOOST_TEST(out.agent_name == "Helper \xc3\xa9");
  BOOST_TEST(out.event_type == "message");
  BOOST_TEST(out.activity_class == "message");
  BOOST_TEST(out.role == "assistant");
  BOOST_TEST(out.content == "Line one\nLine \"two\" \xe2\x9c\x93");
  BOOST_TEST(out.input_json == R"({"prompt":"hi","n":[1,2.5,true,null]})");
  BOOST_TEST(out.output_json == R"({"text":"hello"})");
  BOOST_TEST(out.model == "gpt-4o-mini");
  BOOST_TEST(out.tokens_used == 321);
  BOOST_TEST(out.processing_time_ms == 87);
  BOOST_TEST(out.success == false);
  BOOST_TEST(out.error_message == "partial answer");
  BOOST_TEST(out.importance == 0.75);
  BOOST_TEST((out.tags == std::vector<std::string>{"greeting", "vip"}));
  BOOST_TEST(out.metadata_json == R"({"channel":"web","ab":{"bucket":3}})");
  BOOST_TEST(!out.has_file);
  BOOST_TEST(out.tool_name.empty());
  BOOST_TEST(out.raw_json == value);
  BOOST_TEST(out.source.topic == "agent.activity.v1");
  BOOST_TEST(out.source.partition == 3);
  BOOST_TEST(out.source.offset == 42);
}

BOOST_AUTO_TEST_CASE(json_valued_fields_are_stored_compact_with_escapes_kept) {
  // metadata is the last field here, so its text ends at the event's `}`.
  BOOST_REQUIRE(!decode(message_with(
    {{"input", "{ \"prompt\" :\n \"hi  there\\n\" ,\"e\":\"\\u00e9\" }"},
     {"metadata", "{ \"a\" : [ 1 , { } , [ ] ] }  "}})));
  BOOST_TEST(out.input_json == R"({"prompt":"hi  there\n","e":"\u00e9"})");
  BOOST_TEST(out.metadata_json == R"({"a":[1,{},[]]})");
}

BOOST_AUTO_TEST_CASE(a_minimal_message_gets_the_documented_defaults) {
  BOOST_REQUIRE(!decode(message_with({})));
  BOOST_TEST(out.success == true);
  BOOST_TEST(out.importance == -1.0);
  BOOST_TEST(out.tokens_used == 0);
  BOOST_TEST(out.processing_time_ms == 0);
  BOOST_TEST(out.file.size_bytes == -1);
  BOOST_TEST(out.tags.empty());
  BOOST_TEST(out.input_json.empty());
  BOOST_TEST(out.metadata_json.empty());
  BOOST_TEST(out.agent_name.empty());
  BOOST_TEST(out.cost_nanousd == -1);
}

// cost_usd (optional): kept exactly in 1e-9 USD; negative, too large or
// non-numeric values are rejected with the field named.
BOOST_AUTO_TEST_CASE(cost_usd_is_optional_and_kept_in_nano_dollars) {
  BOOST_REQUIRE(!decode(message_with({{"cost_usd", "0.0123"}})));
  BOOST_TEST(out.cost_nanousd == 12'300'000);
  BOOST_REQUIRE(!decode(message_with({{"cost_usd", "0"}})));
  BOOST_TEST(out.cost_nanousd == 0);
  BOOST_REQUIRE(!decode(message_with({{"cost_usd", "null"}})));
  BOOST_TEST(out.cost_nanousd == -1);
  for (const char* bad : {"-0.5", "1e7", "\"0.1\""}) {
    auto err = decode(message_with({{"cost_usd", bad}}));
    BOOST_REQUIRE_MESSAGE(err, bad);
    BOOST_TEST(err->detail.find("cost_usd") != std::string::npos,
               err->detail);
  }
}

// project_id (optional): 1-128 characters; empty strings and other
// types are rejected with the field named, null is absent.
BOOST_AUTO_TEST_CASE(project_id_is_optional_and_an_identifier) {
  BOOST_REQUIRE(!decode(message_with({{"project_id", "\"apollo-7\""}})));
  BOOST_TEST(out.project_id == "apollo-7");
  BOOST_REQUIRE(!decode(message_with({{"project_id", "null"}})));
  BOOST_TEST(out.project_id.empty());
  std::string too_long = "\"" + std::string(129, 'p') + "\"";
  for (std::string bad : {std::string{"\"\""}, std::string{"7"}, too_long}) {
    auto err = decode(message_with({{"project_id", bad}}));
    BOOST_REQUIRE_MESSAGE(err, bad);
    BOOST_TEST(err->detail.find("project_id") != std::string::npos,
               err->detail);
  }
}

// Postgres sums both into bigint usage_analytics counters (SQLSTATE 22003
// on overflow), so one event may carry at most 2^32-1 of each.
BOOST_AUTO_TEST_CASE(usage_counts_up_to_2_pow_32_minus_1_are_accepted_and_larger_ones_rejected) {
  BOOST_REQUIRE(!decode(message_with({{"tokens_used", "4294967295"},
                                      {"processing_time_ms", "4294967295"}})));
  BOOST_TEST(out.tokens_used == 4294967295);
  BOOST_TEST(out.processing_time_ms == 4294967295);
  auto err = decode(message_with({{"tokens_used", "9223372036854775807"}}));
  BOOST_REQUIRE(err);
  BOOST_TEST(err->code == "number_out_of_range");
  BOOST_TEST(err->detail.find("tokens_used") != std::string::npos,
             err->detail);
}

BOOST_AUTO_TEST_CASE(importance_is_kept_at_the_precision_postgres_stores) {
  // Below float's normal range: 0, not a value PostgreSQL's real refuses.
  BOOST_REQUIRE(!decode(message_with({{"importance", "1e-311"}})));
  BOOST_TEST(out.importance == 0.0);
  BOOST_REQUIRE(!decode(message_with({{"importance", "1e-40"}})));
  BOOST_TEST(out.importance == 0.0);
  BOOST_REQUIRE(!decode(message_with({{"importance", "0.1"}})));
  BOOST_TEST(out.importance == static_cast<double>(0.1f));
  BOOST_REQUIRE(!decode(message_with({{"importance", "1"}})));
  BOOST_TEST(out.importance == 1.0);
}

BOOST_AUTO_TEST_CASE(a_tool_call_event_maps_the_tool_object) {
  std::string value = R"({"event_id":"e-2","ts":"2024-05-31T12:00:01Z",
    "user_id":"u-1","session_id":"s-1","agent_type":"coder",
    "event_type":"tool_call","tool":{"name":"web_search","category":"search",
    "version":2},"input":{"q":"weather"},"output":{"hits":3},
    "processing_time_ms":1200,"success":true})";
  BOOST_REQUIRE(!decode(value));
  BOOST_TEST(out.activity_class == "tool_call");
  BOOST_TEST(out.tool_name == "web_search");
  BOOST_TEST(out.tool_category == "search");
  BOOST_TEST(out.input_json == R"({"q":"weather"})");
  BOOST_TEST(out.output_json == R"({"hits":3})");
  BOOST_TEST(out.processing_time_ms == 1200);
  BOOST_TEST(out.role.empty());
}

BOOST_AUTO_TEST_CASE(a_task_event_decodes) {
  std::string value = R"({"event_id":"e-3","ts":"2024-05-31T12:00:02Z",
    "user_id":"u-1","session_id":"s-1","agent_type":"planner",
    "event_type":"task","content":"Book a flight to Oslo",
    "output":{"status":"done"},"importance":1})";
  BOOST_REQUIRE(!decode(value));
  BOOST_TEST(out.activity_class == "task");
  BOOST_TEST(out.content == "Book a flight to Oslo");
  BOOST_TEST(out.output_json == R"({"status":"done"})");
  BOOST_TEST(out.importance == 1.0);
}

BOOST_AUTO_TEST_CASE(a_file_upload_event_maps_the_file_object) {
  std::string value = R"({"event_id":"e-4","ts":"2024-05-31T12:00:03Z",
    "user_id":"u-1","session_id":"s-1","agent_type":"chat",
    "event_type":"file_upload","file":{"filename":"report.pdf",
    "mime_type":"application/pdf","size_bytes":52344,
    "text":"Quarterly report"}})";
  BOOST_REQUIRE(!decode(value));
  BOOST_TEST(out.activity_class == "file_upload");
  BOOST_TEST(out.has_file);
  BOOST_TEST(out.file.filename == "report.pdf");
  BOOST_TEST(out.file.mime_type == "application/pdf");
  BOOST_TEST(out.file.size_bytes == 52344);
  BOOST_TEST(out.file.text == "Quarterly report");
}

BOOST_AUTO_TEST_CASE(session_start_session_end_and_feedback_events_decode) {
  for (std::string type : {"session_start", "session_end", "feedback"}) {
    BOOST_TEST_CONTEXT(type) {
      std::string value = R"({"event_id":"e-5","ts":"2024-05-31T12:00:04Z",
        "user_id":"u-1","session_id":"s-1","agent_type":"chat",
        "event_type":")" + type + R"(","content":"thumbs up","importance":0.2})";
      BOOST_REQUIRE(!decode(value));
      BOOST_TEST(out.event_type == type);
      BOOST_TEST(out.activity_class == type);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_lowercase_event_type_is_kept_as_custom) {
  BOOST_REQUIRE(!decode(message_with({{"event_type", str("plan_step_2")},
                                      {"role", "<drop>"},
                                      {"content", "<drop>"}})));
  BOOST_TEST(out.event_type == "plan_step_2");
  BOOST_TEST(out.activity_class == "custom");
}

BOOST_AUTO_TEST_CASE(unknown_fields_survive_in_raw_json) {
  std::string value = message_with(
    {{"x_custom", R"({"deep":[1,{"a":"b"}],"n":-0.5e-3})"},
     {"another", "\"\\u00e9\\\\u0000 literal\""}});
  BOOST_REQUIRE(!decode(value));
  BOOST_TEST(out.raw_json == value);
  BOOST_TEST(out.raw_json.find(R"("x_custom":{"deep":[1,{"a":"b"}])")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(null_optional_fields_count_as_absent) {
  BOOST_REQUIRE(!decode(message_with(
    {{"agent_name", "null"}, {"input", "null"}, {"output", "null"},
     {"tool", "null"}, {"file", "null"}, {"model", "null"},
     {"tokens_used", "null"}, {"processing_time_ms", "null"},
     {"success", "null"}, {"error_message", "null"}, {"importance", "null"},
     {"tags", "null"}, {"metadata", "null"}})));
  BOOST_TEST(out.success == true);
  BOOST_TEST(out.importance == -1.0);
  BOOST_TEST(!out.has_file);
  BOOST_TEST(out.metadata_json.empty());
}

BOOST_AUTO_TEST_CASE(an_empty_key_or_the_user_id_as_key_is_accepted) {
  BOOST_TEST(!decode(message_with({}), ""));
  BOOST_TEST(!decode(message_with({}), "u-1"));
}

BOOST_AUTO_TEST_CASE(an_escaped_backslash_before_u0000_is_not_a_nul) {
  BOOST_REQUIRE(!decode(message_with({{"content", R"("C:\\u0000dir")"}})));
  BOOST_TEST(out.content == "C:\\u0000dir");
}

BOOST_AUTO_TEST_CASE(escaped_unicode_and_surrogate_pairs_are_unescaped) {
  BOOST_REQUIRE(!decode(message_with({{"content", R"("\ud83d\ude00 ok")"}})));
  BOOST_TEST(out.content == "\xf0\x9f\x98\x80 ok");
}

BOOST_AUTO_TEST_CASE(limits_are_inclusive) {
  std::string id128(128, 'a');
  std::string content(256 << 10, 'x');
  std::string tags = "[";
  for (int i = 0; i < 64; ++i)
    tags += std::string(i ? "," : "") + "\"t" + std::to_string(i) + "\"";
  tags += "]";
  BOOST_TEST(!decode(message_with({{"event_id", str(id128)},
                                   {"content", str(content)},
                                   {"tags", tags},
                                   {"x", nested("[", "]", 31, "1")}})));
  BOOST_TEST(out.tags.size() == 64u);
  // 128 characters of two bytes each are still 128 characters.
  std::string wide;
  for (int i = 0; i < 128; ++i)
    wide += "\xc3\xa9";
  BOOST_TEST(!decode(message_with({{"user_id", str(wide)}})));
  // Exactly max_future ahead of the clock, and exactly min_ts.
  BOOST_TEST(!decode(message_with({{"ts", str("2024-06-02T00:00:00Z")}})));
  BOOST_TEST(!decode(message_with({{"ts", str("2000-01-01T00:00:00Z")}})));
}

struct bad_case {
  std::string name;
  std::string value;
  std::string code;
  std::string key = "";
};

BOOST_AUTO_TEST_CASE(every_rejection_class_yields_its_specific_code) {
  std::string long_id(129, 'a');
  std::string big_content(256 * 1024 + 1, 'x');
  std::string many_tags = "[";
  for (int i = 0; i < 65; ++i)
    many_tags += std::string(i ? "," : "") + "\"t" + std::to_string(i) + "\"";
  many_tags += "]";
  // A value just over 1 MiB that is otherwise a valid event.
  std::string huge = message_with({{"padding", str(std::string(1 << 20, 'p'))}});
  std::string twenty_keys = "{";
  for (int i = 0; i < 20; ++i)
    twenty_keys += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  twenty_keys += "\"k7\":0}";
  std::string trailing_comma = message_with({});
  trailing_comma.insert(trailing_comma.size() - 1, ",");

  std::vector<bad_case> corpus = {
    // invalid JSON
    {"truncated object", R"({"event_id":"e-1","ts":)", "invalid_json"},
    {"trailing comma", trailing_comma, "invalid_json"},
    {"not json at all", "not json", "invalid_json"},
    {"empty value", "", "invalid_json"},
    {"two documents", message_with({}) + " " + message_with({}),
     "invalid_json"},
    {"bad literal", message_with({{"success", "tru"}}), "invalid_json"},
    {"invalid escape", message_with({{"content", R"("a\qb")"}}),
     "invalid_json"},
    {"lone surrogate", message_with({{"content", R"("\ud800")"}}),
     "invalid_json"},
    {"raw control character", message_with({{"content", "\"a\tb\""}}),
     "invalid_json"},
    {"malformed number", message_with({{"x", "01"}}), "invalid_json"},
    // invalid UTF-8
    {"invalid UTF-8 byte", message_with({{"content", "\"caf\xff\""}}),
     "invalid_utf8"},
    {"overlong UTF-8", message_with({{"x_note", "\"\xc0\xaf\""}}),
     "invalid_utf8"},
    {"truncated UTF-8 sequence", message_with({{"content", "\"\xe2\x9c\""}}),
     "invalid_utf8"},
    // not an object
    {"array value", R"([{"event_id":"e-1"}])", "not_an_object"},
    {"string value", R"("hello")", "not_an_object"},
    {"number value", "42", "not_an_object"},
    // wrong types
    {"numeric event_id", message_with({{"event_id", "17"}}), "wrong_type"},
    {"numeric ts", message_with({{"ts", "1717200000000"}}), "wrong_type"},
    {"object user_id", message_with({{"user_id", R"({"id":1})"}}),
     "wrong_type"},
    {"string success", message_with({{"success", str("yes")}}), "wrong_type"},
    {"array input", message_with({{"input", "[1,2]"}}), "wrong_type"},
    {"string metadata", message_with({{"metadata", str("{}")}}),
     "wrong_type"},
    {"tags not an array", message_with({{"tags", str("a,b")}}), "wrong_type"},
    {"numeric tag", message_with({{"tags", R"(["a",3])"}}), "wrong_type"},
    {"float tokens_used", message_with({{"tokens_used", "1.5"}}),
     "wrong_type"},
    {"string tokens_used", message_with({{"tokens_used", str("12")}}),
     "wrong_type"},
    {"tool as string", message_with({{"tool", str("search")}}), "wrong_type"},
    {"numeric tool name",
     message_with({{"event_type", str("tool_call")}, {"tool", R"({"name":5})"}}),
     "wrong_type"},
    // missing required fields
    {"no event_id", message_with({{"event_id", "<drop>"}}), "missing_field"},
    {"no ts", message_with({{"ts", "<drop>"}}), "missing_field"},
    {"no user_id", message_with({{"user_id", "<drop>"}}), "missing_field"},
    {"no session_id", message_with({{"session_id", "<drop>"}}),
     "missing_field"},
    {"no agent_type", message_with({{"agent_type", "<drop>"}}),
     "missing_field"},
    {"no event_type", message_with({{"event_type", "<drop>"}}),
     "missing_field"},
    {"null event_id", message_with({{"event_id", "null"}}), "missing_field"},
    {"message without role", message_with({{"role", "<drop>"}}),
     "missing_field"},
    {"message without content", message_with({{"content", "<drop>"}}),
     "missing_field"},
    {"tool_call without tool",
     message_with({{"event_type", str("tool_call")}}), "missing_field"},
    {"file_upload without filename",
     message_with({{"event_type", str("file_upload")},
                   {"file", R"({"mime_type":"text/plain"})"}}),
     "missing_field"},
    // empty strings
    {"empty user_id", message_with({{"user_id", str("")}}), "empty_field"},
    {"empty event_id", message_with({{"event_id", str("")}}), "empty_field"},
    {"empty event_type", message_with({{"event_type", str("")}}),
     "empty_field"},
    {"empty message content", message_with({{"content", str("")}}),
     "empty_field"},
    {"empty tag", message_with({{"tags", R"(["a",""])"}}), "empty_field"},
    // over limits
    {"event_id of 129 chars", message_with({{"event_id", str(long_id)}}),
     "field_too_long"},
    {"agent_type of 65 chars",
     message_with({{"agent_type", str(std::string(65, 'b'))}}),
     "field_too_long"},
    {"content over 256 KiB", message_with({{"content", str(big_content)}}),
     "oversize_content"},
    {"file text over 256 KiB",
     message_with({{"file", "{\"filename\":\"a\",\"text\":" + str(big_content)
                              + "}"}}),
     "oversize_content"},
    {"value over 1 MiB", huge, "oversize_event"},
    {"65 tags", message_with({{"tags", many_tags}}), "too_many_tags"},
    // nesting
    {"deep metadata object",
     message_with({{"metadata", nested("{\"a\":", "}", 40, "1")}}),
     "too_deep"},
    {"deep arrays in an unknown field",
     message_with({{"x", nested("[", "]", 100, "1")}}), "too_deep"},
    {"depth 33 just over the limit",
     message_with({{"x", nested("[", "]", 32, "1")}}), "too_deep"},
    {"very deep nesting", message_with({{"x", nested("[", "]", 100000, "")}}),
     "too_deep"},
    // NUL bytes
    {"raw NUL byte", message_with({{"content", std::string("\"a\0b\"", 5)}}),
     "nul_byte"},
    {"escaped NUL in content", message_with({{"content", R"("a\u0000b")"}}),
     "nul_byte"},
    {"escaped NUL in a nested string",
     message_with({{"metadata", R"({"a":["x\u0000"]})"}}), "nul_byte"},
    {"escaped NUL in a key", message_with({{"metadata", R"({"k\u0000":1})"}}),
     "nul_byte"},
    // duplicate keys
    {"duplicate known key",
     message_with({}).insert(1, "\"event_id\":\"e-0\","), "duplicate_key"},
    {"duplicate unknown key", message_with({{"x", "1"}, {"y", "2"}})
                                .insert(1, "\"x\":0,"),
     "duplicate_key"},
    {"duplicate nested key", message_with({{"metadata", R"({"a":1,"a":2})"}}),
     "duplicate_key"},
    {"duplicate key deep inside an array",
     message_with({{"x", R"([{"b":{"c":1,"d":2,"c":3}}])"}}), "duplicate_key"},
    {"duplicate key spelled with an escape",
     message_with({{"input", R"({"a":1,"\u0061":2})"}}), "duplicate_key"},
    {"duplicate key in a large object", message_with({{"metadata", twenty_keys}}),
     "duplicate_key"},
    {"duplicate key in tool",
     message_with({{"tool", R"({"name":"a","name":"b"})"}}), "duplicate_key"},
    // numbers
    {"huge tokens_used", message_with({{"tokens_used", "99999999999999999999"}}),
     "number_out_of_range"},
    {"tokens_used above int64",
     message_with({{"tokens_used", "9223372036854775808"}}),
     "number_out_of_range"},
    // summed into bigint usage rollups: bounded so the sums cannot overflow
    {"tokens_used above 2^32-1",
     message_with({{"tokens_used", "4294967296"}}), "number_out_of_range"},
    {"processing_time_ms of int64 max",
     message_with({{"processing_time_ms", "9223372036854775807"}}),
     "number_out_of_range"},
    {"negative processing_time_ms",
     message_with({{"processing_time_ms", "-1"}}), "number_out_of_range"},
    {"negative file size",
     message_with({{"file", R"({"filename":"a","size_bytes":-5})"}}),
     "number_out_of_range"},
    {"importance above 1", message_with({{"importance", "1.5"}}),
     "number_out_of_range"},
    {"negative importance", message_with({{"importance", "-0.1"}}),
     "number_out_of_range"},
    {"huge float in an unknown field", message_with({{"x", "1e400"}}),
     "number_out_of_range"},
    {"huge integer in metadata",
     message_with({{"metadata", R"({"n":123456789012345678901234567890})"}}),
     "number_out_of_range"},
    // timestamps
    {"ts without offset", message_with({{"ts", str("2024-05-31T12:00:00")}}),
     "invalid_timestamp"},
    {"ts as epoch string", message_with({{"ts", str("1717200000")}}),
     "invalid_timestamp"},
    {"ts on February 29 of a common year",
     message_with({{"ts", str("2023-02-29T10:00:00Z")}}), "invalid_timestamp"},
    {"ts at 24:00", message_with({{"ts", str("2024-05-31T24:00:00Z")}}),
     "invalid_timestamp"},
    {"ts before 2000", message_with({{"ts", str("1999-12-31T23:59:59Z")}}),
     "timestamp_out_of_range"},
    {"ts far in the past", message_with({{"ts", str("1970-01-01T00:00:00Z")}}),
     "timestamp_out_of_range"},
    {"ts more than 24h ahead",
     message_with({{"ts", str("2024-06-02T00:00:00.001Z")}}),
     "timestamp_out_of_range"},
    {"ts far in the future", message_with({{"ts", str("9999-01-01T00:00:00Z")}}),
     "timestamp_out_of_range"},
    // vocabularies
    {"uppercase event_type", message_with({{"event_type", str("Message")}}),
     "invalid_event_type"},
    {"event_type with a dash", message_with({{"event_type", str("tool-call")}}),
     "invalid_event_type"},
    {"event_type starting with a digit",
     message_with({{"event_type", str("1st")}}), "invalid_event_type"},
    {"event_type of 65 chars",
     message_with({{"event_type", str(std::string(65, 'e'))}}),
     "invalid_event_type"},
    {"unknown role", message_with({{"role", str("bot")}}), "invalid_role"},
    {"uppercase role", message_with({{"role", str("User")}}), "invalid_role"},
    // partitioning key
    {"key differs from user_id", message_with({}), "key_mismatch", "u-2"},
    // found by fuzz/event_decoder_fuzz.cpp (docs/fuzzing.md): a document
    // that is a single scalar is judged like that scalar inside an array
    // (simdjson 3.0.1's root-scalar getters misread these)
    {"fuzz: string document with trailing garbage",
     R"("system"ta":{"a":{"a":{"a":{"a{"")", "invalid_json"},
    {"fuzz: two string documents", R"("a" "b")", "invalid_json"},
    {"fuzz: string document then a bracket", R"("a"])", "invalid_json"},
    {"fuzz: two scalars separated by a comma", "1, 2", "invalid_json"},
    {"fuzz: string document then white space", "\"hello\" \n",
     "not_an_object"},
    {"fuzz: escaped NUL in a string document", R"("a\u0000")", "nul_byte"},
    {"fuzz: false with one more character", "false8", "invalid_json"},
    {"fuzz: null with one more character then white space", "nullx ",
     "invalid_json"},
    {"fuzz: null with one more digit then a newline", "null1\n",
     "invalid_json"},
    {"fuzz: null then white space", "null ", "not_an_object"},
    {"fuzz: 1083-character number document with a bad last character",
     "0." + std::string(1080, '0') + "x", "invalid_json"},
    {"fuzz: number document with a huge exponent",
     "0.0000000000000000001e-40000000000000"
     "00000000000000000005042277180131784937",
     "number_out_of_range"},
    {"fuzz: zero with a 20-digit exponent as the document",
     "0e-99999999999999999999", "number_out_of_range"},
    {"fuzz: 1e400 as the document", "1e400", "number_out_of_range"},
    {"fuzz: malformed number document", "01", "invalid_json"},
    {"fuzz: number document with trailing content", "1.5 x", "invalid_json"},
  };

  BOOST_TEST(corpus.size() >= 25u);
  for (auto& c : corpus) {
    BOOST_TEST_CONTEXT(c.name) {
      auto err = decode(c.value, c.key);
      BOOST_TEST_REQUIRE(err.has_value());
      BOOST_TEST(err->code == c.code);
      BOOST_TEST(!err->detail.empty());
      BOOST_TEST_MESSAGE(c.name << " -> " << err->code << ": " << err->detail);
    }
  }
}

BOOST_AUTO_TEST_CASE(error_details_name_the_field) {
  auto err = decode(message_with({{"ts", str("yesterday")}}));
  BOOST_REQUIRE(err);
  BOOST_TEST(err->code == "invalid_timestamp");
  BOOST_TEST(err->detail.find("field 'ts'") == 0u);
  err = decode(message_with({{"tokens_used", "-3"}}));
  BOOST_REQUIRE(err);
  BOOST_TEST(err->detail.find("field 'tokens_used'") == 0u);
  err = decode(message_with({{"metadata", R"({"a":{"b":1,"b":2}})"}}));
  BOOST_REQUIRE(err);
  BOOST_TEST(err->detail.find("field 'metadata'") == 0u);
  BOOST_TEST(err->detail.find("'b'") != std::string::npos);
  err = decode(message_with({{"session_id", "<drop>"}}));
  BOOST_REQUIRE(err);
  BOOST_TEST(err->detail.find("field 'session_id'") == 0u);
}

BOOST_AUTO_TEST_CASE(the_decoder_is_reusable_after_errors_and_big_events) {
  std::string big = message_with({{"content", str(std::string(200000, 'z'))}});
  BOOST_REQUIRE(!decode(big));
  BOOST_TEST(out.content.size() == 200000u);
  BOOST_REQUIRE(decode("{\"event_id\":"));
  BOOST_REQUIRE(!decode(message_with({{"event_id", str("after")}})));
  BOOST_TEST(out.event_id == "after");
  BOOST_TEST(out.content == "hello");
  BOOST_TEST(out.raw_json == message_with({{"event_id", str("after")}}));
}

BOOST_AUTO_TEST_CASE(custom_limits_apply) {
  domain::contract_limits lim;
  lim.max_depth = 3;
  lim.max_tags = 1;
  lim.max_content_bytes = 5; // "hello" fits
  event_decoder small{lim, fixed_now};
  activity a;
  auto err = small.decode(record(message_with({{"content", str("123456")}})), a);
  BOOST_REQUIRE(err);
  BOOST_TEST(err->code == "oversize_content");
  err = small.decode(record(message_with({{"tags", R"(["a","b"])"}})), a);
  BOOST_REQUIRE(err);
  BOOST_TEST(err->code == "too_many_tags");
  BOOST_TEST(!small.decode(record(message_with({{"x", "[[1]]"}})), a));
  err = small.decode(record(message_with({{"x", "[[[1]]]"}})), a);
  BOOST_REQUIRE(err);
  BOOST_TEST(err->code == "too_deep");
}

BOOST_AUTO_TEST_CASE(decode_batch_dedups_event_ids_and_dead_letters_bad_ones) {
  std::vector<kafka_record> in = {
    record(message_with({{"event_id", str("a")}, {"content", str("first")}})),
    record(message_with({{"event_id", str("b")}})),
    record("{oops", "u-1"),
    record(message_with({{"event_id", str("a")}, {"content", str("second")}})),
    record(message_with({{"event_id", str("c")}, {"role", str("robot")}})),
    record(message_with({{"event_id", str("b")}})),
    record(message_with({{"event_id", str("d")}})),
  };
  in[2].source.offset = 7;
  std::vector<activity> out{activity{}}; // existing entries are kept
  out[0].event_id = "a";
  std::vector<dead_letter> dead;
  decode_batch(dec, in, out, dead);
  BOOST_REQUIRE(out.size() == 4u);
  BOOST_TEST(out[0].event_id == "a");
  BOOST_TEST(out[0].content.empty()); // untouched, not part of the batch
  BOOST_TEST(out[1].event_id == "a");
  BOOST_TEST(out[1].content == "first");
  BOOST_TEST(out[2].event_id == "b");
  BOOST_TEST(out[3].event_id == "d");
  BOOST_REQUIRE(dead.size() == 2u);
  BOOST_TEST(dead[0].reason_code == "invalid_json");
  BOOST_TEST(dead[0].record.value == "{oops");
  BOOST_TEST(dead[0].record.key == "u-1");
  BOOST_TEST(dead[0].record.source.offset == 7);
  BOOST_TEST(!dead[0].reason.empty());
  BOOST_TEST(dead[1].reason_code == "invalid_role");
  BOOST_TEST(dead[1].reason.find("field 'role'") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
