#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace agentmem::storage {

/// Payload filter of a search. `user_id` is mandatory: every search is
/// scoped to one user.
struct vector_filter {
  std::string user_id;
  std::vector<std::string> memory_types; ///< empty: any
  std::string session_id;                ///< empty: any
  std::optional<int64_t> since_ms;       ///< inclusive
  std::optional<int64_t> until_ms;       ///< inclusive
};

/// A search hit: point id and score (higher is better).
struct scored_point {
  uint64_t point_id = 0;
  float score = 0;
};

/// Payloads of a collection's points (Qdrant's payload index, reduced to
/// what agentmem filters on): user_id, session_id and memory_type are
/// interned to dense ids so a payload is 20 bytes, and every user keeps the
/// list of its points, which is the cardinality estimate search planning
/// uses. Not thread-safe: the owning index locks.
class payload_store {
public:
  struct payload {
    uint32_t user;
    uint32_t session;
    uint32_t type;
    uint32_t length; ///< free per-point number (BM25: document length)
    int64_t ts_ms;
  };

  /// A filter resolved to interned ids; `empty` when it can match nothing.
  struct compiled_filter {
    bool empty = true;
    uint32_t user = 0;
    std::optional<uint32_t> session;
    std::vector<uint32_t> types;
    std::optional<int64_t> since_ms;
    std::optional<int64_t> until_ms;
  };

  /// Adds a point; false (nothing changed) when the id is already present.
  bool add(uint64_t id, const std::string& user, const std::string& session,
           const std::string& type, int64_t ts_ms, uint32_t length = 0);

  /// Changes the ts and length of a point in place (a memory updated in
  /// place keeps its id, user, session and type); false when absent.
  bool update(uint64_t id, int64_t ts_ms, uint32_t length = 0);

  bool contains(uint64_t id) const {
    return payloads_.count(id) > 0;
  }
  const payload* find(uint64_t id) const;
  size_t size() const {
    return payloads_.size();
  }

  /// Points of the filter's user (empty list when unknown).
  const std::vector<uint64_t>& user_points(const compiled_filter& f) const;
  /// Number of points of a user.
  size_t user_size(const std::string& user) const;

  compiled_filter compile(const vector_filter& f) const;
  bool matches(const payload& p, const compiled_filter& f) const;

  /// Binary (de)serialisation of one point: id, strings, ts, length.
  void write_point(std::ofstream& out, uint64_t id) const;
  /// Reads one point written by write_point and adds it; returns its id.
  std::optional<uint64_t> read_point(std::ifstream& in);

  /// Ids of `user`'s points with ts_ms <= cutoff_ms (user deletion).
  std::vector<uint64_t> user_points_until(const std::string& user,
                                          int64_t cutoff_ms) const;
  /// Removes the points present among `ids` (from the payloads and their
  /// user's list). Returns the ids actually removed.
  std::vector<uint64_t> remove(const std::vector<uint64_t>& ids);

  void clear();

private:
  struct interner {
    std::unordered_map<std::string, uint32_t> ids;
    std::vector<std::string> names;
    uint32_t get_or_add(const std::string& s);
    std::optional<uint32_t> find(const std::string& s) const;
  };
  interner users_, sessions_, types_;
  std::unordered_map<uint64_t, payload> payloads_;
  std::vector<std::vector<uint64_t>> user_points_;
};

/// Binary I/O helpers shared by the snapshot writers.
namespace io {
void write_str(std::ofstream& out, const std::string& s);
bool read_str(std::ifstream& in, std::string& s);
template <class T>
void write_pod(std::ofstream& out, const T& x) {
  out.write(reinterpret_cast<const char*>(&x), sizeof(T));
}
template <class T>
bool read_pod(std::ifstream& in, T& x) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&x), sizeof(T)));
}
} // namespace io

} // namespace agentmem::storage
