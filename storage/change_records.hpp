#pragma once

// Internal to storage/: the memory change stream's ADD record
// (agent.memory.v1, docs/events.md) printed in C++, byte for byte as the
// outbox trigger prints it in SQL -- memory_change_record() of
// 032_change_records_as_json.sql: row_to_json of a memory_change_row.
//
// Why: building the record in SQL is ≈ 6 µs per memory of the writer
// backend's time (row_to_json looks up each field's output function and
// escapes it through the executor), more than a fifth of a memory row's
// COPY. The writer's direct path (postgres_store.cpp) prints the records
// of the memories it COPYs and COPYs them into memory_outbox itself; the
// trigger skips that one statement (035_add_records_by_the_writer.sql;
// since 038 a row trigger whose WHEN clause skips it).
// Every other writer of memories keeps the trigger's records.

#include <cstdint>
#include <string>
#include <string_view>

#include "messages/memory.hpp"

namespace agentmem::storage::detail {

/// Appends `s` as a JSON string as PostgreSQL's escape_json() prints it:
/// `"` and `\` backslash-escaped, \b \f \n \r \t, other bytes below 0x20
/// as \u00xx (lowercase hex), every other byte (UTF-8 included) as is.
void append_json_string(std::string& out, std::string_view s);

/// Appends `x` as PostgreSQL's float4out prints a real with the default
/// extra_float_digits (1): the shortest text that reads back as `x`, fixed
/// notation for decimal exponents -4..5, else d.ddde±XX (Ryu; PostgreSQL's
/// src/common/f2s.c); "NaN", "Infinity", "-Infinity" quoted, as
/// row_to_json quotes what is not a JSON number.
void append_json_real(std::string& out, float x);

/// Appends the ADD record of `m` as stored by the writer's direct path:
/// version 1, the columns as memory_row() writes them (empty role,
/// speaker, agent_type, agent_name and project_id are NULL; importance as
/// the real it is stored as; ts as memory_change_time() prints it, for
/// years 1 to 9999, timestamptz_ms's range); `changed_at` is
/// memory_change_time(now())
/// and `source` memory_change_source() of the transaction, as the server
/// returned them (printed as JSON strings).
void append_add_record(std::string& out, const memory& m,
                       std::string_view changed_at, std::string_view source);

} // namespace agentmem::storage::detail
