#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace agentmem {

/// Error codes of agentmem, carried in caf::error with category "agentmem"
/// and a context message holding one std::string with the detail.
enum class errc : uint8_t {
  none = 0,
  invalid_config,     ///< configuration rejected at start-up
  postgres_error,     ///< a Postgres statement or connection failed
  rocksdb_error,      ///< RocksDB returned a non-OK status
  kafka_error,        ///< librdkafka reported an error
  index_error,        ///< the vector index failed (I/O, dims, capacity)
  io_error,           ///< file system or process error
  invalid_request,    ///< a caller's request was malformed
  not_found,          ///< the requested thing does not exist
  timeout,            ///< an operation ran out of time
  /// Postgres (or the store before sending) rejected the data itself
  /// (SQLSTATE class 22, 23 or 54; a NUL byte): retrying the same rows
  /// fails again, unlike postgres_error
  data_rejected,
};

/// Category atom of agentmem errors.
constexpr caf::atom_value errc_category = caf::atom("agentmem");

/// Human-readable name of an error code.
const char* to_string(errc x);

/// Builds a caf::error of category "agentmem" with `detail` as context.
caf::error make_error(errc x, std::string detail);

/// Renders any caf::error as "code: detail" without an actor system.
std::string describe(const caf::error& err);

} // namespace agentmem
