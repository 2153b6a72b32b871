#pragma once

// The built-in status page (GET /ui on the ops listener; docs/operations.md
// "Status page"): its files, compiled in from ui/ by ui/CMakeLists.txt, and
// the JSON of today's analytics that the page loads with an admin token.

#include <cstdint>
#include <optional>
#include <string_view>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "api/analytics.hpp"

namespace agentmem::api {

/// One file of the page.
struct ui_asset {
  std::string_view content_type;
  std::string_view body;
};

/// The file served at /ui/<name> ("" or "index.html": the page itself),
/// or nullopt. uPlot's files exist only when npm was available at build
/// time (see ui/CMakeLists.txt).
std::optional<ui_asset> find_ui_asset(std::string_view name);

/// GET /ui/api/today: today's (UTC midnight to `now_ms`) summaries in the
/// rows of /v1/analytics/agents (every agent, all pages), /tools (the
/// first page of 20: the page shows the top 20) and /costs (every model),
/// and events per hour by agent type (every row), for every user (the
/// caller checks that the token is an admin's). Errors: the backend's.
caf::expected<nlohmann::ordered_json> today_analytics(analytics_backend& be,
                                                      int64_t now_ms);

} // namespace agentmem::api
