#pragma once

// Small set-up pieces shared by test files (any test folder may include
// "tests/storage/fixtures.hpp"): a throw-away directory, a base activity,
// a base memory, and a byte-level search of a directory's files.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>

#include "messages/activity.hpp"
#include "messages/memory.hpp"

namespace agentmem::test {

/// A fresh directory /tmp/agentmem-test-XXXXXX (mkdtemp), removed with its
/// contents on destruction. Throws std::runtime_error when it cannot be
/// created.
struct temp_dir {
  std::filesystem::path path;

  temp_dir() {
    char tmpl[] = "/tmp/agentmem-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error(std::string{"mkdtemp "} + tmpl + " failed");
    path = tmpl;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// An activity `id` of `user` in `session` at `ts_ms` (ms since the epoch)
/// from agent type "chat" with role "user"; `klass` is both its event_type
/// and activity_class. Content, raw_json and the rest are left for the
/// caller.
inline activity chat_activity(const std::string& id, const std::string& user,
                              const std::string& session, int64_t ts_ms,
                              const std::string& klass) {
  activity a;
  a.event_id = id;
  a.ts_ms = ts_ms;
  a.user_id = user;
  a.event_type = a.activity_class = klass;
  a.session_id = session;
  a.agent_type = "chat";
  a.role = "user";
  return a;
}

/// A user message `id` ("turn <id>") of `user` in session "s1" at `ts_ms`
/// that arrived on `partition` of agent.activity.v1 (offset ts_ms).
inline activity partition_turn(const std::string& id, const std::string& user,
                               int32_t partition, int64_t ts_ms) {
  auto a = chat_activity(id, user, "s1", ts_ms, "message");
  a.content = "turn " + id;
  a.raw_json = "{}";
  a.source = {"agent.activity.v1", partition, ts_ms};
  return a;
}

/// A memory `id` with point id `point` and memory_type `type` of `user` in
/// session "s1", taken from event "ev-<id>", holding `text`. Timestamps,
/// importance and vector are left for the caller.
inline memory s1_memory(const std::string& id, uint64_t point,
                        const std::string& type, const std::string& user,
                        const std::string& text) {
  memory m;
  m.memory_id = id;
  m.point_id = point;
  m.memory_type = type;
  m.user_id = user;
  m.session_id = "s1";
  m.event_id = "ev-" + id;
  m.text = text;
  return m;
}

/// The whole content of file `p` (empty when it cannot be read).
inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// True when any regular file under `dir` (recursively) contains the bytes
/// of `needle`: the byte-level check that deleted data left a store's
/// files (SST, WAL, snapshots), not only its read path. False when `dir`
/// does not exist.
inline bool dir_contains(const std::filesystem::path& dir,
                         const std::string& needle) {
  namespace fs = std::filesystem;
  if (!fs::exists(dir))
    return false;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()
        && file_bytes(e.path()).find(needle) != std::string::npos)
      return true;
  return false;
}

} // namespace agentmem::test
