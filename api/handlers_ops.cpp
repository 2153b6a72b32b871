// Ops routes: liveness, readiness, Prometheus metrics, the OpenAPI
// document (docs/api.md).

#include <exception>

#include <spdlog/spdlog.h>

#include "api/openapi.hpp"
#include "api/routes.hpp"

namespace agentmem::api::handlers {

using namespace http;

void healthz(call& c) {
  send_json(c.res, 200, ojson{{"status", "ok"}});
}

void readyz(call& c) {
  std::string reason;
  try {
    reason = c.be().not_ready_reason();
  } catch (const std::exception& e) {
    spdlog::warn("api: readiness check threw: {}", e.what());
    reason = "readiness check failed";
  } catch (...) {
    reason = "readiness check failed";
  }
  if (reason.empty())
    return send_json(c.res, 200, ojson{{"status", "ready"}});
  ojson out = ojson::object();
  out["status"] = "not_ready";
  out["reason"] = reason;
  send_json(c.res, 503, out);
}

void metrics(call& c) {
  c.res.status = 200;
  c.res.set_content(c.srv.reg.render(),
                    "text/plain; version=0.0.4; charset=utf-8");
}

void openapi(call& c) {
  auto doc = openapi_json();
  c.res.status = 200;
  c.res.set_content(doc.data(), doc.size(), "application/json");
}

} // namespace agentmem::api::handlers
