#include "storage/postgres_store.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "domain/rollup.hpp"
#include "domain/strict_input.hpp"
#include "domain/text.hpp"
#include "domain/tombstones.hpp"
#include "messages/errc.hpp"
#include "storage/analytics_sql.hpp"
#include "storage/change_records.hpp"
#include "storage/embedded_migrations.hpp"
#include "storage/memory_versions.hpp"
#include "storage/knowledge_sql.hpp"
#include "storage/pg_cluster.hpp"
#include "storage/copy_writer.hpp"
#include "storage/pg_common.hpp"
#include "storage/staged_rows.hpp"

namespace agentmem::storage {

namespace detail {

// Nullable text for COPY: NULL when empty. Points into the caller's
// string, which outlives the row written to the stream; carries its
// length, so the row does not measure it again.
std::optional<std::string_view> nz(const std::string& s) {
  if (s.empty())
    return std::nullopt;
  return std::string_view{s};
}

// Postgres array literal of a text[]: {"a","b\"c"}.
std::string text_array_literal(const std::vector<std::string>& xs) {
  std::string out;
  append_text_array_literal(out, xs);
  return out;
}

// bytea input in hex format: \x followed by float32 little-endian bytes.
std::string vector_to_bytea_hex(const std::vector<float>& v) {
  std::string out;
  out.reserve(2 + v.size() * 8);
  out += "\\x";
  append_float_hex(out, v);
  return out;
}

} // namespace detail

using detail::nz;
using detail::staged_rows;
using detail::text_array_literal;
using detail::lock_memories;
using detail::lock_migrate;
using detail::lock_ingest;
using detail::lock_sql;
using detail::ms_of;
using detail::ts_of;
using detail::int_array_literal;

namespace {

// Values of a one-dimensional text[] in Postgres' output format (nulls
// dropped), through libpqxx's array parser (UTF-8 is ASCII-safe).
std::vector<std::string> text_array_values(const char* literal) {
  std::vector<std::string> out;
  pqxx::array_parser parser{literal};
  for (auto [j, v] = parser.get_next(); j != pqxx::array_parser::done;
       std::tie(j, v) = parser.get_next())
    if (j == pqxx::array_parser::string_value)
      out.push_back(std::move(v));
  return out;
}

// Number of UTF-8 code points, clamped to the int32 column.
int32_t utf8_chars(const std::string& s) {
  return static_cast<int32_t>(std::min<size_t>(
    domain::strict::utf8_count(s), std::numeric_limits<int32_t>::max()));
}

// Inverse of vector_to_bytea_hex for encode(embedding, 'hex') output.
bool vector_from_hex(const char* hex, size_t len, std::vector<float>& out) {
  if (len % 8 != 0)
    return false;
  out.resize(len / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      int hi = domain::hex_digit_value(hex[i * 8 + b * 2]);
      int lo = domain::hex_digit_value(hex[i * 8 + b * 2 + 1]);
      if (hi < 0 || lo < 0)
        return false;
      bits |= static_cast<uint32_t>(hi * 16 + lo) << (8 * b);
    }
    std::memcpy(&out[i], &bits, sizeof bits);
  }
  return true;
}

bool valid_day(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-')
    return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(d[i])))
      return false;
  int month = std::stoi(d.substr(5, 2));
  int day = std::stoi(d.substr(8, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// Postgres cannot store NUL in text or jsonb: find the first offending
// field so that the batch fails as a value instead of half-way in COPY.
std::optional<std::string> find_nul(const batch& b, const std::string& group,
                                    const std::string& model) {
  auto bad = [](const std::string& s) { return domain::strict::has_nul(s); };
  if (bad(group))
    return std::string{"consumer group"};
  if (bad(model))
    return std::string{"embedding model"};
  for (auto& a : b.activities) {
    const std::pair<const char*, const std::string*> fields[] = {
      {"event_id", &a.event_id},
      {"user_id", &a.user_id},
      {"session_id", &a.session_id},
      {"agent_type", &a.agent_type},
      {"event_type", &a.event_type},
      {"activity_class", &a.activity_class},
      {"agent_name", &a.agent_name},
      {"project_id", &a.project_id},
      {"role", &a.role},
      {"content", &a.content},
      {"input", &a.input_json},
      {"output", &a.output_json},
      {"tool_name", &a.tool_name},
      {"tool_category", &a.tool_category},
      {"file.filename", &a.file.filename},
      {"file.mime_type", &a.file.mime_type},
      {"file.text", &a.file.text},
      {"model", &a.model},
      {"error_message", &a.error_message},
      {"metadata", &a.metadata_json},
      {"raw", &a.raw_json},
      {"source topic", &a.source.topic},
    };
    for (auto& [name, value] : fields)
      if (bad(*value))
        return std::string{name} + " of event " + std::string{a.event_id.c_str()};
    for (auto& t : a.tags)
      if (bad(t))
        return "tags of event " + std::string{a.event_id.c_str()};
  }
  for (auto& m : b.memories) {
    for (auto* s : {&m.memory_id, &m.memory_type, &m.user_id, &m.session_id,
                    &m.event_id, &m.role, &m.speaker, &m.text,
                    &m.context, &m.metadata_json, &m.update_of,
                    &m.agent_type, &m.agent_name, &m.project_id})
      if (bad(*s))
        return "memory " + std::string{m.memory_id.c_str()};
    for (auto& t : m.tags)
      if (bad(t))
        return "tags of memory " + std::string{m.memory_id.c_str()};
  }
  for (auto& f : b.knowledge.facts)
    for (auto* s : {&f.fact_id, &f.subject, &f.predicate, &f.object,
                    &f.source_text, &f.session_id})
      if (bad(*s))
        return "fact " + std::string{f.fact_id.c_str()};
  for (auto& m : b.knowledge.mentions)
    if (bad(m.name) || bad(m.type))
      return "entity " + std::string{m.entity_id.c_str()};
  for (auto& r : b.knowledge.relations)
    if (bad(r.relation))
      return std::string{"entity relation"};
  for (auto& u : b.usage)
    if (bad(u.user_id) || bad(u.day) || bad(u.agent_type))
      return std::string{"usage delta"};
  for (auto& s : b.sessions)
    if (bad(s.user_id) || bad(s.session_id) || bad(s.agent_type))
      return std::string{"session delta"};
  for (auto& o : b.offsets)
    if (bad(o.topic))
      return std::string{"offset topic"};
  return std::nullopt;
}

// --- the statements of commit_batch ---------------------------------------

// The columns of an activity row, as activity_row() writes them, then
// `tail`; `ts` names the time column (tmp_activities: ms; user_activities:
// timestamptz).
std::vector<std::string>
activity_row_columns(const char* ts, std::initializer_list<const char*> tail) {
  std::vector<std::string> out = {
    "event_id", ts, "user_id", "session_id", "agent_type", "agent_name",
    "event_type", "activity_class", "role", "content", "input", "output",
    "tool_name", "tool_category", "model", "tokens_used",
    "processing_time_ms", "success", "error_message", "importance", "tags",
    "metadata", "raw", "source_topic", "source_partition", "source_offset",
    "project_id"};
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

// `json` as a jsonb field, NULL when empty.
std::optional<detail::jsonb_text> nz_jsonb(const std::string& json) {
  if (json.empty())
    return std::nullopt;
  return detail::jsonb_text{json};
}

// One row of `a` under activity_row_columns() in `out` (detail::copy_writer
// or detail::binary_copy_writer: the field types are the columns' own):
// `ts` is its time as that column takes it, `tail` the values of the tail
// columns.
template <class Writer, class Ts, class... Tail>
void activity_row(Writer& out, const activity& a, Ts ts,
                  const Tail&... tail) {
  std::string_view raw = a.raw_json.empty() ? std::string_view{"{}"}
                                            : std::string_view{a.raw_json};
  out.row(a.event_id, ts, a.user_id, a.session_id, a.agent_type,
          nz(a.agent_name), a.event_type, a.activity_class, nz(a.role),
          nz(a.content), nz_jsonb(a.input_json), nz_jsonb(a.output_json),
          nz(a.tool_name), nz(a.tool_category), nz(a.model), a.tokens_used,
          a.processing_time_ms, a.success, nz(a.error_message),
          a.importance < 0
            ? std::optional<float>{}
            : std::optional<float>{static_cast<float>(a.importance)},
          detail::text_array{a.tags}, nz_jsonb(a.metadata_json),
          detail::jsonb_text{raw}, nz(a.source.topic),
          a.source.partition < 0 ? std::optional<int32_t>{}
                                 : std::optional<int32_t>{a.source.partition},
          a.source.offset < 0 ? std::optional<int64_t>{}
                              : std::optional<int64_t>{a.source.offset},
          nz(a.project_id), tail...);
}

bool is_file_upload(const activity& a) {
  return a.activity_class == "file_upload";
}

// An uploaded file's size in bytes; NULL when the event did not say.
std::optional<int64_t> file_size(const activity& a) {
  return a.file.size_bytes >= 0 ? std::optional<int64_t>{a.file.size_bytes}
                                : std::optional<int64_t>{};
}

constexpr const char* create_tmp_activities =
  "CREATE TEMP TABLE IF NOT EXISTS tmp_activities ("
  " event_id text, ts_ms bigint, user_id text, session_id text,"
  " agent_type text, agent_name text, event_type text, activity_class text,"
  " role text, content text, input jsonb, output jsonb, tool_name text,"
  " tool_category text, model text, tokens_used bigint,"
  " processing_time_ms bigint, success boolean, error_message text,"
  " importance real, tags text[], metadata jsonb, raw jsonb,"
  " source_topic text, source_partition integer, source_offset bigint,"
  " filename text, mime_type text, size_bytes bigint, text_chars integer,"
  " project_id text"
  ") ON COMMIT DELETE ROWS;";

// The staged session and usage deltas (staged_rows: array parameters).
const std::vector<staged_rows::column> session_columns = {
  {"user_id", "text"},         {"session_id", "text"},
  {"agent_type", "text"},      {"started_ms", "bigint"},
  {"ended_ms", "bigint"},      {"last_ms", "bigint"},
  {"interactions", "bigint"},  {"project_id", "text"},
  {"project_ms", "bigint"}};

const std::vector<staged_rows::column> usage_columns = {
  {"user_id", "text"},          {"day", "date"},
  {"agent_type", "text"},       {"activity_count", "bigint"},
  {"error_count", "bigint"},    {"processing_ms", "bigint"},
  {"tokens_used", "bigint"},    {"files_uploaded", "bigint"}};

// The columns of a memory row, as memory_row() writes them, then `tail`;
// `ts` names the time column (tmp_memories: ms; memories: timestamptz).
std::vector<std::string>
memory_row_columns(const char* ts, std::initializer_list<const char*> tail) {
  std::vector<std::string> out = {
    "memory_id", "point_id", "memory_type", "user_id",  "session_id",
    "event_id",  ts,         "importance",  "chunk_index", "role",
    "speaker",   "text",     "metadata",    "embedding", "dims",
    "context",   "tags",     "source_partition", "agent_type",
    "agent_name", "project_id"};
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

// One row of `m` under memory_row_columns() in `out` (detail::copy_writer
// or detail::binary_copy_writer: the field types are the columns' own):
// `ts` is its time as that column takes it, `tail` the values of the tail
// columns.
template <class Writer, class Ts, class... Tail>
void memory_row(Writer& out, const memory& m, Ts ts, const Tail&... tail) {
  out.row(m.memory_id, static_cast<int64_t>(m.point_id), m.memory_type,
          m.user_id, m.session_id, m.event_id, ts,
          static_cast<float>(m.importance), m.chunk_index, nz(m.role),
          nz(m.speaker), m.text, nz_jsonb(m.metadata_json),
          detail::bytea_floats{m.vector},
          static_cast<int32_t>(m.vector.size()), nz(m.context),
          detail::text_array{m.tags},
          m.partition < 0 ? std::optional<int32_t>{}
                          : std::optional<int32_t>{m.partition},
          nz(m.agent_type), nz(m.agent_name), nz(m.project_id), tail...);
}

constexpr const char* create_tmp_memories =
  "CREATE TEMP TABLE IF NOT EXISTS tmp_memories ("
  " ord integer, memory_id text, point_id bigint, memory_type text,"
  " user_id text, session_id text, event_id text, ts_ms bigint,"
  " importance real, chunk_index integer, role text, speaker text,"
  " text text, metadata jsonb, embedding bytea, dims integer,"
  " context text, tags text[], source_partition integer, agent_type text,"
  " agent_name text, project_id text"
  ") WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS;";

// Sorted by event_id: concurrent writers of overlapping batches then take
// unique-index locks in the same order and cannot deadlock.
std::string insert_activities_sql() {
  return "INSERT INTO user_activities (event_id, ts, user_id, session_id,"
         " agent_type, agent_name, event_type, activity_class, role, content,"
         " input, output, tool_name, tool_category, model, tokens_used,"
         " processing_time_ms, success, error_message, importance, tags,"
         " metadata, raw, source_topic, source_partition, source_offset,"
         " project_id) "
         "SELECT event_id, " + ts_of("ts_ms") + ", user_id, session_id,"
         " agent_type, agent_name, event_type, activity_class, role, content,"
         " input, output, tool_name, tool_category, model, tokens_used,"
         " processing_time_ms, success, error_message, importance, tags,"
         " metadata, raw, source_topic, source_partition, source_offset,"
         " project_id "
         "FROM tmp_activities ORDER BY event_id "
         "ON CONFLICT (event_id) DO NOTHING RETURNING event_id";
}

// Also for redelivered file_upload events: their row already exists then
// (same transaction as the activity), so DO NOTHING keeps it exact.
constexpr const char* insert_file_uploads_sql =
  "INSERT INTO file_uploads (event_id, activity_id, user_id, session_id,"
  " filename, mime_type, size_bytes, text_chars, uploaded_at, project_id) "
  "SELECT t.event_id, a.activity_id, t.user_id, t.session_id, t.filename,"
  " t.mime_type, t.size_bytes, t.text_chars, a.ts, t.project_id "
  "FROM tmp_activities t JOIN user_activities a ON a.event_id = t.event_id "
  "WHERE t.activity_class = 'file_upload' ORDER BY t.event_id "
  "ON CONFLICT (event_id) DO NOTHING";

std::string upsert_sessions_sql() {
  // project_id: the latest (by event time) of the batch; a later batch's
  // wins over the stored one (docs/api.md, "Projects").
  return "INSERT INTO agent_sessions AS s (user_id, session_id, agent_type,"
         " started_at, ended_at, total_interactions, last_activity_at,"
         " project_id) "
         "SELECT user_id, session_id, min(agent_type), "
         + ts_of("min(started_ms)") + ", " + ts_of("max(ended_ms)")
         + ", sum(interactions)::bigint, " + ts_of("max(last_ms)")
         + ", (array_agg(project_id ORDER BY project_ms DESC)"
           " FILTER (WHERE project_id IS NOT NULL))[1]"
           " FROM " + staged_rows{session_columns}.from("t")
         + " GROUP BY user_id, session_id"
           " ORDER BY user_id, session_id "
           "ON CONFLICT (user_id, session_id) DO UPDATE SET"
           " project_id = coalesce(EXCLUDED.project_id, s.project_id),"
           " started_at = LEAST(s.started_at, EXCLUDED.started_at),"
           " ended_at = GREATEST(s.ended_at, EXCLUDED.ended_at),"
           " last_activity_at = GREATEST(s.last_activity_at,"
           " EXCLUDED.last_activity_at),"
           " total_interactions = s.total_interactions"
           " + EXCLUDED.total_interactions";
}

std::string upsert_usage_sql() {
  return "INSERT INTO usage_analytics AS u (user_id, day, agent_type,"
  " activity_count, error_count, total_processing_time_ms, tokens_used,"
  " files_uploaded, updated_at) "
  "SELECT user_id, day, agent_type, sum(activity_count)::bigint,"
  " sum(error_count)::bigint, sum(processing_ms)::bigint,"
  " sum(tokens_used)::bigint, sum(files_uploaded)::bigint, now() "
  "FROM " + staged_rows{usage_columns}.from("t")
  + " GROUP BY user_id, day, agent_type"
  " ORDER BY user_id, day, agent_type "
  "ON CONFLICT (user_id, day, agent_type) DO UPDATE SET"
  " activity_count = u.activity_count + EXCLUDED.activity_count,"
  " error_count = u.error_count + EXCLUDED.error_count,"
  " total_processing_time_ms = u.total_processing_time_ms"
  " + EXCLUDED.total_processing_time_ms,"
  " tokens_used = u.tokens_used + EXCLUDED.tokens_used,"
  " files_uploaded = u.files_uploaded + EXCLUDED.files_uploaded,"
  " updated_at = now()";
}

// The embedding model is $1 (one prepared statement for every model).
std::string insert_memories_sql() {
  return "INSERT INTO memories (memory_id, point_id, memory_type, user_id,"
         " session_id, event_id, ts, importance, chunk_index, role, speaker,"
         " text, metadata, embedding, embedding_model, dims, context, tags,"
         " source_partition, agent_type, agent_name, project_id) "
         "SELECT memory_id, point_id, memory_type, user_id, session_id,"
         " event_id, " + ts_of("ts_ms") + ", importance, chunk_index, role,"
         " speaker, text, metadata, embedding,"
         " CASE WHEN embedding IS NULL THEN NULL ELSE $1::text"
           " END, dims, context, tags, source_partition, agent_type,"
           " agent_name, project_id FROM tmp_memories"
           " ORDER BY ord "
           "ON CONFLICT DO NOTHING RETURNING 1";
}

// Every (user, partition) the batch's events arrived on, plus partition 0
// for users of memories without a Kafka source (they live in partition
// 0's shard): the routing of reads to shard owners (050_partition_ownership).
// The (user, partition) pairs are arrays ($1, $2), distinct.
constexpr const char* insert_user_partitions_sql =
  "INSERT INTO user_partitions (user_id, partition) "
  "SELECT u, p FROM unnest($1::text[], $2::integer[]) AS v(u, p)"
  " ORDER BY 1, 2 "
  "ON CONFLICT DO NOTHING";

// `n` activity ids ($1) from user_activities' identity sequence, for rows
// written with their id (COPY writes a given identity value, like INSERT
// ... OVERRIDING SYSTEM VALUE). MATERIALIZED looks the sequence up once:
// pulled up into the join, the lookup ran per id (2.1 instead of 0.3 µs).
constexpr const char* allocate_activity_ids_sql =
  "WITH q AS MATERIALIZED (SELECT pg_get_serial_sequence("
  "'user_activities', 'activity_id')::regclass AS s) "
  "SELECT nextval(q.s) FROM q, generate_series(1, $1)";

// The consumer group is $1; topics, partitions and next offsets are
// arrays ($2-$4), sorted so that concurrent writers lock rows in the same
// order.
constexpr const char* upsert_offsets_sql =
  "INSERT INTO kafka_offsets AS k (consumer_group, topic, partition,"
  " next_offset, updated_at) "
  "SELECT $1, v.topic, v.partition, max(v.next_offset), now() "
  "FROM unnest($2::text[], $3::integer[], $4::bigint[])"
  " AS v(topic, partition, next_offset) GROUP BY v.topic, v.partition"
  " ORDER BY v.topic, v.partition "
  "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
  " next_offset = GREATEST(k.next_offset, EXCLUDED.next_offset),"
  " updated_at = now()";

std::string tombstones_of_users_sql() {
  return "SELECT user_id, " + ms_of("cutoff") + " FROM user_tombstones"
         " WHERE user_id = ANY($1::text[])";
}

constexpr const char* insert_unpartitioned_users_sql =
  "INSERT INTO user_partitions (user_id, partition) "
  "SELECT u, 0 FROM unnest($1::text[]) AS u ORDER BY 1 "
  "ON CONFLICT DO NOTHING";

// The direct path of commit_batch's memories (see there): `ms` are new
// memories of events this transaction inserted, with distinct memory and
// point ids. COPYs their rows into memories, their ADD records into
// memory_outbox (printed here, not by the outbox trigger: 035 and
// 038_add_records_by_a_row_trigger.sql), and rows into memory_history
// (ADD, as insert_add_history_sql). Their links to their activities are the
// memory_links view (036_memory_links_view.sql).
// pqxx::unique_violation when one of them exists already.
void write_direct_memories(
  pqxx::transaction_base& tx, detail::pg_connection& conn,
  const std::vector<const memory*>& ms,
  const std::string& embedding_model,
  detail::prepared_statements& statements) {
  // The records' changed_at and source, as the trigger would take them;
  // and the trigger's cue to skip this COPY's rows (its WHEN clause,
  // 038_add_records_by_a_row_trigger.sql), cleared right after it: every
  // later insert of the transaction gets its record from the trigger.
  // (When the savepoint is rolled back, so is the setting.)
  auto head = statements.exec(
    tx, "SELECT memory_change_time(now()), memory_change_source(),"
        " set_config('agentmem.add_records_by_writer', 'on', true)");
  const auto changed_at = head[0][0].as<std::string>();
  const auto source = head[0][1].as<std::string>();
  {
    // Binary: the vectors go as their bytes (copy_writer.hpp).
    detail::binary_copy_writer out{
      tx, conn, "memories", memory_row_columns("ts", {"embedding_model"})};
    for (auto* m : ms)
      memory_row(out, *m, detail::timestamptz_ms{m->ts_ms},
                 m->vector.empty() ? nullptr : embedding_model.c_str());
    out.complete();
  }
  statements.exec(
    tx, "SELECT set_config('agentmem.add_records_by_writer', '', true)");
  {
    // In the memories' order, which is their seq order (the trigger's).
    detail::binary_copy_writer out{
      tx, conn, "memory_outbox",
      {"user_id", "record_key", "memory_id", "payload"}};
    std::string record;
    for (auto* m : ms) {
      record.clear();
      detail::append_add_record(record, *m, changed_at, source);
      out.row(m->user_id, m->user_id, m->memory_id, std::string_view{record});
    }
    out.complete();
  }
  bool any_history = std::any_of(ms.begin(), ms.end(), [](const memory* m) {
    return m->memory_type != memory_types::conversation;
  });
  if (!any_history)
    return;
  detail::copy_writer out{
    tx, "memory_history",
    {"memory_id", "version", "event", "user_id", "old_text", "new_text",
     "old_importance", "new_importance", "event_id", "source_memory_id"}};
  for (auto* m : ms)
    if (m->memory_type != memory_types::conversation)
      out.row(m->memory_id, 1, "ADD", m->user_id, nullptr, m->text, nullptr,
              m->importance, m->event_id, m->memory_id);
  out.complete();
}

// The staged path of commit_batch's activities: COPY into tmp_activities,
// then INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING, which skips
// events stored before. `sorted`: the batch's distinct events by event_id.
// Returns the event ids this call inserted.
std::unordered_set<std::string>
write_staged_activities(pqxx::work& tx,
                        const std::vector<const activity*>& sorted,
                        bool any_file,
                        detail::prepared_statements& statements) {
  {
    detail::copy_writer out{
      tx, "tmp_activities",
      activity_row_columns("ts_ms", {"filename", "mime_type", "size_bytes",
                                     "text_chars"})};
    for (auto* ap : sorted) {
      auto& a = *ap;
      bool is_file = is_file_upload(a);
      activity_row(out, a, a.ts_ms,
                   is_file ? nz(a.file.filename) : std::nullopt,
                   is_file ? nz(a.file.mime_type) : std::nullopt,
                   is_file ? file_size(a) : std::optional<int64_t>{},
                   is_file ? utf8_chars(a.file.text) : 0);
    }
    out.complete();
  }
  auto inserted = statements.exec(tx, insert_activities_sql());
  std::unordered_set<std::string> fresh;
  fresh.reserve(inserted.size() * 2);
  for (const auto& row : inserted)
    fresh.emplace(row[0].c_str(), row[0].size());
  if (any_file)
    statements.exec(tx, insert_file_uploads_sql);
  return fresh;
}

// The direct path of commit_batch's activities (see there): allocates an
// activity_id per event of `sorted` (distinct, by event_id, times within
// timestamptz_ms's range) and COPYs their rows into user_activities and
// file_uploads inside a savepoint. Returns true and fills `fresh` (their
// event ids) when they were written; false, with nothing written,
// when one of the events is stored already (pqxx::unique_violation).
bool write_direct_activities(pqxx::work& tx, detail::pg_connection& conn,
                             const std::vector<const activity*>& sorted,
                             bool any_file,
                             detail::prepared_statements& statements,
                             std::unordered_set<std::string>& fresh) {
  auto allocated = statements.exec(tx, allocate_activity_ids_sql,
                                   static_cast<int64_t>(sorted.size()));
  if (allocated.size() != sorted.size())
    throw std::logic_error{"commit_batch: "
                           + std::to_string(allocated.size())
                           + " activity ids for "
                           + std::to_string(sorted.size()) + " events"};
  std::vector<int64_t> ids;
  ids.reserve(allocated.size());
  for (const auto& row : allocated)
    ids.push_back(row[0].as<int64_t>());
  try {
    pqxx::subtransaction sub{tx, "direct_activities"};
    {
      // Binary: the JSON columns go without COPY's text escaping
      // (docs/performance.md, eighteenth round).
      detail::binary_copy_writer out{
        sub, conn, "user_activities",
        activity_row_columns("ts", {"activity_id"})};
      for (size_t i = 0; i < sorted.size(); ++i)
        activity_row(out, *sorted[i],
                     detail::timestamptz_ms{sorted[i]->ts_ms}, ids[i]);
      out.complete();
    }
    if (any_file) {
      detail::copy_writer out{
        sub, "file_uploads",
        {"event_id", "activity_id", "user_id", "session_id", "filename",
         "mime_type", "size_bytes", "text_chars", "uploaded_at",
         "project_id"}};
      for (size_t i = 0; i < sorted.size(); ++i) {
        auto& a = *sorted[i];
        if (!is_file_upload(a))
          continue;
        out.row(a.event_id, ids[i], a.user_id, a.session_id,
                nz(a.file.filename), nz(a.file.mime_type), file_size(a),
                utf8_chars(a.file.text),
                detail::timestamptz_ms{a.ts_ms},
                nz(a.project_id));
      }
      out.complete();
    }
    sub.commit();
  } catch (const pqxx::unique_violation& e) {
    spdlog::debug("commit_batch: an event of the batch is stored already "
                  "({}); its activities take the staged path",
                  e.what());
    return false;
  }
  fresh.reserve(sorted.size() * 2);
  for (auto* a : sorted)
    fresh.insert(a->event_id);
  return true;
}

} // namespace

// --- impl -----------------------------------------------------------------

// The connection and its exception-to-error wrapper: pg_common.hpp.
struct postgres_store::impl : detail::pg_session {
  analytics_window_options analytics;

  /// pg_session::generation whose connection has the batch temp tables.
  uint64_t temp_tables_generation = 0;

  // commit_batch's staged paths (a batch holding events or memories stored
  // before: replays, rebalances, ts outside years 1-9999) stage
  // activities and memories in temp tables (COPY, then set-based INSERT
  // ... SELECT ... ON CONFLICT); every other row goes by COPY straight
  // into its table or as array parameters (staged_rows.hpp), so that a
  // batch on the common path touches no temp table: PostgreSQL truncates
  // every ON COMMIT DELETE ROWS table at a commit that touched any
  // (docs/performance.md, eighteenth round). They live as long as the
  // connection: creating and dropping them in every transaction wrote and
  // vacuumed ~100 catalog rows per batch. Created in their own
  // transaction, so that a failed batch cannot roll their creation back.
  void ensure_temp_tables(pqxx::connection_base& c) {
    if (temp_tables_generation == generation)
      return;
    pqxx::work tx{c};
    // Local buffers for them: a 2,000-event batch stages ~10 MB, which
    // would spill from the 8 MB default to temp files and be read back by
    // the INSERT ... SELECTs. Only takes effect before the session's first
    // use of a temp table, hence here.
    tx.exec("SET temp_buffers = '64MB'");
    tx.exec(std::string{create_tmp_activities} + create_tmp_memories);
    tx.commit();
    temp_tables_generation = generation;
  }
};

postgres_store::postgres_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

postgres_store::~postgres_store() = default;

caf::expected<std::unique_ptr<postgres_store>>
postgres_store::connect(const std::string& url) {
  auto p = std::make_unique<impl>();
  p->url = url;
  if (auto err = p->open())
    return err;
  return std::unique_ptr<postgres_store>{new postgres_store(std::move(p))};
}

caf::error postgres_store::reconnect() {
  return impl_->open();
}

std::string postgres_store::redacted_url() const {
  return pg_cluster::redact(impl_->url);
}

caf::expected<int> postgres_store::migrate() {
  return impl_->run<int>("migrate", [](pqxx::connection_base& c)
                                      -> caf::expected<int> {
    int applied = 0;
    for (size_t i = 0; i < detail::embedded_migration_count; ++i) {
      auto& m = detail::embedded_migrations[i];
      pqxx::work tx{c};
      // Held until commit: concurrent migrators queue here, then see the
      // version recorded by whoever went first.
      tx.exec(lock_sql(false, lock_migrate));
      tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
              " version integer PRIMARY KEY,"
              " name text NOT NULL,"
              " applied_at timestamptz NOT NULL DEFAULT now())");
      auto done = tx.exec_params(
        "SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
      if (!done.empty()) {
        tx.commit();
        continue;
      }
      tx.exec(m.sql, std::string{"migration "} + m.name);
      tx.exec_params("INSERT INTO schema_migrations (version, name)"
                     " VALUES ($1, $2)",
                     m.version, std::string{m.name});
      tx.commit();
      ++applied;
    }
    return applied;
  });
}

void postgres_store::set_analytics_options(
  const analytics_window_options& opt) {
  impl_->analytics = opt;
}

bool is_data_rejection(const caf::error& err) {
  return err && err.category() == errc_category
         && static_cast<errc>(err.code()) == errc::data_rejected;
}

std::string rejected_sqlstate(const caf::error& err) {
  if (!is_data_rejection(err) || !err.context().match_elements<std::string>())
    return {};
  const auto& detail = err.context().get_as<std::string>(0);
  static constexpr std::string_view tag = "SQLSTATE ";
  auto pos = detail.find(tag);
  if (pos == std::string::npos || pos + tag.size() + 5 > detail.size())
    return {};
  return detail.substr(pos + tag.size(), 5);
}

caf::expected<commit_result>
postgres_store::commit_batch(const batch& input,
                             const std::string& consumer_group,
                             const std::string& embedding_model) {
  if (auto field = find_nul(input, consumer_group, embedding_model))
    return make_error(errc::data_rejected,
                      "NUL byte in " + *field
                        + " (PostgreSQL text cannot hold it)");
  return impl_->run<commit_result>("commit_batch", [&](detail::pg_connection& c)
                                     -> caf::expected<commit_result> {
    commit_result result;
    impl_->ensure_temp_tables(c);
    // The statements that are the same in every batch run through
    // impl_->statements, prepared once per connection (pg_common.hpp says
    // which may); the rest is sent as text and planned per batch.
    pqxx::work tx{c};
    // Tombstones (002_data_governance): the shared lock orders this commit
    // against user deletion, which holds it exclusively until its tombstone
    // is committed; then one lookup for all users of the batch.
    batch filtered;
    const batch* bp = &input;
    std::vector<size_t> input_index; // filtered memory -> input position
    if (!input.activities.empty() || !input.memories.empty()) {
      impl_->statements.exec(tx, lock_sql(true, lock_ingest));
      std::unordered_set<std::string> users;
      for (auto& a : input.activities)
        users.insert(a.user_id);
      for (auto& m : input.memories)
        users.insert(m.user_id);
      auto tomb = impl_->statements.exec(
        tx, tombstones_of_users_sql(),
        text_array_literal({users.begin(), users.end()}));
      if (!tomb.empty()) {
        domain::tombstone_map t;
        for (const auto& row : tomb)
          t.emplace(row[0].as<std::string>(), row[1].as<int64_t>());
        // Report only tombstones that dropped something (a user who came
        // back after the cutoff matches the lookup but keeps their events).
        std::unordered_set<std::string> hit;
        for (auto& a : input.activities)
          if (domain::is_tombstoned(t, a.user_id, a.ts_ms))
            hit.insert(a.user_id);
        for (auto& m : input.memories)
          if (domain::is_tombstoned(t, m.user_id, m.ts_ms))
            hit.insert(m.user_id);
        if (!hit.empty()) {
          for (auto& u : hit)
            result.tombstones.emplace_back(u, t[u]);
          filtered = input;
          result.tombstoned = domain::drop_tombstoned(filtered, t);
          bp = &filtered;
          // memory_change::index refers to the caller's (input) batch.
          for (size_t i = 0; i < input.memories.size(); ++i)
            if (!domain::is_tombstoned(t, input.memories[i].user_id,
                                       input.memories[i].ts_ms))
              input_index.push_back(i);
        }
      }
    }
    const batch& b = *bp;
    // First occurrence of each event_id; later ones are duplicates.
    std::vector<const activity*> firsts;
    firsts.reserve(b.activities.size());
    {
      std::unordered_set<std::string_view> seen;
      seen.reserve(b.activities.size() * 2);
      for (auto& a : b.activities)
        if (seen.insert(a.event_id).second)
          firsts.push_back(&a);
    }
    // 1. activities
    // The event ids this transaction inserted.
    std::unordered_set<std::string> fresh;
    if (!firsts.empty()) {
      // Sorted by event_id: concurrent writers of overlapping batches then
      // take unique-index locks in the same order and cannot deadlock.
      std::vector<const activity*> sorted = firsts;
      std::sort(sorted.begin(), sorted.end(),
                [](const activity* x, const activity* y) {
                  return x->event_id < y->event_id;
                });
      const bool any_file =
        std::any_of(sorted.begin(), sorted.end(),
                    [](const activity* a) { return is_file_upload(*a); });
      // An event arrives once in the common case (exactly-once offsets in
      // the batch's transaction), so its row goes straight into
      // user_activities by COPY, with an id allocated up front: no staging
      // table and no INSERT ... SELECT ... ON CONFLICT (docs/performance.md,
      // thirteenth round). A batch holding an event stored before (a
      // producer's retry under a new offset, two nodes during a rebalance)
      // hits the event_id's unique index: the savepoint takes the direct
      // COPYs back and the batch takes the staged path, which skips stored
      // events. Times outside years 1-9999 take the staged path too.
      const bool direct =
        std::all_of(sorted.begin(), sorted.end(), [](const activity* a) {
          return detail::timestamptz_ms::holds(a->ts_ms);
        });
      if (!direct
          || !write_direct_activities(tx, c, sorted, any_file,
                                      impl_->statements, fresh))
        fresh = write_staged_activities(tx, sorted, any_file,
                                        impl_->statements);
      // Every (user, partition) the batch's events arrived on, stored or
      // not (a stored event's pair is stored already: DO NOTHING).
      std::set<std::pair<std::string_view, int32_t>> pairs;
      for (auto* a : sorted)
        if (a->source.partition >= 0)
          pairs.emplace(a->user_id, a->source.partition);
      if (!pairs.empty()) {
        std::vector<std::string> users;
        std::vector<int32_t> parts;
        users.reserve(pairs.size());
        parts.reserve(pairs.size());
        for (auto& [u, p] : pairs) {
          users.emplace_back(u);
          parts.push_back(p);
        }
        impl_->statements.exec(tx, insert_user_partitions_sql,
                               text_array_literal(users),
                               int_array_literal(parts));
      }
    }
    result.new_activities = fresh.size();
    result.duplicate_activities = b.activities.size() - fresh.size();
    // 2. rollups: the aggregator's deltas assume every activity is new;
    // otherwise fold only what this transaction actually inserted.
    std::vector<session_delta> recomputed_sessions;
    std::vector<usage_delta> recomputed_usage;
    std::vector<analytics_delta> recomputed_analytics;
    const auto* sessions = &b.sessions;
    const auto* usage = &b.usage;
    const auto* analytics = &b.analytics;
    const bool all_fresh = result.duplicate_activities == 0;
    const bool rollups = impl_->analytics.enabled;
    // A batch whose activities came without analytics deltas (an older
    // aggregator's) still gets them.
    if (!all_fresh || (rollups && analytics->empty() && !fresh.empty())) {
      std::vector<activity> news;
      news.reserve(fresh.size());
      for (auto* ap : firsts)
        if (fresh.count(ap->event_id) > 0)
          news.push_back(*ap);
      if (!all_fresh) {
        recomputed_sessions = domain::session_deltas(news);
        recomputed_usage = domain::usage_deltas(news);
        sessions = &recomputed_sessions;
        usage = &recomputed_usage;
      }
      if (rollups) {
        recomputed_analytics = domain::analytics_deltas(news);
        analytics = &recomputed_analytics;
      }
    }
    if (!sessions->empty()) {
      staged_rows out{session_columns};
      for (auto& s : *sessions)
        out.row(
          s.user_id.c_str(), s.session_id.c_str(), s.agent_type.c_str(),
          s.started_at_ms,
          s.ended_at_ms < 0 ? std::optional<int64_t>{}
                            : std::optional<int64_t>{s.ended_at_ms},
          s.last_activity_ms, s.interactions, nz(s.project_id),
          s.project_id.empty() ? std::optional<int64_t>{}
                               : std::optional<int64_t>{s.project_ts_ms});
      impl_->statements.exec(tx, upsert_sessions_sql(),
                             pqxx::prepare::make_dynamic_params(out.params()));
    }
    if (!usage->empty()) {
      staged_rows out{usage_columns};
      for (auto& u : *usage)
        out.row(u.user_id.c_str(), u.day.c_str(), u.agent_type.c_str(),
                u.activity_count, u.error_count, u.total_processing_time_ms,
                u.tokens_used, u.files_uploaded);
      impl_->statements.exec(tx, upsert_usage_sql(),
                             pqxx::prepare::make_dynamic_params(out.params()));
    }
    // 2b. event-time analytics (storage/analytics_sql.cpp), over the new
    // activities only, like the rollups above.
    if (rollups)
      analytics_sql::write(tx, *analytics, firsts, fresh, all_fresh,
                           consumer_group, impl_->analytics, result,
                           impl_->statements);
    // 3. offsets: one row per partition of the batch, as arrays (one
    // prepared statement whatever the number of partitions).
    if (!b.offsets.empty()) {
      std::vector<std::string> topics;
      std::vector<int32_t> partitions;
      std::vector<int64_t> next_offsets;
      for (auto& o : b.offsets) {
        topics.push_back(o.topic);
        partitions.push_back(o.partition);
        next_offsets.push_back(o.next_offset);
      }
      impl_->statements.exec(tx, upsert_offsets_sql, consumer_group,
                             text_array_literal(topics),
                             int_array_literal(partitions),
                             int_array_literal(next_offsets));
    }
    // 3b. facts and graph memory (storage/knowledge_sql.cpp)
    // Events whose activity this transaction inserted: their derived rows
    // (knowledge, near-duplicates) cannot have been committed before.
    const std::function<bool(const std::string&)> inserted =
      [&fresh](const std::string& event_id) {
        return fresh.count(event_id) > 0;
      };
    knowledge_sql::write(tx, b.knowledge, inserted, impl_->statements);
    // 4. memories, last: the advisory lock serialises writers
    // from here to commit so that seq order is commit order.
    if (!b.memories.empty()) {
      // The last seq allocated before and after this transaction's
      // memories: all allocations happen under this lock.
      const std::string last_seq =
        "SELECT coalesce(pg_sequence_last_value("
        "pg_get_serial_sequence('memories', 'seq')::regclass), 0)";
      auto seq_before =
        tx.exec(lock_sql(false, lock_memories) + "; " + last_seq)[0][0]
          .as<int64_t>();
      // Memories of the events this transaction inserted cannot be stored
      // yet: their ids derive from the event id (domain/ids.cpp) and were
      // committed with it, if ever. They go straight into memories and
      // memory_history by COPY: no staging table, no
      // INSERT ... SELECT, no conflict check on every unique index (the
      // staged path cost ≈ 5-10 µs per memory more; docs/performance.md,
      // twelfth round). The rest (events stored before, memories without
      // an event of this batch, a repeat of an id inside the batch, a ts
      // outside years 1-9999) take the staged INSERT ... ON CONFLICT DO
      // NOTHING. Should a direct row exist after all (written outside the
      // pipeline under the same id), the savepoint takes the direct COPYs
      // back and every memory takes the staged path.
      std::vector<const memory*> plain; // not versioned, in batch order
      std::vector<const memory*> direct, staged;
      std::vector<const memory*> versioned; // storage/memory_versions.hpp
      std::vector<size_t> versioned_at;
      std::set<std::string> unpartitioned; // users of partition 0's shard
      {
        std::unordered_set<std::string_view> ids;
        std::unordered_set<uint64_t> points;
        for (auto& m : b.memories) {
          if (m.partition < 0)
            unpartitioned.insert(m.user_id);
          if (detail::is_versioned(m)) {
            versioned.push_back(&m);
            versioned_at.push_back(
              static_cast<size_t>(&m - b.memories.data()));
            continue;
          }
          plain.push_back(&m);
          bool first = ids.insert(m.memory_id).second;
          bool first_point = points.insert(m.point_id).second;
          if (first && first_point && fresh.count(m.event_id) > 0
              && detail::timestamptz_ms::holds(m.ts_ms))
            direct.push_back(&m);
          else
            staged.push_back(&m);
        }
      }
      size_t written_direct = 0;
      if (!direct.empty()) {
        try {
          pqxx::subtransaction sub{tx, "direct_memories"};
          write_direct_memories(sub, c, direct, embedding_model,
                                impl_->statements);
          sub.commit();
          written_direct = direct.size();
        } catch (const pqxx::unique_violation& e) {
          spdlog::warn("commit_batch: a memory of a new event is stored "
                       "already ({}); the batch's memories take the "
                       "staged path",
                       e.what());
          staged = plain;
        }
      }
      result.memories_written = written_direct;
      if (!staged.empty()) {
        detail::copy_writer out{
          tx, "tmp_memories",
          memory_row_columns("ts_ms", {"ord"})};
        int32_t ord = 0;
        for (auto* m : staged)
          memory_row(out, *m, m->ts_ms, ord++);
        out.complete();
        auto written = impl_->statements.exec(tx, insert_memories_sql(),
                                              embedding_model);
        result.memories_written += written.size();
        impl_->statements.exec(tx, detail::insert_add_history_sql);
      }
      if (!unpartitioned.empty())
        tx.exec_params(insert_unpartitioned_users_sql,
                       text_array_literal({unpartitioned.begin(),
                                           unpartitioned.end()}));
      detail::apply_versioned_memories(tx, versioned, versioned_at,
                                       embedding_model, inserted,
                                       impl_->statements, result.changes);
      for (auto& ch : result.changes) {
        if (ch.event == memory_event::add)
          ++result.memories_written;
        if (!input_index.empty())
          ch.index = input_index.at(ch.index);
      }
      result.seq_first = seq_before + 1;
      result.seq_last = tx.exec(last_seq)[0][0].as<int64_t>();
    }
    tx.commit();
    return result;
  });
}

caf::expected<std::vector<partition_offset>>
postgres_store::load_offsets(const std::string& group,
                             const std::string& topic) {
  using result_t = std::vector<partition_offset>;
  return impl_->run<result_t>("load_offsets", [&](pqxx::connection_base& c)
                                                -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = topic.empty()
               ? tx.exec_params("SELECT topic, partition, next_offset"
                                " FROM kafka_offsets WHERE consumer_group = $1"
                                " ORDER BY topic, partition",
                                group)
               : tx.exec_params("SELECT topic, partition, next_offset"
                                " FROM kafka_offsets WHERE consumer_group = $1"
                                " AND topic = $2 ORDER BY partition",
                                group, topic);
    result_t out;
    out.reserve(r.size());
    for (const auto& row : r) {
      partition_offset o;
      o.topic = row[0].as<std::string>();
      o.partition = row[1].as<int32_t>();
      o.next_offset = row[2].as<int64_t>();
      out.push_back(std::move(o));
    }
    tx.commit();
    return out;
  });
}

caf::expected<std::vector<usage_row>>
postgres_store::usage(const std::string& user_id, const std::string& from_day,
                      const std::string& to_day) {
  if (!valid_day(from_day) || !valid_day(to_day))
    return make_error(errc::invalid_request,
                      "days must be YYYY-MM-DD, got " + from_day + " and "
                        + to_day);
  using result_t = std::vector<usage_row>;
  return impl_->run<result_t>("usage", [&](pqxx::connection_base& c)
                                         -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
      "SELECT to_char(day, 'YYYY-MM-DD'), agent_type, activity_count,"
      " error_count, total_processing_time_ms, tokens_used, files_uploaded"
      " FROM usage_analytics"
      " WHERE user_id = $1 AND day BETWEEN $2::date AND $3::date"
      " ORDER BY day, agent_type",
      user_id, from_day, to_day);
    result_t out;
    out.reserve(r.size());
    for (const auto& row : r) {
      usage_row u;
      u.day = row[0].as<std::string>();
      u.agent_type = row[1].as<std::string>();
      u.activity_count = row[2].as<int64_t>();
      u.error_count = row[3].as<int64_t>();
      u.total_processing_time_ms = row[4].as<int64_t>();
      u.tokens_used = row[5].as<int64_t>();
      u.files_uploaded = row[6].as<int64_t>();
      out.push_back(std::move(u));
    }
    tx.commit();
    return out;
  });
}

namespace {

// The columns of a stored memory, as decode_memory() reads them.
constexpr const char* stored_memory_columns =
  "seq, memory_id, point_id, memory_type, user_id, session_id,"
  " event_id, (extract(epoch FROM ts) * 1000)::bigint, importance,"
  " chunk_index, coalesce(role, ''), coalesce(speaker, ''), text,"
  " coalesce(metadata::text, ''), encode(embedding, 'hex'), tags,"
  " coalesce(context, ''), coalesce(source_partition, -1),"
  " coalesce(agent_type, ''), coalesce(agent_name, ''),"
  " coalesce(project_id, '')";

// Rows of stored_memory_columns, vectors decoded.
caf::expected<std::vector<stored_memory>>
decode_memories(const pqxx::result& r) {
  std::vector<stored_memory> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    stored_memory s;
    s.seq = row[0].as<int64_t>();
    auto& m = s.m;
    m.memory_id = row[1].as<std::string>();
    m.point_id = static_cast<uint64_t>(row[2].as<int64_t>());
    m.memory_type = row[3].as<std::string>();
    m.user_id = row[4].as<std::string>();
    m.session_id = row[5].as<std::string>();
    m.event_id = row[6].as<std::string>();
    m.ts_ms = row[7].as<int64_t>();
    m.turn_ts_ms = m.ts_ms;
    m.importance = row[8].as<double>();
    m.chunk_index = row[9].as<int32_t>();
    m.role = row[10].as<std::string>();
    m.speaker = row[11].as<std::string>();
    m.text = row[12].as<std::string>();
    m.metadata_json = row[13].as<std::string>();
    m.context = row[16].as<std::string>();
    m.partition = row[17].as<int32_t>();
    m.agent_type = row[18].as<std::string>();
    m.agent_name = row[19].as<std::string>();
    m.project_id = row[20].as<std::string>();
    if (!row[14].is_null()
        && !vector_from_hex(row[14].c_str(), row[14].size(), m.vector))
      return make_error(errc::postgres_error,
                        "memory " + m.memory_id
                          + ": embedding is not float32 data");
    if (!row[15].is_null())
      m.tags = text_array_values(row[15].c_str());
    out.push_back(std::move(s));
  }
  return out;
}

int64_t row_limit(size_t limit) {
  return static_cast<int64_t>(std::min<size_t>(
    limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
}

} // namespace

namespace {

// memories after `seq` (all partitions when `partitions` is null), rows
// in `skip`'s ranges and above `upto` left out (postgres_store.hpp).
caf::expected<std::vector<stored_memory>>
read_memories_after(pqxx::connection_base& c,
                    const std::vector<int32_t>* partitions, int64_t seq,
                    size_t limit,
                    const std::vector<std::pair<int64_t, int64_t>>& skip,
                    int64_t upto) {
  // Skipped ranges that begin right after `seq` move the read's start past
  // them: the scan would read and discard all their rows (a warming shard
  // on a node that just started skips every batch since it was opened:
  // ≈ 25 ms per read for 0 rows). The rows returned are the same.
  auto sorted = skip;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> firsts, lasts;
  for (auto& [a, z] : sorted) {
    if (a <= seq + 1) {
      seq = std::max(seq, z);
      continue;
    }
    firsts.push_back(a);
    lasts.push_back(z);
  }
  pqxx::read_transaction tx{c};
  // Rows of this node's own batches (skip) are left out; one partition
  // reads its (partition, seq) index range, several the seq index,
  // filtered.
  auto select = std::string{"SELECT "} + stored_memory_columns
                + " FROM memories WHERE seq > $1 AND seq <= $3"
                  " AND NOT EXISTS (SELECT 1 FROM"
                  " unnest($4::bigint[], $5::bigint[]) AS r(lo, hi)"
                  " WHERE seq BETWEEN r.lo AND r.hi)";
  auto firsts_text = int_array_literal(firsts);
  auto lasts_text = int_array_literal(lasts);
  auto r = !partitions
             ? tx.exec_params(select + " ORDER BY seq LIMIT $2", seq,
                              row_limit(limit), upto, firsts_text, lasts_text)
           : partitions->size() == 1
             ? tx.exec_params(
               select
                 + " AND coalesce(source_partition, 0) = $6"
                   " ORDER BY coalesce(source_partition, 0), seq LIMIT $2",
               seq, row_limit(limit), upto, firsts_text, lasts_text,
               partitions->front())
             : tx.exec_params(
               select
                 + " AND coalesce(source_partition, 0) = ANY($6::int[])"
                   " ORDER BY seq LIMIT $2",
               seq, row_limit(limit), upto, firsts_text, lasts_text,
               int_array_literal(*partitions));
  tx.commit();
  return decode_memories(r);
}

} // namespace

caf::expected<std::vector<stored_memory>>
postgres_store::memories_after(int64_t seq, size_t limit) {
  return memories_after(seq, limit, {});
}

caf::expected<std::vector<stored_memory>>
postgres_store::memories_after(
  int64_t seq, size_t limit,
  const std::vector<std::pair<int64_t, int64_t>>& skip, int64_t upto) {
  using result_t = std::vector<stored_memory>;
  return impl_->run<result_t>("memories_after", [&](pqxx::connection_base& c) {
    return read_memories_after(c, nullptr, seq, limit, skip, upto);
  });
}

caf::expected<std::vector<stored_memory>>
postgres_store::partition_memories_after(
  const std::vector<int32_t>& partitions, int64_t seq, size_t limit,
  const std::vector<std::pair<int64_t, int64_t>>& skip, int64_t upto) {
  using result_t = std::vector<stored_memory>;
  if (partitions.empty())
    return result_t{};
  return impl_->run<result_t>("partition_memories_after",
                              [&](pqxx::connection_base& c) {
    return read_memories_after(c, &partitions, seq, limit, skip, upto);
  });
}

caf::expected<std::vector<stored_memory>>
postgres_store::session_memories(const std::string& user_id,
                                 const std::string& session_id,
                                 const std::string& memory_type,
                                 size_t limit) {
  using result_t = std::vector<stored_memory>;
  return impl_->run<result_t>("session_memories", [&](pqxx::connection_base& c)
                                                    -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
      std::string{"SELECT * FROM (SELECT "} + stored_memory_columns
        + ", ts AS order_ts FROM memories WHERE user_id = $1"
          " AND session_id = $2 AND memory_type = $3"
          " ORDER BY ts DESC, event_id DESC LIMIT $4) newest"
          " ORDER BY order_ts, event_id",
      user_id, session_id, memory_type, row_limit(limit));
    tx.commit();
    return decode_memories(r);
  });
}

caf::expected<std::vector<stored_activity>>
postgres_store::recent_activities(const std::vector<int32_t>& partitions,
                                  int64_t since_ms, size_t per_session,
                                  size_t limit,
                                  const std::vector<int64_t>& below_offsets,
                                  int64_t below_block) {
  using result_t = std::vector<stored_activity>;
  if (!below_offsets.empty() && below_offsets.size() != partitions.size())
    return make_error(errc::invalid_request,
                      "recent_activities: " + std::to_string(partitions.size())
                        + " partitions, "
                        + std::to_string(below_offsets.size())
                        + " offset bounds");
  if (partitions.empty() || below_block == 0)
    return result_t{};
  std::vector<int64_t> below = below_offsets;
  below.resize(partitions.size(), -1);
  return impl_->run<result_t>("recent_activities", [&](pqxx::connection_base& c)
                                                     -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    // The blocks bound is a TID range scan; without it the BRIN index of
    // ingested_at finds the TTL window (and every range not yet
    // summarized, which is all of a young table).
    const bool blocks = below_block > 0;
    const auto sql =
      "SELECT event_id, " + ms_of("ts") + ", user_id, session_id, agent_type,"
      " coalesce(agent_name, ''), event_type, activity_class,"
      " coalesce(role, ''), coalesce(content, ''),"
      " coalesce(output::text, ''), coalesce(tool_name, ''), success,"
      " coalesce(error_message, ''), " + ms_of("ingested_at")
      + ", source_partition"
        " FROM (SELECT u.*, row_number() OVER (PARTITION BY u.user_id,"
        " u.session_id ORDER BY u.ts DESC, u.event_id DESC) AS newest"
        " FROM user_activities u"
        " JOIN unnest($1::int[], $5::bigint[]) AS b(p, below)"
        " ON u.source_partition = b.p"
        " WHERE u.ingested_at >= " + ts_of("$2::bigint")
      + (blocks ? " AND u.ctid < $6::tid" : "")
      + " AND (b.below < 0 OR u.source_offset IS NULL"
        " OR u.source_offset < b.below)"
        " AND u.activity_class IN ('message', 'tool_call', 'task')) a"
        " WHERE newest <= $3 ORDER BY ingested_at, event_id LIMIT $4";
    const auto parts_text = int_array_literal(partitions);
    const auto below_text = int_array_literal(below);
    auto r = blocks ? tx.exec_params(sql, parts_text, since_ms,
                                     row_limit(per_session), row_limit(limit),
                                     below_text,
                                     "(" + std::to_string(below_block) + ",0)")
                    : tx.exec_params(sql, parts_text, since_ms,
                                     row_limit(per_session), row_limit(limit),
                                     below_text);
    tx.commit();
    result_t out;
    out.reserve(r.size());
    for (const auto& row : r) {
      stored_activity s;
      auto& a = s.a;
      a.event_id = row[0].as<std::string>();
      a.ts_ms = row[1].as<int64_t>();
      a.user_id = row[2].as<std::string>();
      a.session_id = row[3].as<std::string>();
      a.agent_type = row[4].as<std::string>();
      a.agent_name = row[5].as<std::string>();
      a.event_type = row[6].as<std::string>();
      a.activity_class = row[7].as<std::string>();
      a.role = row[8].as<std::string>();
      a.content = row[9].as<std::string>();
      // jsonb prints ", " and ": "; extraction put the event's compact
      // form into working memory, so print it compact again (key order is
      // jsonb's).
      auto output = row[10].as<std::string>();
      auto doc = nlohmann::ordered_json::parse(output, nullptr, false);
      a.output_json = doc.is_discarded() ? std::move(output) : doc.dump();
      a.tool_name = row[11].as<std::string>();
      a.success = row[12].as<bool>();
      a.error_message = row[13].as<std::string>();
      s.ingested_at_ms = row[14].as<int64_t>();
      a.source.partition = row[15].as<int32_t>();
      out.push_back(std::move(s));
    }
    return out;
  });
}

caf::expected<std::vector<stored_memory>>
postgres_store::user_memories(const std::string& user_id,
                              const std::vector<int32_t>& partitions,
                              size_t limit) {
  using result_t = std::vector<stored_memory>;
  if (partitions.empty())
    return result_t{};
  return impl_->run<result_t>("user_memories", [&](pqxx::connection_base& c)
                                                 -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
      std::string{"SELECT "} + stored_memory_columns
        + " FROM memories WHERE user_id = $1"
          " AND coalesce(source_partition, 0) = ANY($2::int[])"
          " ORDER BY seq LIMIT $3",
      user_id, int_array_literal(partitions), row_limit(limit));
    tx.commit();
    return decode_memories(r);
  });
}

caf::expected<std::vector<memory_version>>
postgres_store::memory_history(const std::string& user_id,
                               const std::string& memory_id) {
  using result_t = std::vector<memory_version>;
  return impl_->run<result_t>("memory_history", [&](pqxx::connection_base& c)
                                                  -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto out = detail::read_history(tx, user_id, memory_id);
    tx.commit();
    if (out.empty())
      return make_error(errc::not_found,
                        "user " + user_id + " has no memory " + memory_id);
    return out;
  });
}

caf::expected<std::vector<fact_row>>
postgres_store::facts(const fact_query& q) {
  using result_t = std::vector<fact_row>;
  return impl_->run<result_t>("facts", [&](pqxx::connection_base& c)
                                         -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto out = knowledge_sql::facts(tx, q);
    tx.commit();
    return out;
  });
}

caf::expected<std::vector<entity_row>>
postgres_store::entities(const std::string& user_id, const std::string& type,
                         int limit) {
  using result_t = std::vector<entity_row>;
  return impl_->run<result_t>("entities", [&](pqxx::connection_base& c)
                                            -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto out = knowledge_sql::entities(tx, user_id, type, limit);
    tx.commit();
    return out;
  });
}

caf::expected<entity_neighbors>
postgres_store::neighbors(const std::string& user_id,
                          const std::string& entity_id, int limit) {
  using result_t = entity_neighbors;
  return impl_->run<result_t>("neighbors", [&](pqxx::connection_base& c)
                                             -> caf::expected<result_t> {
    pqxx::read_transaction tx{c};
    auto out = knowledge_sql::neighbors(tx, user_id, entity_id, limit);
    tx.commit();
    return out;
  });
}

caf::expected<int64_t> postgres_store::max_memory_seq() {
  return scalar("SELECT coalesce(max(seq), 0) FROM memories");
}

caf::expected<int64_t> postgres_store::scalar(const std::string& sql) {
  return impl_->run<int64_t>("scalar", [&](pqxx::connection_base& c)
                                         -> caf::expected<int64_t> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec(sql);
    if (r.size() != 1 || r.columns() != 1)
      return make_error(errc::invalid_request,
                        "expected one row with one column, got "
                          + std::to_string(r.size()) + " rows");
    if (r[0][0].is_null())
      return make_error(errc::invalid_request, "query returned NULL");
    auto v = r[0][0].as<int64_t>();
    tx.commit();
    return v;
  });
}

} // namespace agentmem::storage
