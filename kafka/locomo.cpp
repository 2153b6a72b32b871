#include "kafka/locomo.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "kafka/producer.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::kafka {

namespace {

using json = nlohmann::json;

constexpr int64_t turn_spacing_ms = 30'000;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "D8:6; D9:17" -> {"D8:6", "D9:17"}; "D:11:26" -> {"D11:26"}; "D" -> {}.
std::vector<std::string> normalise_evidence(const std::string& raw) {
  static const std::regex valid{R"(D(\d+):(\d+))"};
  static const std::regex extra_colon{R"(D:(\d+):(\d+))"};
  std::vector<std::string> out;
  std::string token;
  auto flush = [&] {
    if (token.empty())
      return;
    std::smatch m;
    if (std::regex_match(token, m, valid))
      out.push_back(token);
    else if (std::regex_match(token, m, extra_colon))
      out.push_back("D" + m[1].str() + ":" + m[2].str());
    token.clear();
  };
  for (char c : raw) {
    if (c == ';' || c == ',' || std::isspace(static_cast<unsigned char>(c)))
      flush();
    else
      token += c;
  }
  flush();
  return out;
}

std::string scalar_text(const json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_null())
    return {};
  return v.dump(); // numbers (e.g. 2022), booleans
}

caf::error bad(const std::string& where, const std::string& what) {
  return make_error(errc::io_error, "locomo: " + where + ": " + what);
}

} // namespace

caf::expected<int64_t> parse_locomo_date(const std::string& text) {
  static const std::regex re{
    R"(\s*(\d{1,2}):(\d{2})\s*([aApP][mM])\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})\s*)"};
  static const char* month_names[] = {"jan", "feb", "mar", "apr",
                                      "may", "jun", "jul", "aug",
                                      "sep", "oct", "nov", "dec"};
  std::smatch m;
  if (!std::regex_match(text, m, re))
    return make_error(errc::io_error,
                      "locomo: unknown date format '" + text + "'");
  int hour = std::stoi(m[1].str());
  int minute = std::stoi(m[2].str());
  bool pm = lower(m[3].str()) == "pm";
  int day = std::stoi(m[4].str());
  std::string mon = lower(m[5].str());
  int year = std::stoi(m[6].str());
  unsigned month = 0;
  for (unsigned i = 0; i < 12; ++i)
    if (mon.size() >= 3 && mon.compare(0, 3, month_names[i]) == 0)
      month = i + 1;
  if (month == 0 || hour < 1 || hour > 12 || minute > 59 || day < 1
      || day > 31)
    return make_error(errc::io_error,
                      "locomo: invalid date '" + text + "'");
  // 12 am is midnight, 12 pm is noon.
  hour = hour % 12 + (pm ? 12 : 0);
  int64_t days = domain::days_from_civil(year, month, static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute) * 60'000;
}

caf::expected<std::vector<locomo_sample>>
load_locomo(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::io_error, "locomo: cannot open " + path);
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    return make_error(errc::io_error,
                      "locomo: " + path + " is not valid JSON: " + e.what());
  }
  if (!doc.is_array())
    return bad(path, "expected a JSON list of samples");
  std::vector<locomo_sample> samples;
  samples.reserve(doc.size());
  try {
    for (auto& js : doc) {
      locomo_sample s;
      if (!js.contains("sample_id") || !js["sample_id"].is_string())
        return bad(path, "a sample has no sample_id");
      s.sample_id = js["sample_id"].get<std::string>();
      if (!js.contains("conversation") || !js["conversation"].is_object())
        return bad(s.sample_id, "no conversation object");
      auto& conv = js["conversation"];
      std::string speaker_a = conv.value("speaker_a", "");
      std::string speaker_b = conv.value("speaker_b", "");
      // session_<n> keys holding turn lists, in numeric order (10 > 9).
      std::vector<int> sessions;
      static const std::regex session_key{R"(session_(\d+))"};
      for (auto it = conv.begin(); it != conv.end(); ++it) {
        std::smatch m;
        const std::string& k = it.key();
        if (std::regex_match(k, m, session_key) && it.value().is_array())
          sessions.push_back(std::stoi(m[1].str()));
      }
      std::sort(sessions.begin(), sessions.end());
      for (int n : sessions) {
        std::string key = "session_" + std::to_string(n);
        auto date_it = conv.find(key + "_date_time");
        if (date_it == conv.end() || !date_it->is_string())
          return bad(s.sample_id, "no " + key + "_date_time");
        auto start = parse_locomo_date(date_it->get<std::string>());
        if (!start)
          return std::move(start.error());
        int64_t index = 0;
        for (auto& jt : conv[key]) {
          locomo_turn t;
          t.dia_id = jt.value("dia_id", "");
          t.speaker = jt.value("speaker", "");
          t.text = jt.contains("text") ? scalar_text(jt["text"]) : "";
          if (t.dia_id.empty())
            return bad(s.sample_id, key + " has a turn without dia_id");
          t.key = s.sample_id;
          t.session = n;
          t.ts_ms = *start + index * turn_spacing_ms;
          ++index;
          std::string content = t.text;
          if (jt.contains("blip_caption") && jt["blip_caption"].is_string()
              && !jt["blip_caption"].get<std::string>().empty())
            content +=
              " [image: " + jt["blip_caption"].get<std::string>() + "]";
          // speaker_a plays the user, speaker_b the assistant; an unknown
          // speaker (none in the published data) is treated as the user.
          std::string role = "user";
          if (t.speaker == speaker_b && t.speaker != speaker_a)
            role = "assistant";
          else if (t.speaker != speaker_a)
            spdlog::warn("locomo: {} {}: speaker '{}' is neither speaker_a "
                         "nor speaker_b; sent as role user",
                         s.sample_id, t.dia_id, t.speaker);
          json ev{{"event_id", s.sample_id + ":" + t.dia_id},
                  {"ts", domain::format_rfc3339_ms(t.ts_ms)},
                  {"user_id", s.sample_id},
                  {"session_id", s.sample_id + ":" + key},
                  {"agent_type", "locomo"},
                  {"agent_name", t.speaker},
                  {"event_type", "message"},
                  {"role", role},
                  {"content", std::move(content)},
                  {"metadata",
                   {{"dia_id", t.dia_id},
                    {"sample_id", s.sample_id},
                    {"session", n}}}};
          t.event_json = ev.dump();
          s.turns.push_back(std::move(t));
        }
      }
      if (js.contains("qa") && js["qa"].is_array())
        for (auto& jq : js["qa"]) {
          locomo_question q;
          q.question = jq.contains("question") ? scalar_text(jq["question"])
                                               : "";
          if (jq.contains("evidence") && jq["evidence"].is_array())
            for (auto& e : jq["evidence"])
              if (e.is_string())
                for (auto& id : normalise_evidence(e.get<std::string>()))
                  q.evidence.push_back(std::move(id));
          q.category = jq.contains("category") && jq["category"].is_number()
                         ? jq["category"].get<int>()
                         : 0;
          if (jq.contains("answer"))
            q.answer = scalar_text(jq["answer"]);
          if (jq.contains("adversarial_answer"))
            q.adversarial_answer = scalar_text(jq["adversarial_answer"]);
          s.qa.push_back(std::move(q));
        }
      samples.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    // Wrong value types (e.g. a number where a string belongs).
    return bad(path, e.what());
  }
  return samples;
}

caf::expected<uint64_t>
replay_locomo(const std::string& brokers, const std::string& topic,
              const std::string& path,
              const std::map<std::string, std::string>& props) {
  auto samples = load_locomo(path);
  if (!samples)
    return std::move(samples.error());
  auto prod = producer::create(brokers, props);
  if (!prod)
    return std::move(prod.error());
  uint64_t n = 0;
  for (auto& s : *samples)
    for (auto& t : s.turns) {
      if (auto err = (*prod)->produce(topic, t.key, t.event_json))
        return err;
      ++n;
    }
  if (auto err = (*prod)->flush(std::chrono::seconds(60)))
    return err;
  spdlog::info("locomo: replayed {} turns of {} conversations to {}", n,
               samples->size(), topic);
  return n;
}

} // namespace agentmem::kafka
