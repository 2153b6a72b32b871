#pragma once

// Internal to storage/: what postgres_store, governance_store and
// knowledge_sql share about talking to PostgreSQL -- the connection
// wrapper that turns libpqxx exceptions into caf::error values, the
// advisory lock keys and small SQL snippets. pqxx types never leave this
// folder.

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <pqxx/pqxx>

#include "storage/pg_connection.hpp"

namespace agentmem::storage::detail {

/// pg_advisory_xact_lock(int, int) keys: lock_class ('agmm') plus a purpose.
constexpr int lock_class = 0x61676d6d;
/// Migrations (one migrator at a time).
constexpr int lock_migrate = 1;
/// memories.seq order = commit order.
constexpr int lock_memories = 2;
/// Batch commits (shared) vs. user deletion (exclusive).
constexpr int lock_ingest = 3;
/// Appends to the deletions log (seq order = commit order).
constexpr int lock_deletions = 4;
/// The analytics outbox relay (one publisher at a time keeps record order).
constexpr int lock_analytics_outbox = 40;
/// The memory outbox relay (021_memory_change_stream).
constexpr int lock_memory_outbox = 21;
/// The webhook dispatcher (one at a time keeps deliveries in order).
constexpr int lock_memory_webhooks = 22;

/// "SELECT pg_advisory_xact_lock[_shared](lock_class, purpose)".
std::string lock_sql(bool shared, int purpose);

/// "SELECT set_config('agentmem.change_source', <source>, true)" preceded
/// by the exclusive memories lock: what a transaction that changes memories
/// outside commit_batch runs first. The memory outbox triggers
/// (021_memory_change_stream.sql) record `source` ("api", "retention",
/// "user_deletion"); the lock makes outbox ids follow commit order, as
/// commit_batch's memories section does.
std::string memory_change_sql(const char* source);

/// SQL: ms since epoch -> timestamptz, exact to the millisecond.
std::string ts_of(const std::string& column);

/// SQL: timestamptz -> ms since epoch (extract returns numeric: exact).
std::string ms_of(const std::string& column);

/// SQL: the activity_id of the stored activity `event_id_column` names
/// (NULL when there is none), as a scalar subquery. A staged batch (a temp
/// table without statistics) joined to user_activities got a hash join
/// over the whole table, O(activities stored) per batch; the subquery is
/// one probe of the event_id index per row.
std::string activity_id_of(const std::string& event_id_column);

/// Postgres array literal of an int[]: "{1,2,3}".
std::string int_array_literal(const std::vector<int32_t>& xs);
/// Postgres array literal of a bigint[]: "{1,2,3}".
std::string int_array_literal(const std::vector<int64_t>& xs);

/// The keyset tail of a list query ordered by the SQL expressions `cols`,
/// all ascending (all descending when `descending`): when `after` is not
/// empty (SQL literals, one per column: the previous page's last row),
/// " AND (cols) > (after)" (< when descending), then " ORDER BY cols LIMIT
/// limit + 1" (the extra row tells whether a next page exists; fill_page).
/// Appended to a WHERE clause. A DESC column in an ascending order is
/// passed negated ("-events", its literal too), so that one row comparison
/// serves mixed directions.
std::string keyset_tail(const std::vector<std::string>& cols,
                        const std::vector<std::string>& after,
                        bool descending, int limit);

/// Fills `page` (a keyset_page-like {items, next}) from the rows of a
/// keyset query (keyset_tail): at most `limit` items (read(row)); when
/// there were more, `next` is key(last item).
template <class Page, class Read, class Key>
void fill_page(const pqxx::result& r, int limit, Page& page, Read read,
               Key key) {
  for (const auto& row : r) {
    if (page.items.size() == static_cast<size_t>(limit)) {
      page.next = key(page.items.back());
      break;
    }
    page.items.push_back(read(row));
  }
}

/// `e.what()` without trailing newlines and blanks (libpq ends with "\n").
std::string trimmed_what(const std::exception& e);

/// Statements prepared on the server once per connection, found by their
/// SQL text. A statement sent as text is parsed, analysed and planned on
/// every execution; for the ~20 statements of a batch commit that was 17 %
/// of the writer backend's CPU in 60-record batches (perf, docs/
/// performance.md "Eighth round"). Use only for statements whose plan does
/// not depend on the rows they read: a statement without parameters keeps
/// the plan of its first execution, and one with parameters switches to a
/// generic plan after five (PostgreSQL re-plans either when a table it
/// reads is altered or analysed). A lookup in a table that grows by a
/// non-unique index is not such a statement: planned while the table was
/// nearly empty, it stays a sequential scan until autovacuum analyses the
/// table (ninth round). Belongs to one connection: cleared by
/// pg_session::open().
class prepared_statements {
public:
  /// Runs `sql` with `args` as $1, $2, ... as a prepared statement of tx's
  /// connection, registering it with libpqxx on first use (libpqxx
  /// prepares it on the server at its first execution, inside or outside a
  /// transaction). Throws what pqxx::transaction_base::exec_prepared
  /// throws.
  template <class... Args>
  pqxx::result exec(pqxx::transaction_base& tx, const std::string& sql,
                    Args&&... args) {
    return tx.exec_prepared(name_of(tx.conn(), sql),
                            std::forward<Args>(args)...);
  }
  /// Forgets every statement (the connection they were prepared on is
  /// gone).
  void clear() { names_.clear(); }

private:
  const std::string& name_of(pqxx::connection_base& c, const std::string& sql);
  std::unordered_map<std::string, std::string> names_;
};

/// One libpqxx connection to `url` (a pg_connection: binary COPY needs its
/// libpq handle), (re)opened on demand. Not thread-safe:
/// the owning store serializes calls.
struct pg_session {
  std::string url;
  std::unique_ptr<pg_connection> conn;
  bool broken = false; ///< reconnect before the next run()
  /// Incremented by every open(): session state (temp tables, prepared
  /// statements) belongs to one generation.
  uint64_t generation = 0;
  /// The statements prepared on `conn` (cleared by open()).
  prepared_statements statements;

  /// Opens a new connection; errc::postgres_error (password redacted) when
  /// that fails.
  caf::error open();

  /// open() unless the connection is usable.
  caf::error ensure();

  /// errc::postgres_error "<what>: <message>", the password redacted.
  caf::error failure(const char* what, const std::exception& e) const;

  /// A server error: errc::data_rejected "<what>: SQLSTATE <code>:
  /// <primary message>" when the SQLSTATE class rejects the rows themselves
  /// (22 data exception, 23 integrity constraint violation, 54 program
  /// limit exceeded: a retry fails the same way; the DETAIL line, which
  /// may quote row content, is left out), else failure().
  caf::error sql_failure(const char* what, const pqxx::sql_error& e) const;

  /// Runs `f(connection)` and turns every exception into a value. SQL
  /// errors leave the connection usable (the transaction object rolls back
  /// in its destructor); anything else may have broken the protocol state,
  /// so the next call reconnects.
  template <class T, class F>
  caf::expected<T> run(const char* what, F&& f) {
    if (auto err = ensure())
      return err;
    try {
      return f(*conn);
    } catch (const pqxx::sql_error& e) {
      return sql_failure(what, e);
    } catch (const pqxx::transaction_rollback& e) {
      return failure(what, e);
    } catch (const pqxx::conversion_error& e) {
      return failure(what, e);
    } catch (const std::exception& e) {
      // broken_connection, in_doubt_error, usage errors, ...
      broken = true;
      return failure(what, e);
    }
  }
};

} // namespace agentmem::storage::detail
