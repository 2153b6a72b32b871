#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace agentmem::kafka {

/// One dialogue turn of a LoCoMo conversation, with the contract-v1
/// `message` event that represents it.
struct locomo_turn {
  std::string dia_id;     ///< "D<session>:<turn>", e.g. "D1:3"
  std::string speaker;    ///< speaker's name, e.g. "Caroline"
  std::string text;       ///< the turn's text as in the data set
  std::string key;        ///< Kafka key = user_id = sample_id
  std::string event_json; ///< the event (compact JSON), see load_locomo
  int session = 0;        ///< session number n (1-based)
  int64_t ts_ms = 0;      ///< the event's ts, ms since the Unix epoch (UTC)
};

/// One LoCoMo question with its gold evidence.
struct locomo_question {
  std::string question;
  /// dia_ids of the evidence turns, normalised: "D8:6; D9:17" is split in
  /// two, "D:11:26" becomes "D11:26", malformed entries are dropped.
  std::vector<std::string> evidence;
  int category = 0;   ///< 1 multi-hop, 2 temporal, 3 open-domain,
                      ///< 4 single-hop, 5 adversarial
  std::string answer; ///< numbers as decimal text; empty when absent
                      ///< (category 5 has no answer)
  std::string adversarial_answer; ///< the trap answer of category 5, or ""
};

/// One LoCoMo conversation: all turns in order and its questions.
struct locomo_sample {
  std::string sample_id; ///< e.g. "conv-26"
  std::vector<locomo_turn> turns;
  std::vector<locomo_question> qa;
};

/// Loads a LoCoMo file (the original layout: a JSON list of samples with
/// `sample_id`, `conversation` and `qa`). Sessions are taken in numeric
/// order (`session_<n>` lists; date entries without turns are ignored).
///
/// Each turn becomes a contract-v1 `message` event: event_id =
/// "<sample_id>:<dia_id>" (deterministic, so replays are idempotent),
/// user_id = sample_id, session_id = "<sample_id>:session_<n>", agent_type =
/// "locomo", agent_name = speaker, role = "user" for speaker_a and
/// "assistant" for speaker_b, ts = the session's `session_<n>_date_time`
/// (e.g. "1:56 pm on 8 May, 2023", read as UTC) + turn index in the session
/// × 30 s, as RFC 3339 ("2023-05-08T13:56:00Z"); content = text plus
/// " [image: <blip_caption>]" when the turn has an image caption; metadata =
/// {"dia_id", "sample_id", "session": n}.
///
/// Errors: io_error when the file cannot be read, is not JSON, or lacks a
/// required field (the detail names the sample and field).
caf::expected<std::vector<locomo_sample>> load_locomo(const std::string& path);

/// Loads `path` and publishes every turn's event to `topic` (key =
/// sample_id) through a new producer with `props` (librdkafka properties),
/// then flushes (60 s at most). Returns the number of events published.
/// Errors: those of load_locomo, kafka_error / timeout from the producer.
caf::expected<uint64_t>
replay_locomo(const std::string& brokers, const std::string& topic,
              const std::string& path,
              const std::map<std::string, std::string>& props);

/// Parses a LoCoMo session date such as "1:56 pm on 8 May, 2023" (UTC) into
/// ms since the Unix epoch. Errors: io_error for an unknown format.
caf::expected<int64_t> parse_locomo_date(const std::string& text);

} // namespace agentmem::kafka
