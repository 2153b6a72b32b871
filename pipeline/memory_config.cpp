#include "pipeline/memory_config.hpp"

#include <string>

#include "messages/errc.hpp"

namespace agentmem::pipeline {

namespace {

caf::error invalid(const char* key, const std::string& what) {
  return make_error(errc::invalid_config,
                    std::string{"memory."} + key + " must be " + what);
}

caf::error read_bool(const toml::table& t, const char* key, bool& out) {
  auto node = t["memory"][key];
  if (!node)
    return caf::none;
  auto v = node.value<bool>();
  if (!v)
    return invalid(key, "true or false");
  out = *v;
  return caf::none;
}

caf::error read_unit(const toml::table& t, const char* key, double& out) {
  auto node = t["memory"][key];
  if (!node)
    return caf::none;
  auto v = node.value<double>();
  if (!v || *v < 0 || *v > 1)
    return invalid(key, "a number in 0..1");
  out = *v;
  return caf::none;
}

template <class T>
caf::error read_int(const toml::table& t, const char* key, T& out, int64_t lo,
                    int64_t hi) {
  auto node = t["memory"][key];
  if (!node)
    return caf::none;
  auto v = node.value<int64_t>();
  if (!v || *v < lo || *v > hi)
    return invalid(key, "an integer in " + std::to_string(lo) + ".."
                          + std::to_string(hi));
  out = static_cast<T>(*v);
  return caf::none;
}

} // namespace

caf::error read_memory_settings(const toml::table& t, memory_settings& out) {
  constexpr int64_t day_ms = 86'400'000;
  int64_t sweep_ms = out.working_sweep.count();
  for (auto err :
       {read_bool(t, "dedup", out.dedup.enabled),
        read_unit(t, "dedup_min_cosine", out.dedup.min_cosine),
        read_unit(t, "dedup_min_jaccard", out.dedup.min_jaccard),
        read_int(t, "working_memory_ttl_ms", out.working.ttl_ms, 1000,
                 365 * day_ms),
        read_int(t, "working_memory_items", out.working.max_items, 1, 1000),
        read_int(t, "working_memory_sweep_ms", sweep_ms, 100, day_ms),
        read_int(t, "summary_every_messages", out.rolling.every_messages, 0,
                 100000),
        read_int(t, "summary_every_ms", out.rolling.every_ms, 0,
                 365 * day_ms)})
    if (err)
      return err;
  out.working_sweep = std::chrono::milliseconds{sweep_ms};
  return caf::none;
}

} // namespace agentmem::pipeline
