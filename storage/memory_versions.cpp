#include "storage/memory_versions.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "storage/copy_writer.hpp"
#include "storage/staged_rows.hpp"
#include "storage/pg_common.hpp"

namespace agentmem::storage {

const char* to_string(memory_event e) {
  switch (e) {
    case memory_event::add: return "ADD";
    case memory_event::update: return "UPDATE";
    case memory_event::noop: return "NOOP";
  }
  return "NOOP";
}

void apply_memory_changes(batch& b,
                          const std::vector<memory_change>& changes) {
  if (changes.empty())
    return;
  std::vector<bool> drop(b.memories.size(), false);
  for (auto& ch : changes) {
    if (ch.index >= b.memories.size())
      continue;
    if (ch.event == memory_event::noop)
      drop[ch.index] = true;
    else
      b.memories[ch.index] = ch.stored;
  }
  // Several updates of one point in a batch stay in order: the index
  // applies them in turn, so the last state wins.
  std::vector<memory> kept;
  kept.reserve(b.memories.size());
  for (size_t i = 0; i < b.memories.size(); ++i)
    if (!drop[i])
      kept.push_back(std::move(b.memories[i]));
  b.memories = std::move(kept);
}

namespace detail {

namespace {

} // namespace

namespace {

struct stored_row {
  memory m;
  int32_t version = 1;
  bool added_here = false; // ADDed by this batch (not yet in `memories`)
};

// One history row to write.
struct history_row {
  std::string memory_id;
  int32_t version;
  const char* event;
  std::string user_id;
  std::optional<std::string> old_text;
  std::string new_text;
  std::optional<double> old_importance;
  double new_importance;
  std::string event_id;
  std::string source_memory_id;
};

} // namespace

bool is_versioned(const memory& m) {
  return !m.update_of.empty()
         || m.memory_type == memory_types::session_summary;
}

const char* const insert_add_history_sql =
  "INSERT INTO memory_history (memory_id, version, event, user_id,"
  " old_text, new_text, old_importance, new_importance, event_id,"
  " source_memory_id) "
  "SELECT memory_id, 1, 'ADD', user_id, NULL, text, NULL, importance,"
  " event_id, memory_id FROM tmp_memories"
  " WHERE memory_type <> 'conversation' ORDER BY ord "
  "ON CONFLICT (memory_id, version) DO NOTHING";

void apply_versioned_memories(
  pqxx::work& tx, const std::vector<const memory*>& ms,
  const std::vector<size_t>& index, const std::string& model,
  const std::function<bool(const std::string&)>& inserted,
  prepared_statements& statements, std::vector<memory_change>& out) {
  if (ms.empty())
    return;
  // 1. Lock and read every memory the decisions depend on: targets,
  // summaries, and the near-duplicates' own ids (stored on a replay).
  std::set<std::string> ids;
  std::vector<std::string> sources;
  for (auto* m : ms) {
    ids.insert(m->update_of.empty() ? m->memory_id : m->update_of);
    if (!m->update_of.empty()) {
      ids.insert(m->memory_id);
      // A replay can only be of an event stored before this transaction
      // (13 ms per batch of index probes in a 200,000-event backlog, for
      // none found: docs/performance.md, eleventh round).
      if (!inserted(m->event_id))
        sources.push_back(m->memory_id);
    }
  }
  std::map<std::string, stored_row> rows;
  auto r = statements.exec(tx,
    "SELECT memory_id, point_id, memory_type, user_id, session_id, event_id,"
    " (extract(epoch FROM ts) * 1000)::bigint, importance, chunk_index,"
    " coalesce(role, ''), coalesce(speaker, ''), text,"
    " coalesce(metadata::text, ''), version, coalesce(source_partition, -1),"
    " coalesce(agent_type, ''), coalesce(agent_name, ''),"
    " coalesce(project_id, '')"
    " FROM memories WHERE memory_id = ANY($1::text[])"
    " ORDER BY memory_id FOR UPDATE",
    text_array_literal({ids.begin(), ids.end()}));
  for (const auto& row : r) {
    stored_row s;
    auto& m = s.m;
    m.memory_id = row[0].as<std::string>();
    m.point_id = static_cast<uint64_t>(row[1].as<int64_t>());
    m.memory_type = row[2].as<std::string>();
    m.user_id = row[3].as<std::string>();
    m.session_id = row[4].as<std::string>();
    m.event_id = row[5].as<std::string>();
    m.ts_ms = row[6].as<int64_t>();
    m.turn_ts_ms = m.ts_ms;
    m.importance = row[7].as<double>();
    m.chunk_index = row[8].as<int32_t>();
    m.role = row[9].as<std::string>();
    m.speaker = row[10].as<std::string>();
    m.text = row[11].as<std::string>();
    m.metadata_json = row[12].as<std::string>();
    s.version = row[13].as<int32_t>();
    m.partition = row[14].as<int32_t>(); // an update keeps its shard
    m.agent_type = row[15].as<std::string>(); // and its scope
    m.agent_name = row[16].as<std::string>();
    m.project_id = row[17].as<std::string>();
    rows.emplace(m.memory_id, std::move(s));
  }
  std::set<std::string> applied;
  if (!sources.empty()) {
    // Planned per batch, not prepared: a generic plan made while
    // memory_history was nearly empty scanned it whole, comparing every
    // row with every source (13 ms per batch at 6,000 history rows in
    // pipeline_bench's steady run; docs/performance.md, ninth round).
    auto h = tx.exec_params("SELECT DISTINCT source_memory_id"
                            " FROM memory_history"
                            " WHERE source_memory_id = ANY($1::text[])",
                            text_array_literal(sources));
    for (const auto& row : h)
      applied.insert(row[0].as<std::string>());
  }
  // 2. Decide, in batch order; later changes of a target see earlier ones.
  std::vector<stored_row*> adds; // stable: std::map nodes
  std::map<std::string, std::pair<const memory*, stored_row*>> updates;
  std::vector<history_row> history;
  auto add = [&](const memory& m, size_t at) {
    stored_row s;
    s.m = m;
    s.m.update_of.clear();
    s.added_here = true;
    history.push_back({m.memory_id, 1, "ADD", m.user_id, std::nullopt, m.text,
                       std::nullopt, m.importance, m.event_id, m.memory_id});
    auto& slot = rows[m.memory_id] = std::move(s);
    adds.push_back(&slot);
    out.push_back({at, memory_event::add, 1, slot.m});
  };
  auto noop = [&](const stored_row& s, size_t at) {
    memory kept = s.m;
    kept.vector.clear();
    out.push_back({at, memory_event::noop, s.version, std::move(kept)});
  };
  for (size_t i = 0; i < ms.size(); ++i) {
    auto& m = *ms[i];
    bool dedup = !m.update_of.empty();
    if (dedup) {
      if (auto own = rows.find(m.memory_id); own != rows.end()) {
        noop(own->second, index[i]); // replay of an earlier ADD
        continue;
      }
      if (applied.count(m.memory_id) > 0) {
        auto t = rows.find(m.update_of);
        if (t != rows.end()) {
          noop(t->second, index[i]); // replay of an earlier UPDATE
          continue;
        }
      }
    }
    auto t = rows.find(dedup ? m.update_of : m.memory_id);
    if (t == rows.end() || t->second.m.user_id != m.user_id
        || t->second.m.memory_type != m.memory_type) {
      add(m, index[i]);
      continue;
    }
    auto& s = t->second;
    if (s.m.text == m.text || m.ts_ms < s.m.ts_ms) {
      noop(s, index[i]);
      continue;
    }
    history.push_back({s.m.memory_id, s.version + 1, "UPDATE", s.m.user_id,
                       s.m.text, m.text, s.m.importance,
                       std::max(s.m.importance, m.importance), m.event_id,
                       m.memory_id});
    s.version += 1;
    s.m.text = m.text;
    s.m.vector = m.vector;
    s.m.importance = std::max(s.m.importance, m.importance);
    s.m.ts_ms = m.ts_ms;
    s.m.turn_ts_ms = m.ts_ms;
    if (!s.added_here) // else its ADD row is written with this state
      updates[s.m.memory_id] = {&m, &s};
    out.push_back({index[i], memory_event::update, s.version, s.m});
  }
  if (adds.empty() && updates.empty())
    return;
  // 3. Write adds, updates and history as array parameters
  // (staged_rows.hpp: no temp table). An add's link to its activity is
  // the memory_links view (036_memory_links_view.sql): nothing to write.
  if (!adds.empty()) {
    detail::staged_rows s{{{"ord", "integer"},
                           {"memory_id", "text"},
                           {"point_id", "bigint"},
                           {"memory_type", "text"},
                           {"user_id", "text"},
                           {"session_id", "text"},
                           {"event_id", "text"},
                           {"ts_ms", "bigint"},
                           {"importance", "real"},
                           {"chunk_index", "integer"},
                           {"role", "text"},
                           {"speaker", "text"},
                           {"text", "text"},
                           {"metadata", "jsonb"},
                           {"embedding", "bytea"},
                           {"dims", "integer"},
                           {"version", "integer"},
                           {"tags", "text"}, // a text[] literal
                           {"source_partition", "integer"},
                           {"agent_type", "text"},
                           {"agent_name", "text"},
                           {"project_id", "text"}}};
    int32_t ord = 0;
    for (auto* row : adds) {
      auto* m = &row->m;
      s.row(
        ord++, m->memory_id, static_cast<int64_t>(m->point_id),
        m->memory_type, m->user_id, m->session_id, m->event_id, m->ts_ms,
        m->importance, m->chunk_index, nz(m->role), nz(m->speaker), m->text,
        nz(m->metadata_json), detail::bytea_floats{m->vector},
        static_cast<int32_t>(m->vector.size()), row->version,
        text_array_literal(m->tags),
        m->partition < 0 ? std::optional<int32_t>{}
                         : std::optional<int32_t>{m->partition},
        nz(m->agent_type), nz(m->agent_name), nz(m->project_id));
    }
    statements.exec(tx,
            "INSERT INTO memories (memory_id, point_id, memory_type, user_id,"
            " session_id, event_id, ts, importance, chunk_index, role,"
            " speaker, text, metadata, embedding, embedding_model, dims,"
            " version, tags, source_partition, agent_type, agent_name,"
            " project_id) "
            "SELECT memory_id, point_id, memory_type, user_id, session_id,"
            " event_id, timestamptz 'epoch' + ts_ms * interval '1 millisecond',"
            " importance, chunk_index, role, speaker, text, metadata,"
            " embedding, CASE WHEN embedding IS NULL THEN NULL ELSE"
            " $1::text END, dims, version, tags::text[], source_partition,"
            " agent_type, agent_name, project_id FROM " + s.from("t", 2)
            + " ORDER BY ord ON CONFLICT DO NOTHING",
            model, pqxx::prepare::make_dynamic_params(s.params()));
  }
  if (!updates.empty()) {
    detail::staged_rows s{{{"memory_id", "text"},
                           {"text", "text"},
                           {"importance", "real"},
                           {"ts_ms", "bigint"},
                           {"embedding", "bytea"},
                           {"dims", "integer"},
                           {"version", "integer"}}};
    for (auto& [id, u] : updates) {
      auto& st = *u.second;
      s.row(id.c_str(), st.m.text.c_str(), st.m.importance,
                           st.m.ts_ms,
                           detail::bytea_floats{st.m.vector},
                           static_cast<int32_t>(st.m.vector.size()),
                           st.version);
    }
    // seq = DEFAULT draws a new seq (identity columns allow it in UPDATE):
    // the derived state of every node tails seq and re-indexes the point.
    // Planned per batch (a join of stored memories to the staged rows).
    tx.exec_params("UPDATE memories m SET text = u.text, importance = u.importance,"
            " ts = timestamptz 'epoch' + u.ts_ms * interval '1 millisecond',"
            " embedding = u.embedding, dims = u.dims,"
            " embedding_model = CASE WHEN u.embedding IS NULL THEN NULL ELSE "
            + tx.quote(model) + " END, version = u.version,"
              " updated_at = now(), seq = DEFAULT "
              "FROM " + s.from("u") + " WHERE m.memory_id = u.memory_id",
            pqxx::prepare::make_dynamic_params(s.params()));
  }
  {
    detail::staged_rows s{{{"memory_id", "text"},
                           {"version", "integer"},
                           {"event", "text"},
                           {"user_id", "text"},
                           {"old_text", "text"},
                           {"new_text", "text"},
                           {"old_importance", "real"},
                           {"new_importance", "real"},
                           {"event_id", "text"},
                           {"source_memory_id", "text"}}};
    for (auto& h : history)
      s.row(h.memory_id.c_str(), h.version, h.event,
                           h.user_id.c_str(),
                           h.old_text ? h.old_text->c_str() : nullptr,
                           h.new_text.c_str(), h.old_importance,
                           h.new_importance, nz(h.event_id),
                           h.source_memory_id.c_str());
    statements.exec(tx,
            "INSERT INTO memory_history (memory_id, version, event, user_id,"
            " old_text, new_text, old_importance, new_importance, event_id,"
            " source_memory_id) "
            "SELECT memory_id, version, event, user_id, old_text, new_text,"
            " old_importance, new_importance, event_id, source_memory_id"
            " FROM " + s.from("t") + " ORDER BY memory_id, version "
            "ON CONFLICT (memory_id, version) DO NOTHING",
            pqxx::prepare::make_dynamic_params(s.params()));
  }
}

std::vector<memory_version> read_history(pqxx::read_transaction& tx,
                                              const std::string& user_id,
                                              const std::string& memory_id) {
  auto r = tx.exec_params(
    "SELECT memory_id, version, event, old_text, new_text, old_importance,"
    " new_importance, coalesce(event_id, ''),"
    " coalesce(source_memory_id, ''),"
    " (extract(epoch FROM changed_at) * 1000)::bigint"
    " FROM memory_history WHERE user_id = $1 AND memory_id = $2"
    " ORDER BY version",
    user_id, memory_id);
  std::vector<memory_version> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    memory_version v;
    v.memory_id = row[0].as<std::string>();
    v.version = row[1].as<int32_t>();
    v.event = row[2].as<std::string>();
    if (!row[3].is_null())
      v.old_text = row[3].as<std::string>();
    if (!row[4].is_null())
      v.new_text = row[4].as<std::string>();
    if (!row[5].is_null())
      v.old_importance = row[5].as<double>();
    if (!row[6].is_null())
      v.new_importance = row[6].as<double>();
    v.event_id = row[7].as<std::string>();
    v.source_memory_id = row[8].as<std::string>();
    v.changed_at_ms = row[9].as<int64_t>();
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace detail

} // namespace agentmem::storage
