#pragma once

// Internal to storage/: versioned memories inside postgres_store's batch
// transaction (pqxx types never leave this folder).

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "messages/memory.hpp"
#include "storage/pg_common.hpp"
#include "storage/postgres_store.hpp"

namespace agentmem::storage::detail {

/// Nullable text for COPY: nullopt (SQL NULL) when `s` is empty, else a
/// view of `s` (valid while `s` lives).
std::optional<std::string_view> nz(const std::string& s);

/// Postgres text[] input literal, quoted and escaped: {"a","b\"c"}.
std::string text_array_literal(const std::vector<std::string>& xs);

/// bytea hex input ("\x...") of float32 little-endian values.
std::string vector_to_bytea_hex(const std::vector<float>& v);

/// True when a memory of a batch takes the versioned path of commit_batch
/// instead of the plain INSERT .. ON CONFLICT DO NOTHING: a near-duplicate
/// (`update_of` set) or a session summary (one memory per session).
bool is_versioned(const memory& m);

/// Applies the versioned memories `ms[i]` (at batch positions `index[i]`,
/// in batch order) inside `tx`, whose caller holds the memories advisory
/// lock. Targets are locked with SELECT .. FOR UPDATE; then, per memory:
///   - update_of set: NOOP when its own memory_id is already stored or its
///     change is already in memory_history (a replay); ADD under its own id
///     when the target is gone or belongs to another user/type; NOOP when
///     the target holds the same text or is newer (ts); else UPDATE the
///     target in place (text, vector, importance = max, ts, version + 1,
///     new seq);
///   - session summary: ADD when absent; NOOP when the text is the same or
///     the stored summary is newer; else UPDATE in place.
/// Several changes of one target in a batch chain in order. Every ADD and
/// UPDATE gets a memory_history row. Appends one memory_change per memory
/// to `out`. A fixed number of round trips; the statements that read only
/// the staged rows or look memories up by id run prepared through
/// `statements` (the connection's), the UPDATE joining stored memories to
/// the staged ones is planned per batch. `model` is the embedding model
/// stored with each vector. `inserted(event_id)` is true for the events
/// whose activity this transaction inserted: a near-duplicate of such an
/// event cannot have been applied before (its event's derived rows commit
/// with the event), so only the others are looked up in memory_history.
/// Throws pqxx exceptions.
void apply_versioned_memories(
  pqxx::work& tx, const std::vector<const memory*>& ms,
  const std::vector<size_t>& index, const std::string& model,
  const std::function<bool(const std::string&)>& inserted,
  prepared_statements& statements, std::vector<memory_change>& out);

/// ADD history rows (version 1) for the non-conversation memories in
/// `tmp_memories` (the plain path), ON CONFLICT DO NOTHING so replays and
/// memories that already have history add nothing. Conversation memories
/// are one per dialog turn and never change: they keep no history.
extern const char* const insert_add_history_sql;

/// memory_history rows of one memory of one user, oldest first.
std::vector<memory_version> read_history(pqxx::read_transaction& tx,
                                              const std::string& user_id,
                                              const std::string& memory_id);

} // namespace agentmem::storage::detail
