// Writes the seed corpora of the fuzz targets:
//
//   seed_gen <dir>   ->  <dir>/event_decoder/*.json, <dir>/search_request/*.json
//
// Everything is derived from the project's own synthetic activity generator
// (kafka::generate_events, the `agentmem simulate` source): one valid event
// of every event type, then hostile variants of a synthetic message event
// (one per reason code of docs/events.md, and the edge cases of
// tests/domain/contract_test.cpp), and search requests built from the
// synthetic users, sessions, contents and timestamps plus hostile variants.
// Deterministic (fixed seed and start time); every file is < 4 KiB.
// The event decoder input format is `<value>[\n@key:<key>]`, records of a
// batch separated by `\n@next\n` (event_decoder_fuzz.cpp).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/timestamp.hpp"
#include "kafka/simulator.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t max_seed_bytes = 4095;
const std::string key_marker = "\n@key:";
const std::string record_separator = "\n@next\n";

int written = 0;

void write(const fs::path& dir, const std::string& name,
           const std::string& bytes) {
  if (bytes.size() > max_seed_bytes) {
    std::cerr << "seed_gen: " << name << " is " << bytes.size()
              << " bytes; seeds must stay under 4 KiB\n";
    std::exit(1);
  }
  std::ofstream out(dir / name, std::ios::binary);
  out << bytes;
  ++written;
}

// `text` with the first occurrence of `from` replaced by `to`.
std::string replace(std::string text, const std::string& from,
                    const std::string& to) {
  auto pos = text.find(from);
  if (pos == std::string::npos) {
    std::cerr << "seed_gen: '" << from << "' not found\n";
    std::exit(1);
  }
  return text.replace(pos, from.size(), to);
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

// Keeps a file_upload seed small: the synthetic extracted text can be long.
void shrink(json& ev) {
  if (ev.contains("file") && ev["file"].contains("text")) {
    auto& t = ev["file"]["text"];
    auto s = t.get<std::string>();
    if (s.size() > 600)
      t = s.substr(0, 600);
  }
  if (ev.contains("output") && ev.dump().size() > 2000)
    ev["output"] = json{{"status", "ok"}};
}

void event_seeds(const fs::path& dir,
                 const std::vector<std::pair<std::string, std::string>>& evs) {
  // One valid event of every type the simulator produces (two of messages:
  // user and assistant), some with the key, as a consumer sees them.
  std::set<std::string> done;
  json message;
  std::string message_key;
  for (auto& [key, value] : evs) {
    json ev = json::parse(value);
    std::string type = ev["event_type"];
    if (type == "message")
      type += "-" + ev["role"].get<std::string>();
    if (!done.insert(type).second)
      continue;
    shrink(ev);
    std::string v = ev.dump();
    bool keyed = done.size() % 2 == 0;
    write(dir, "sim-" + type + ".json", keyed ? v + key_marker + key : v);
    if (type == "message-user" && message.is_null()) {
      message = ev;
      message_key = key;
    }
  }
  if (message.is_null()) {
    std::cerr << "seed_gen: the simulator produced no user message\n";
    std::exit(1);
  }
  // The variants start from the synthetic message with its content cut to
  // at most 24 bytes (at a space), so that the fuzzer's tight-limits
  // decoder (32-byte content) also gets past `content` to the field under
  // test.
  {
    std::string c = message["content"];
    if (c.size() > 24) {
      c = c.substr(0, 24);
      if (auto sp = c.rfind(' '); sp != std::string::npos && sp > 0)
        c = c.substr(0, sp);
      message["content"] = c;
    }
  }
  const std::string m = message.dump();
  auto with = [&](const std::string& field, const json& v) {
    json e = message;
    e[field] = v;
    return e.dump();
  };
  auto without = [&](const std::string& field) {
    json e = message;
    e.erase(field);
    return e.dump();
  };
  auto raw = [&](const std::string& field, const std::string& raw_value) {
    // Inserts `"field":<raw_value>` right after the opening brace.
    return "{\"" + field + "\":" + raw_value + "," + m.substr(1);
  };
  const std::string ts = message["ts"];

  // Valid edge cases.
  {
    json e = message;
    e["event_type"] = "plan_step_2";
    e.erase("role");
    std::string v = e.dump();
    write(dir, "ok-custom-type-unknown-fields.json",
          "{\"x_trace\":{\"span\":\"a1\",\"n\":[1,-0.5e-3,true,null,{}]},"
            + v.substr(1));
  }
  write(dir, "ok-full-optional-fields.json",
        [&] {
          json e = message;
          e["tags"] = {"travel", "vip"};
          e["importance"] = 1;
          e["tokens_used"] = 4294967295LL; // the contract's maximum
          e["cost_usd"] = 0.0125;
          e["success"] = false;
          e["error_message"] = "partial";
          e["input"] = json{{"q", "\u00e9"}, {"deep", {{"a", {1, 2}}}}};
          e["file"] = json{{"filename", "a.txt"}, {"size_bytes", 0}};
          e["tool"] = json{{"name", "search"}, {"category", nullptr}};
          return e.dump();
        }());
  write(dir, "ok-escapes-and-surrogates.json",
        with("content", "x").replace(
          with("content", "x").find("\"x\""), 3,
          R"("\ud83d\ude00 \u00e9 \"q\" \\u0000 \/")"));
  write(dir, "ok-ts-offset-fraction-leap.json",
        with("ts", "2024-05-31T23:59:60.123456789+02:00"));
  write(dir, "ok-whitespace.json",
        " \n\t{ \"event_id\" : \"e-1\" ,\r\n \"ts\":\"2024-05-31 12:00:00z\","
        "\"user_id\":\"u\",\"session_id\":\"s\",\"agent_type\":\"a\","
        "\"event_type\":\"session_end\" , \"metadata\" : { } }\n ");

  // One hostile variant per reason code (plus the notable edge cases).
  write(dir, "bad-invalid-json-truncated.json", m.substr(0, m.size() / 2));
  write(dir, "bad-invalid-json-trailing.json", m + " " + m);
  write(dir, "bad-invalid-json-trailing-comma.json",
        m.substr(0, m.size() - 1) + ",}");
  write(dir, "bad-invalid-json-lone-surrogate.json",
        replace(m, "\"content\":\"", "\"content\":\"\\ud800"));
  write(dir, "bad-invalid-json-number.json", raw("x", "01"));
  write(dir, "bad-invalid-json-literal.json", raw("success", "tru"));
  write(dir, "bad-invalid-utf8.json",
        replace(m, "\"content\":\"", "\"content\":\"caf\xc3\x28 \xed\xa0\x80"));
  write(dir, "bad-not-an-object.json", "[" + m + ",1,\"s\",null]");
  write(dir, "bad-missing-field.json", without("session_id"));
  write(dir, "bad-missing-content.json", without("content"));
  write(dir, "bad-tool-call-without-name.json",
        [&] {
          json e = message;
          e["event_type"] = "tool_call";
          e["tool"] = json{{"category", "x"}};
          return e.dump();
        }());
  write(dir, "bad-file-upload-without-file.json",
        with("event_type", "file_upload"));
  write(dir, "bad-wrong-type.json", with("tags", "a,b"));
  write(dir, "bad-wrong-type-float-count.json", raw("tokens_used", "1.5"));
  write(dir, "bad-empty-field.json", with("user_id", ""));
  write(dir, "bad-field-too-long.json", with("agent_type", std::string(65, 'b')));
  write(dir, "bad-oversize-content-tight.json",
        with("content", std::string(40, 'c')));
  write(dir, "bad-too-deep.json",
        raw("metadata", nested("{\"a\":", "}", 33, "1")));
  write(dir, "bad-too-deep-arrays.json", raw("x", nested("[", "]", 40, "")));
  write(dir, "bad-nul-escaped.json",
        raw("metadata", R"({"k\u0000":["a\u0000"]})"));
  write(dir, "bad-nul-raw.json",
        replace(m, "\"content\":\"", std::string("\"content\":\"a\0b", 13)));
  write(dir, "bad-duplicate-key.json", raw("event_id", "\"e-0\""));
  write(dir, "bad-duplicate-key-escaped.json",
        raw("input", R"({"a":1,"\u0061":2})"));
  write(dir, "bad-number-out-of-range.json",
        raw("x", "[1e400,123456789012345678901234567890,-9223372036854775809]"));
  write(dir, "bad-negative-count.json", raw("processing_time_ms", "-1"));
  write(dir, "bad-importance.json", raw("importance", "1.0000001"));
  write(dir, "bad-too-many-tags-tight.json",
        with("tags", json{"a", "b", "c"}));
  write(dir, "bad-too-many-tags.json", with("tags", [] {
          json t = json::array();
          for (int i = 0; i < 65; ++i)
            t.push_back("t" + std::to_string(i));
          return t;
        }()));
  write(dir, "bad-invalid-timestamp.json", with("ts", "2023-02-29T10:00:00Z"));
  write(dir, "bad-timestamp-no-offset.json", with("ts", ts.substr(0, 19)));
  write(dir, "bad-timestamp-out-of-range.json",
        with("ts", "1999-12-31T23:59:59.999-00:00"));
  write(dir, "bad-timestamp-future.json", with("ts", "2024-06-02T00:00:00.001Z"));
  write(dir, "bad-invalid-event-type.json", with("event_type", "Tool-Call"));
  write(dir, "bad-invalid-role.json", with("role", "bot"));
  write(dir, "bad-key-mismatch.json", m + key_marker + message_key + "x");
  write(dir, "bad-empty-content.json", with("content", ""));
  write(dir, "bad-nul-in-tag.json",
        replace(with("tags", json{"a", "b"}), "\"b\"", "\"b\\u0000\""));
  write(dir, "bad-oversize-event-tight.json",
        with("x_pad", std::string(2048, 'p')));
  // A consumed batch: valid, redelivered duplicate, dead letter, valid.
  {
    json second = message;
    second["event_id"] = "e-second";
    write(dir, "batch-dup-and-dead-letter.json",
          m + key_marker + message_key + record_separator + m
            + record_separator + with("role", "bot") + record_separator
            + second.dump());
  }
}

void request_seeds(const fs::path& dir,
                   const std::vector<std::pair<std::string, std::string>>& evs) {
  // Valid requests built from the synthetic events: a user's own message
  // as the query, their session, and windows around the event time.
  static const char* types[] = {"conversation", "episodic", "document",
                                "session_summary"};
  int n = 0;
  for (auto& [key, value] : evs) {
    json ev = json::parse(value);
    if (ev["event_type"] != "message" || ev["role"] != "user")
      continue;
    std::string content = ev["content"];
    std::string ts = ev["ts"];
    int64_t ms = *agentmem::domain::parse_rfc3339_ms(ts);
    json req{{"user_id", key}, {"query", content}};
    switch (n) {
      case 0:
        break; // minimal
      case 1:
        req["top_k"] = 100;
        req["mode"] = "keyword";
        req["filter"] = {{"memory_types", {types[0], types[1]}},
                         {"session_id", ev["session_id"]},
                         {"since", ts},
                         {"until", ms + 3'600'000}};
        break;
      case 2:
        req["top_k"] = nullptr;
        req["mode"] = nullptr;
        req["filter"] = {{"memory_types", json::array()},
                         {"session_id", nullptr},
                         {"since", ms - 1000},
                         {"until", nullptr}};
        break;
      case 3:
        req["top_k"] = 1;
        req["mode"] = "vector";
        req["filter"] = {{"memory_types", {types[2], types[3], types[2]}},
                         {"since", "2024-05-31t10:00:00.5-02:00"},
                         {"until", "2024-05-31 23:59:60Z"}};
        break;
      case 4:
        req["filter"] = nullptr;
        req["query"] = "\u00e9t\u00e9 \U0001F600 " + content;
        break;
      default:
        break;
    }
    if (n > 4)
      break;
    write(dir, "sim-request-" + std::to_string(n) + ".json", req.dump());
    ++n;
  }
  // The example of docs/api.md, pretty-printed.
  write(dir, "doc-example.json",
        R"({"user_id": "u-42", "query": "where did I park the car?", "top_k": 2,
 "filter": {"memory_types": ["episodic", "conversation"],
            "since": "2023-05-01T00:00:00Z", "until": 1683554160000}})");

  const std::string base = R"({"user_id":"user-0001","query":"trip to Seoul")";
  auto body = [&](const std::string& rest) { return base + rest + "}"; };
  write(dir, "bad-empty.json", "");
  write(dir, "bad-not-object.json", "[\"user-0001\",\"q\"]");
  write(dir, "bad-truncated.json", base);
  write(dir, "bad-top-k-zero.json", body(",\"top_k\":0"));
  write(dir, "bad-top-k-float.json", body(",\"top_k\":5.0"));
  write(dir, "bad-top-k-huge.json", body(",\"top_k\":18446744073709551616"));
  write(dir, "bad-top-k-string.json", body(",\"top_k\":\"5\""));
  write(dir, "bad-unknown-field.json", body(",\"topk\":5"));
  write(dir, "bad-mode.json", body(",\"mode\":\"Hybrid\""));
  write(dir, "bad-duplicate-field.json", body(",\"query\":\"again\""));
  write(dir, "bad-filter-unknown-type.json",
        body(",\"filter\":{\"memory_types\":[\"episodc\"]}"));
  write(dir, "bad-filter-17-types.json",
        body(",\"filter\":{\"memory_types\":[" + [] {
               std::string s;
               for (int i = 0; i < 17; ++i)
                 s += std::string(i ? "," : "") + "\"episodic\"";
               return s;
             }() + "]}"));
  write(dir, "bad-filter-since-after-until.json",
        body(",\"filter\":{\"since\":\"2024-05-31T10:00:01Z\","
             "\"until\":1717149600000}"));
  write(dir, "bad-filter-since-range.json",
        body(",\"filter\":{\"since\":-62167219200001}"));
  write(dir, "bad-filter-since-format.json",
        body(",\"filter\":{\"since\":\"2024-05-31T10:00:00\"}"));
  write(dir, "bad-nul-escaped.json",
        R"({"user_id":"user-0001","query":"a\u0000b"})");
  write(dir, "bad-control-in-id.json",
        R"({"user_id":"user\u007f0001","query":"q"})");
  write(dir, "bad-blank-query.json", R"({"user_id":"u","query":" \t\n"})");
  write(dir, "bad-deep.json",
        body(",\"filter\":" + nested("{\"a\":", "}", 17, "1")));
  write(dir, "bad-invalid-utf8.json",
        "{\"user_id\":\"u\",\"query\":\"caf\xc3\x28\"}");
  write(dir, "bad-comment.json",
        R"({"user_id":"u", /* c */ "query":"q"})");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: seed_gen <corpus-dir>\n";
    return 2;
  }
  fs::path root = argv[1];
  agentmem::kafka::simulator_config cfg;
  cfg.users = 3;
  cfg.seed = 7;
  cfg.rate = 1;
  // 2024-05-31T10:00:00Z: within a day before the fuzzers' fixed clock.
  cfg.start_time_ms = 1'717'149'600'000;
  auto evs = agentmem::kafka::generate_events(cfg, 3000);
  for (auto t : {"event_decoder", "search_request"})
    fs::create_directories(root / t);
  event_seeds(root / "event_decoder", evs);
  request_seeds(root / "search_request", evs);
  std::cout << "seed_gen: wrote " << written << " seeds under " << root
            << "\n";
  return 0;
}
