#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "messages/memory.hpp"
#include "storage/string_interner.hpp"

namespace agentmem::storage {

/// Payload filter of a search (all conditions ANDed). `user_id` is
/// mandatory: every search is scoped to one user.
struct vector_filter {
  std::string user_id;
  std::vector<std::string> memory_types; ///< empty: any; else any of these
  std::string session_id;                ///< empty: any
  std::optional<int64_t> since_ms;       ///< inclusive, ms since epoch
  std::optional<int64_t> until_ms;       ///< inclusive, ms since epoch
  /// Tags of the source event. Empty: no condition. Otherwise a point
  /// matches when it carries at least one of them (`tags_all` false) or
  /// every one of them (`tags_all` true).
  std::vector<std::string> tags;
  bool tags_all = false;
  /// Scope of the source event: exact matches, empty = any.
  std::string agent_type;
  std::string agent_name;
  std::string project_id;
  /// importance >= this (compared at float precision, as stored).
  std::optional<float> min_importance;
};

/// The scope and importance of a point (memory::agent_type, agent_name,
/// project_id, importance); empty strings when absent.
struct point_scope {
  std::string agent_type;
  std::string agent_name;
  std::string project_id;
  float importance = 0; ///< 0..1
};

/// The scope of a memory's point.
inline point_scope point_scope_of(const memory& m) {
  return {m.agent_type, m.agent_name, m.project_id,
          static_cast<float>(m.importance)};
}

/// A search hit: point id and score (higher is better).
struct scored_point {
  uint64_t point_id = 0;
  float score = 0;
};

/// Payloads of a collection's points with Qdrant-style payload indexes
/// (https://qdrant.tech/documentation/concepts/indexing/), kept per user
/// because every search is scoped to one user:
///   - keyword indexes (posting lists of point slots per value) for
///     `session_id`, `memory_type`, `tags`, `agent_type`, `agent_name` and
///     `project_id`, plus the user's own list;
///   - a range index for `ts` (points sorted by time, with a small
///     unsorted tail merged in when it grows past sqrt of the sorted part).
/// Strings are interned to dense ids; points get dense slots in insertion
/// order, so posting lists are ascending. The indexes give each condition's
/// cardinality (exact for one condition), which search planning uses
/// (plan()). Not thread-safe: the owning index locks.
class payload_store {
public:
  struct payload {
    uint32_t user;
    uint32_t session;
    uint32_t type;
    uint32_t length;    ///< free per-point number (BM25: document length)
    int64_t ts_ms;
    uint32_t tags_at;   ///< first tag id in the tag pool
    uint32_t tags_count;
    uint32_t agent_type; ///< interned scope values ("" when absent)
    uint32_t agent_name;
    uint32_t project;
    float importance;
  };

  /// A filter resolved to interned ids; `empty` when it can match nothing.
  struct compiled_filter {
    bool empty = true;
    uint32_t user = 0;
    std::optional<uint32_t> session;
    std::vector<uint32_t> types;
    std::optional<int64_t> since_ms;
    std::optional<int64_t> until_ms;
    std::vector<uint32_t> tags; ///< resolved tags (unknown ones dropped)
    bool tags_all = false;
    std::optional<uint32_t> agent_type, agent_name, project;
    std::optional<float> min_importance;
  };

  /// Which index a query plan iterates and what it expects to find.
  struct query_plan {
    /// The most selective condition's points (slots), or nullptr when the
    /// primary is the time range or a union of postings (see `slots`).
    const std::vector<uint32_t>* primary = nullptr;
    /// Primary candidates materialised (time range, type/tag unions).
    std::vector<uint32_t> slots;
    /// Upper bound of the number of matching points: the smallest
    /// condition cardinality (exact when the filter has one condition).
    size_t upper_bound = 0;
    /// Estimated matching points assuming independent conditions (Qdrant's
    /// estimation): user_size * prod(cardinality_i / user_size).
    double estimate = 0;
    /// Number of points of the user.
    size_t user_size = 0;
  };

  /// Adds a point; false (nothing changed) when the id is already present.
  bool add(uint64_t id, const std::string& user, const std::string& session,
           const std::string& type, int64_t ts_ms, uint32_t length = 0,
           const std::vector<std::string>& tags = {},
           const point_scope& scope = {});

  /// Changes the ts and length of a point in place (a memory updated in
  /// place keeps its id, user, session and type); false when absent.
  bool update(uint64_t id, int64_t ts_ms, uint32_t length = 0);

  /// Replaces the tags and importance of a point (a memory changed in
  /// place: through the API, a near duplicate); false when absent or
  /// nothing changed.
  bool set_labels(uint64_t id, const std::vector<std::string>& tags,
                  float importance);

  /// Sets the importance of a point (a memory changed in place); false
  /// when absent.
  bool set_importance(uint64_t id, float importance) {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end())
      return false;
    slots_[it->second].importance = importance;
    return true;
  }

  /// The scope and importance of a point; nullopt when absent.
  std::optional<point_scope> scope_of(uint64_t id) const;

  bool contains(uint64_t id) const {
    return slot_of_.count(id) > 0;
  }
  const payload* find(uint64_t id) const;
  /// Number of (live) points.
  size_t size() const {
    return slot_of_.size();
  }
  /// Point id of a slot (slots are 0..slots-1; removed points keep theirs).
  uint64_t id_of(uint32_t slot) const {
    return ids_[slot];
  }
  const payload& at(uint32_t slot) const {
    return slots_[slot];
  }

  /// Number of points of a user.
  size_t user_size(const std::string& user) const;
  /// Oldest and newest ts (ms) of a user's points; nullopt without any.
  std::optional<std::pair<int64_t, int64_t>>
  user_time_span(const std::string& user) const;
  /// Number of points of the filter's user (0 for an empty filter).
  size_t user_size(const compiled_filter& f) const;

  compiled_filter compile(const vector_filter& f) const;
  bool matches(const payload& p, const compiled_filter& f) const;

  /// Cardinality estimation: picks the condition with the fewest points
  /// as primary (its posting list, or the time range of the ts index).
  query_plan plan(const compiled_filter& f) const;
  /// Calls fn(slot) for every point matching `f`, walking plan's primary
  /// and checking the other conditions on the payload.
  template <class F>
  void for_each_match(const compiled_filter& f, const query_plan& p,
                      F&& fn) const {
    const auto& cands = p.primary ? *p.primary : p.slots;
    for (auto s : cands)
      if (matches(slots_[s], f))
        fn(s);
  }

  /// The conversation turns of a point's session, ordered by (ts, id), as
  /// point ids: up to n before the point and up to n after it (the point
  /// itself excluded). Empty lists for an unknown point.
  void session_turns(uint64_t id, size_t n, const std::string& turn_type,
                     std::vector<uint64_t>& before,
                     std::vector<uint64_t>& after) const;

  /// The turns right before and after each point in its session (same
  /// order as session_turns: by (ts, id), points of `turn_type` only).
  /// Each session is sorted once, however many of its points are asked.
  struct adjacent {
    bool has_prev = false, has_next = false;
    uint64_t prev = 0, next = 0;
  };
  std::vector<adjacent> adjacent_turns(const std::vector<uint64_t>& ids,
                                       const std::string& turn_type) const;

  /// Binary (de)serialisation of one point: id, strings, ts, length, tags,
  /// scope strings, importance.
  void write_point(std::ofstream& out, uint64_t id) const;
  /// Reads one point written by write_point and adds it; returns its id.
  std::optional<uint64_t> read_point(std::ifstream& in);

  /// Ids of `user`'s points with ts_ms <= cutoff_ms (user deletion).
  std::vector<uint64_t> user_points_until(const std::string& user,
                                          int64_t cutoff_ms) const;
  /// Ids of every (live) point, unordered.
  std::vector<uint64_t> point_ids() const;
  /// Users with at least one (live) point, unordered.
  std::vector<std::string> users() const;
  /// Users ever interned, in interning order: a user is interned with its
  /// first point and stays until clear() (also when its points are gone).
  const std::vector<std::string>& interned_users() const {
    return users_.strings();
  }

  /// Removes the points present among `ids` (from the payloads and their
  /// user's list). Returns the ids actually removed.
  std::vector<uint64_t> remove(const std::vector<uint64_t>& ids);

  void clear();

private:
  /// Range index over ts: `sorted` by (ts, slot) plus an unsorted `tail`.
  struct ts_index {
    std::vector<std::pair<int64_t, uint32_t>> sorted;
    std::vector<std::pair<int64_t, uint32_t>> tail;
    void add(int64_t ts, uint32_t slot);
    /// Drops the entries of these slots.
    void erase(const std::vector<uint32_t>& slots);
    /// Slots with ts in [since, until].
    void range(std::optional<int64_t> since, std::optional<int64_t> until,
               std::vector<uint32_t>& out) const;
    size_t count(std::optional<int64_t> since,
                 std::optional<int64_t> until) const;
  };
  struct user_index {
    std::vector<uint32_t> points;
    std::unordered_map<uint32_t, std::vector<uint32_t>> sessions;
    std::unordered_map<uint32_t, std::vector<uint32_t>> types;
    std::unordered_map<uint32_t, std::vector<uint32_t>> tags;
    std::unordered_map<uint32_t, std::vector<uint32_t>> agent_types;
    std::unordered_map<uint32_t, std::vector<uint32_t>> agent_names;
    std::unordered_map<uint32_t, std::vector<uint32_t>> projects;
    ts_index ts;
  };
  string_interner users_, sessions_, types_, tags_;
  string_interner scopes_; ///< agent types, agent names and projects
  std::vector<payload> slots_;
  std::vector<uint64_t> ids_;
  std::vector<uint32_t> tag_pool_;
  std::unordered_map<uint64_t, uint32_t> slot_of_;
  std::vector<user_index> users_idx_;
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
