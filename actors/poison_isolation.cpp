#include "actors/poison_isolation.hpp"

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "domain/batch_split.hpp"
#include "kafka/dead_letter.hpp"
#include "messages/errc.hpp"

namespace agentmem::actors {

namespace {

// "commit_batch: SQLSTATE 23514: message" -> "SQLSTATE 23514: message".
std::string rejection_reason(const caf::error& err) {
  std::string detail = describe(err);
  if (auto pos = detail.find("SQLSTATE "); pos != std::string::npos)
    return detail.substr(pos);
  return detail;
}

void add_result(storage::commit_result& into, storage::commit_result&& part,
                size_t memory_base) {
  into.new_activities += part.new_activities;
  into.duplicate_activities += part.duplicate_activities;
  into.memories_written += part.memories_written;
  into.tombstoned += part.tombstoned;
  for (auto& ch : part.changes) {
    ch.index += memory_base;
    into.changes.push_back(std::move(ch));
  }
  for (auto& [user, cutoff] : part.tombstones) {
    auto it = std::find_if(into.tombstones.begin(), into.tombstones.end(),
                           [&](const auto& t) { return t.first == user; });
    if (it == into.tombstones.end())
      into.tombstones.emplace_back(user, cutoff);
    else
      it->second = std::max(it->second, cutoff);
  }
}

} // namespace

caf::expected<storage::commit_result>
isolate_rejected_events(storage::postgres_store& store, batch& b,
                        const caf::error& rejection,
                        const poison_isolation_config& cfg) {
  batch out;
  out.id = b.id;
  out.created_ns = b.created_ns;
  out.attempt = b.attempt;
  out.oldest_record_ts_ms = b.oldest_record_ts_ms;
  storage::commit_result total;
  std::vector<dead_letter> found;
  size_t delivered = 0;
  caf::error latest = rejection; // of the most recent rejected part
  auto try_part = [&](size_t lo, size_t hi,
                      bool last) -> caf::expected<domain::part_status> {
    auto part = domain::split_part(b, lo, hi);
    if (last)
      part.offsets = b.offsets;
    auto res = store.commit_batch(part, cfg.consumer_group,
                                  cfg.embedding_model);
    if (!res) {
      if (!storage::is_data_rejection(res.error()))
        return res.error();
      latest = res.error();
      return domain::part_status::rejected;
    }
    auto base = domain::append_part(out, std::move(part));
    add_result(total, std::move(*res), base);
    return domain::part_status::committed;
  };
  auto isolated = [&](size_t unit) -> caf::error {
    auto state = storage::rejected_sqlstate(latest);
    if (unit >= b.activities.size()) {
      spdlog::warn("[writer] batch {}: PostgreSQL rejects derived rows of "
                   "events from earlier batches (SQLSTATE {}); dropped",
                   b.id, state.empty() ? "none" : state);
      return caf::none;
    }
    auto& a = b.activities[unit];
    dead_letter dl;
    dl.record.source = a.source;
    dl.record.key = a.user_id;
    dl.record.value = a.raw_json;
    dl.reason_code = storage_rejected_reason;
    dl.reason = rejection_reason(latest);
    spdlog::warn("[writer] event {} rejected by PostgreSQL (SQLSTATE {}); "
                 "sent to the dead-letter topic",
                 a.event_id, state.empty() ? "none" : state);
    found.push_back(std::move(dl));
    return caf::none;
  };
  // Dead letters reach the DLQ before the offsets that skip them commit.
  auto before_last = [&]() -> caf::error {
    if (delivered == found.size() || cfg.dlq_producer == nullptr)
      return caf::none;
    std::vector<dead_letter> xs(found.begin()
                                  + static_cast<long>(delivered),
                                found.end());
    if (auto err = kafka::produce_dead_letters(*cfg.dlq_producer,
                                               cfg.dlq_topic, xs,
                                               cfg.dlq_flush_timeout))
      return err;
    delivered = found.size();
    return caf::none;
  };
  if (auto err = domain::bisect_units(domain::split_units(b), try_part,
                                      isolated, before_last))
    return err;
  out.records = std::move(b.records);
  out.offsets = std::move(b.offsets);
  out.dead_letters = std::move(b.dead_letters);
  for (auto& dl : found)
    out.dead_letters.push_back(std::move(dl));
  b = std::move(out);
  return total;
}

} // namespace agentmem::actors
