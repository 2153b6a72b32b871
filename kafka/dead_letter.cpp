#include "kafka/dead_letter.hpp"

#include <algorithm>
#include <array>

namespace agentmem::kafka {

std::vector<std::pair<std::string, std::string>>
dead_letter_headers(const dead_letter& x) {
  static const std::array<const char*, 5> ours{
    dlq_headers::topic, dlq_headers::partition, dlq_headers::offset,
    dlq_headers::exception_class, dlq_headers::exception_message};
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(x.record.headers.size() + ours.size());
  // A record dead-lettered twice must not carry two sets of error headers.
  for (auto& h : x.record.headers)
    if (std::none_of(ours.begin(), ours.end(),
                     [&](const char* n) { return h.first == n; }))
      out.push_back(h);
  out.emplace_back(dlq_headers::topic, x.record.source.topic);
  out.emplace_back(dlq_headers::partition,
                   std::to_string(x.record.source.partition));
  out.emplace_back(dlq_headers::offset,
                   std::to_string(x.record.source.offset));
  out.emplace_back(dlq_headers::exception_class,
                   std::string{dlq_headers::class_prefix} + x.reason_code);
  out.emplace_back(dlq_headers::exception_message, x.reason);
  return out;
}

caf::error produce_dead_letters(producer& p, const std::string& dlq_topic,
                                const std::vector<dead_letter>& xs,
                                std::chrono::milliseconds flush_timeout) {
  if (xs.empty())
    return caf::none;
  for (auto& x : xs)
    if (auto err = p.produce(dlq_topic, x.record.key, x.record.value,
                             dead_letter_headers(x)))
      return err;
  return p.flush(flush_timeout);
}

} // namespace agentmem::kafka
