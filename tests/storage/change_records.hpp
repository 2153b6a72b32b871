#pragma once

// Reading records of agent.memory.v1 (docs/events.md) in tests.

#include <string>

#include <nlohmann/json.hpp>

namespace agentmem::test {

/// "<op> <memory_id> <version>" of a change record ("-" for a field it
/// lacks: USER_DELETED has neither), plus " <source>" when asked.
inline std::string change_summary(const nlohmann::json& v,
                                  bool with_source = false) {
  std::string out = v.at("op").get<std::string>() + " "
                    + v.value("memory_id", std::string{"-"}) + " "
                    + (v.contains("version")
                         ? std::to_string(v.at("version").get<int>())
                         : std::string{"-"});
  if (with_source)
    out += " " + v.at("source").get<std::string>();
  return out;
}

} // namespace agentmem::test
