#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/inspect.hpp"

namespace agentmem {

/// Where a record came from in Kafka: topic, partition and offset.
struct source_position {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, source_position& x) {
  return f(caf::meta::type_name("agentmem::source_position"), x.topic,
           x.partition, x.offset);
}

/// A file attached to a `file_upload` event (contract v1, `file` object).
struct file_info {
  std::string filename;
  std::string mime_type;
  int64_t size_bytes = -1; ///< bytes; -1 when the event did not say
  std::string text;        ///< extracted text, may be empty
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_info& x) {
  return f(caf::meta::type_name("agentmem::file_info"), x.filename,
           x.mime_type, x.size_bytes, x.text);
}

/// One validated event of contract v1 (docs/events.md), normalised.
/// Optional strings are empty when absent; JSON-valued fields hold compact
/// JSON text (empty when absent).
struct activity {
  std::string event_id;
  int64_t ts_ms = 0; ///< event time, ms since the Unix epoch (UTC)
  std::string user_id;
  std::string session_id;
  std::string agent_type;
  std::string event_type;     ///< as sent (lowercase word)
  std::string activity_class; ///< a known event_type, or "custom"
  std::string agent_name;
  std::string project_id; ///< optional project the event belongs to, or empty
  std::string role; ///< user|assistant|system|tool, or empty
  std::string content;
  std::string input_json;
  std::string output_json;
  std::string tool_name;
  std::string tool_category;
  bool has_file = false;
  file_info file;
  std::string model;
  int64_t tokens_used = 0;
  int64_t processing_time_ms = 0;
  bool success = true;
  std::string error_message;
  double importance = -1.0; ///< 0..1, or -1 when the event gave none
  /// Cost in 1e-9 USD: the event's `cost_usd`, else priced by the
  /// aggregation stage from `[pricing]` (model, tokens_used); -1 = unknown.
  int64_t cost_nanousd = -1;
  std::vector<std::string> tags;
  std::string metadata_json; ///< the event's `metadata` object, or empty
  std::string raw_json;      ///< the event exactly as received
  source_position source;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, activity& x) {
  return f(caf::meta::type_name("agentmem::activity"), x.event_id, x.ts_ms,
           x.user_id, x.session_id, x.agent_type, x.event_type,
           x.activity_class, x.agent_name, x.project_id, x.role, x.content, x.input_json,
           x.output_json, x.tool_name, x.tool_category, x.has_file, x.file,
           x.model, x.tokens_used, x.processing_time_ms, x.success,
           x.error_message, x.importance, x.cost_nanousd, x.tags, x.metadata_json,
           x.raw_json, x.source);
}

} // namespace agentmem
