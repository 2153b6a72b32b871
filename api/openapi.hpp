#pragma once

// The API contract, docs/openapi.yaml, as served at GET /openapi.json.

#include <string_view>

namespace agentmem::api {

/// docs/openapi.yaml as compact JSON (ASCII), converted when the project
/// was built (scripts/openapi-to-cpp.py), so it always matches the routes
/// this binary serves (tests/api/openapi_test.cpp).
std::string_view openapi_json();

} // namespace agentmem::api
