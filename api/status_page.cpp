#include "api/status_page.hpp"

#include <string>

#include "api/analytics_codec.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::api {

namespace detail {

// Defined in <build>/ui/ui_assets.cpp (ui/embed_ui.cmake).
struct ui_file {
  const char* path;
  const char* content_type;
  const unsigned char* data;
  std::size_t size;
};
extern const ui_file ui_files[];
extern const std::size_t ui_file_count;

} // namespace detail

std::optional<ui_asset> find_ui_asset(std::string_view name) {
  if (name.empty())
    name = "index.html";
  for (std::size_t i = 0; i < detail::ui_file_count; ++i) {
    auto& f = detail::ui_files[i];
    if (name == f.path)
      return ui_asset{f.content_type,
                      {reinterpret_cast<const char*>(f.data), f.size}};
  }
  return std::nullopt;
}

caf::expected<nlohmann::ordered_json> today_analytics(analytics_backend& be,
                                                      int64_t now_ms) {
  constexpr int64_t day_ms = 86'400'000;
  analytics_range r;
  r.from_ms = now_ms - ((now_ms % day_ms) + day_ms) % day_ms;
  r.to_ms = now_ms;
  r.scope.all = true;
  auto agents = be.agents(r);
  if (!agents)
    return agents.error();
  auto tools = be.tools(r);
  if (!tools)
    return tools.error();
  auto costs = be.costs(r);
  if (!costs)
    return costs.error();
  usage_query q;
  q.range = r;
  q.granularity = "hour";
  q.group_by = "agent_type";
  q.limit = 24 * 64;
  auto hourly = be.usage(q);
  if (!hourly)
    return hourly.error();
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["from"] = domain::format_rfc3339_ms(r.from_ms);
  out["to"] = domain::format_rfc3339_ms(r.to_ms);
  out["agents"] = agents_json(*agents)["agents"];
  out["tools"] = tools_json(*tools)["tools"];
  out["models"] = costs_json(*costs)["models"];
  out["hourly"] = usage_json(q, *hourly)["rows"];
  return out;
}

} // namespace agentmem::api
