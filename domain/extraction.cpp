#include "domain/extraction.hpp"

#include <algorithm>
#include <cctype>

#include "domain/ids.hpp"
#include "domain/importance.hpp"
#include "domain/rolling_summary.hpp"
#include "domain/text.hpp"

namespace agentmem::domain {

namespace {

memory base_memory(const activity& a, const char* type, int32_t chunk) {
  memory m;
  auto id = make_memory_identity(a.event_id, type, chunk);
  m.memory_id = std::move(id.memory_id);
  m.point_id = id.point_id;
  m.memory_type = type;
  m.user_id = a.user_id;
  m.session_id = a.session_id;
  m.event_id = a.event_id;
  m.ts_ms = a.ts_ms;
  m.turn_ts_ms = a.ts_ms;
  m.chunk_index = chunk;
  m.metadata_json = a.metadata_json;
  m.tags = a.tags;
  copy_scope(a, m);
  m.importance = a.importance >= 0 ? a.importance
                                   : importance_heuristic(a, type);
  return m;
}

// Hard split of one over-long piece at white space or a UTF-8 boundary.
void split_long(std::string_view s, size_t max_chars,
                std::vector<std::string>& out) {
  while (s.size() > max_chars) {
    size_t cut = max_chars;
    size_t ws = s.rfind(' ', max_chars);
    if (ws != std::string_view::npos && ws > max_chars / 2)
      cut = ws;
    else
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
        --cut;
    if (cut == 0)
      cut = max_chars; // cannot happen with valid UTF-8; stay safe
    auto head = trim(s.substr(0, cut));
    if (!head.empty())
      out.emplace_back(head);
    s = trim(s.substr(cut));
  }
  if (!s.empty())
    out.emplace_back(s);
}

} // namespace

double importance_heuristic(const activity& a, std::string_view type) {
  return score_importance(a, type).score;
}

std::vector<std::string> chunk_document(std::string_view text,
                                        size_t max_chars) {
  // 1. Paragraphs: separated by a line that is empty or white space only.
  std::vector<std::string_view> paras;
  size_t start = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos)
      nl = text.size();
    auto line = trim(text.substr(i, nl - i));
    if (line.empty() || nl == text.size()) {
      size_t end = line.empty() ? i : nl;
      auto p = trim(text.substr(start, end - start));
      if (!p.empty())
        paras.push_back(p);
      start = nl + 1;
    }
    i = nl + 1;
  }
  // 2. Pieces no longer than max_chars.
  std::vector<std::string> pieces;
  for (auto p : paras) {
    if (p.size() <= max_chars) {
      pieces.emplace_back(p);
      continue;
    }
    for (auto s : split_sentences(p))
      split_long(s, max_chars, pieces);
  }
  // 3. Greedy packing of consecutive pieces.
  std::vector<std::string> chunks;
  std::string cur;
  for (auto& piece : pieces) {
    if (!cur.empty() && cur.size() + 2 + piece.size() > max_chars) {
      chunks.push_back(std::move(cur));
      cur.clear();
    }
    if (!cur.empty())
      cur += "\n\n";
    cur += piece;
  }
  if (!cur.empty())
    chunks.push_back(std::move(cur));
  return chunks;
}

std::string conversation_context(const std::vector<prior_turn>& session_turns,
                                 int64_t ts_ms, std::string_view event_id,
                                 size_t max_bytes) {
  const prior_turn* best = nullptr;
  auto before = [](const prior_turn& x, int64_t ts, std::string_view id) {
    return x.ts_ms < ts || (x.ts_ms == ts && x.event_id < id);
  };
  for (auto& t : session_turns)
    if (before(t, ts_ms, event_id)
        && (!best || before(*best, t.ts_ms, t.event_id))
        && !trim(t.content).empty())
      best = &t;
  if (!best)
    return {};
  std::string text;
  if (!best->agent_name.empty()) {
    text = best->agent_name;
    text += ": ";
  }
  text.append(trim(best->content));
  if (text.size() > max_bytes)
    return truncate_utf8(text, max_bytes);
  return text;
}

void extract_memories(const activity& a, const extraction_config& cfg,
                      std::vector<memory>& out) {
  const auto& cls = a.activity_class;
  if (cls == "message") {
    auto content = trim(a.content);
    if (content.empty())
      return;
    auto m = base_memory(a, memory_types::conversation, 0);
    m.role = a.role;
    m.speaker = a.agent_name;
    if (!a.agent_name.empty()) {
      m.text = a.agent_name;
      m.text += ": ";
    }
    m.text.append(content);
    out.push_back(std::move(m));
  } else if (cls == "tool_call" || cls == "task") {
    auto m = base_memory(a, memory_types::episodic, 0);
    std::string& t = m.text;
    t = cls == "tool_call" ? "Tool call " : "Task ";
    if (!a.tool_name.empty()) {
      t += a.tool_name;
      if (!a.tool_category.empty())
        t += " (" + a.tool_category + ")";
    } else {
      t += a.agent_type;
    }
    t += a.success ? " succeeded" : " failed";
    if (a.processing_time_ms > 0)
      t += " in " + std::to_string(a.processing_time_ms) + " ms";
    t += '.';
    if (!a.content.empty())
      t += " " + truncate_utf8(trim(a.content), cfg.episodic_field_chars);
    if (!a.input_json.empty() && a.input_json != "{}")
      t += " Input: " + truncate_utf8(a.input_json, cfg.episodic_field_chars);
    if (!a.output_json.empty() && a.output_json != "{}")
      t += " Output: "
           + truncate_utf8(a.output_json, cfg.episodic_field_chars);
    if (!a.error_message.empty())
      t += " Error: " + truncate_utf8(a.error_message, cfg.episodic_field_chars);
    out.push_back(std::move(m));
  } else if (cls == "file_upload") {
    std::string_view body = !a.file.text.empty() ? std::string_view{a.file.text}
                                                 : std::string_view{a.content};
    auto chunks = chunk_document(body, cfg.max_chunk_chars);
    if (chunks.empty()) {
      auto m = base_memory(a, memory_types::document, 0);
      m.text = "Uploaded file " + a.file.filename;
      if (!a.file.mime_type.empty())
        m.text += " (" + a.file.mime_type + ")";
      if (a.file.size_bytes >= 0)
        m.text += ", " + std::to_string(a.file.size_bytes) + " bytes";
      m.text += '.';
      out.push_back(std::move(m));
      return;
    }
    for (size_t i = 0; i < chunks.size(); ++i) {
      auto m = base_memory(a, memory_types::document, static_cast<int32_t>(i));
      m.text = std::move(chunks[i]);
      out.push_back(std::move(m));
    }
  } else if (cls == "session_start" || cls == "session_end") {
    return;
  } else {
    // feedback and custom events: remembered when they say something.
    auto content = trim(a.content);
    if (content.empty())
      return;
    auto m = base_memory(a, memory_types::episodic, 0);
    m.text = (cls == "feedback" ? std::string{"Feedback"} : a.event_type)
             + ": " + std::string{content};
    out.push_back(std::move(m));
  }
}

bool make_session_summary(const activity& session_end,
                          const std::vector<utterance>& messages,
                          const extraction_config& cfg,
                          std::vector<memory>& out) {
  auto summary = summarize_session(messages, cfg.summary_sentences,
                                   cfg.summary_chars);
  if (summary.empty())
    return false;
  auto m = base_memory(session_end, memory_types::session_summary, 0);
  // One summary memory per session, updated in place (rolling_summary.hpp).
  auto id = session_summary_identity(session_end.user_id,
                                     session_end.session_id);
  m.memory_id = std::move(id.memory_id);
  m.point_id = id.point_id;
  m.text = "Session summary (" + std::to_string(messages.size())
           + " messages): " + summary;
  out.push_back(std::move(m));
  return true;
}

} // namespace agentmem::domain
