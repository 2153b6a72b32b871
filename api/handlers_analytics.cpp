// Analytics routes: daily usage rollups (docs/api.md).

#include "api/routes.hpp"
#include "domain/timestamp.hpp"

namespace agentmem::api::handlers {

namespace {

using namespace http;

/// Longest usage window, in days, both ends included.
constexpr int64_t max_usage_days = 366;

} // namespace

void usage(call& c) {
  auto user_id = c.path_id("user_id");
  if (!user_id)
    return send_bad_request(c.res, user_id.error());
  auto q = parse_query(c.req.target, {"from", "to"});
  if (!q)
    return send_bad_request(c.res, q.error());
  auto from = q->find("from");
  auto to = q->find("to");
  if (from == q->end() || to == q->end())
    return send_error(c.res, 400, "bad_request",
                      "query parameters from and to (YYYY-MM-DD) are "
                      "required");
  auto from_day = domain::parse_day(from->second);
  if (!from_day)
    return send_error(c.res, 400, "bad_request",
                      "from must be a date YYYY-MM-DD, got \""
                        + clip(from->second, 32) + "\"");
  auto to_day = domain::parse_day(to->second);
  if (!to_day)
    return send_error(c.res, 400, "bad_request",
                      "to must be a date YYYY-MM-DD, got \""
                        + clip(to->second, 32) + "\"");
  if (*from_day > *to_day)
    return send_error(c.res, 400, "bad_request", "from must not be after to");
  if (*to_day - *from_day + 1 > max_usage_days)
    return send_error(c.res, 400, "bad_request",
                      "the range from..to may span at most "
                        + std::to_string(max_usage_days) + " days");
  auto uid = c.user();
  if (!uid)
    return;
  auto rows = c.be().usage(*uid, from->second, to->second);
  if (!rows)
    return send_backend_error(c.res, rows.error());
  ojson days = ojson::array();
  for (auto& r : *rows) {
    ojson j = ojson::object();
    j["day"] = r.day;
    j["agent_type"] = r.agent_type;
    j["activity_count"] = r.activity_count;
    j["error_count"] = r.error_count;
    j["total_processing_time_ms"] = r.total_processing_time_ms;
    j["tokens_used"] = r.tokens_used;
    j["files_uploaded"] = r.files_uploaded;
    days.push_back(std::move(j));
  }
  ojson out = ojson::object();
  out["user_id"] = *uid;
  out["from"] = from->second;
  out["to"] = to->second;
  out["days"] = std::move(days);
  send_json(c.res, 200, out);
}

} // namespace agentmem::api::handlers
