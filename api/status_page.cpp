#include "api/status_page.hpp"

#include <iterator>
#include <string>
#include <vector>

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

namespace {

// Every row of a listing: `fetch(page)` for each of its pages in turn.
template <class T, class Fetch>
caf::expected<std::vector<T>> every_row(page_request p, Fetch fetch) {
  std::vector<T> out;
  for (;;) {
    auto page = fetch(p);
    if (!page)
      return page.error();
    out.insert(out.end(), std::make_move_iterator(page->items.begin()),
               std::make_move_iterator(page->items.end()));
    if (!page->next)
      return out;
    p.after = std::move(page->next);
  }
}

/// Rows the page shows in its agent and tool tables (ui/app.js).
constexpr int top_rows = 20;

} // namespace

caf::expected<nlohmann::ordered_json> today_analytics(analytics_backend& be,
                                                      int64_t now_ms) {
  constexpr int64_t day_ms = 86'400'000;
  analytics_range r;
  r.from_ms = now_ms - ((now_ms % day_ms) + day_ms) % day_ms;
  r.to_ms = now_ms;
  r.scope.all = true;
  const page_request first{std::nullopt, 1000};
  // All agents: the page's totals add them up.
  auto agents = every_row<agent_summary>(first, [&](const page_request& p) {
    return be.agents(r, p);
  });
  if (!agents)
    return agents.error();
  auto tools = be.tools(r, page_request{std::nullopt, top_rows});
  if (!tools)
    return tools.error();
  auto costs = every_row<model_cost>(first, [&](const page_request& p) {
    return be.costs(r, p);
  });
  if (!costs)
    return costs.error();
  usage_query q;
  q.range = r;
  q.granularity = "hour";
  q.group_by = "agent_type";
  auto hourly = every_row<usage_bucket>(first, [&](const page_request& p) {
    q.page = p;
    return be.usage(q);
  });
  if (!hourly)
    return hourly.error();
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["from"] = domain::format_rfc3339_ms(r.from_ms);
  out["to"] = domain::format_rfc3339_ms(r.to_ms);
  out["agents"] = agents_json(*agents)["agents"];
  out["tools"] = tools_json(tools->items)["tools"];
  out["models"] = costs_json(*costs)["models"];
  out["hourly"] = usage_json(q, usage_page{std::move(*hourly), {}})["rows"];
  return out;
}

} // namespace agentmem::api
