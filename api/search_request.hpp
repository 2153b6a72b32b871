#pragma once

#include <cstddef>
#include <string_view>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "api/backend.hpp"

namespace agentmem::api {

/// Longest accepted search query, in Unicode code points.
constexpr size_t max_query_chars = 8192;

/// Largest accepted `top_k`.
constexpr int max_top_k = 100;

/// `top_k` when the request leaves it out (or sends null).
constexpr int default_top_k = 10;

/// Most entries accepted in `filter.memory_types`.
constexpr size_t max_memory_type_filters = 16;

/// Most entries accepted in `filter.tags`.
constexpr size_t max_tag_filters = 16;

/// Largest accepted `neighbors`.
constexpr int max_neighbors = 10;

/// Deepest JSON nesting accepted in a request body (the schema itself needs
/// 3); deeper documents are rejected before they are parsed.
constexpr size_t max_json_depth = 16;

/// Parses and validates the body of `POST /v1/memories/search`:
///
///     {"user_id": string 1-128, "query": string 1-8192,
///      "top_k": int 1-100 (default 10),
///      "mode": "vector" | "keyword" | "hybrid" (default "hybrid"),
///      "neighbors": int 0-10 (default 0),
///      "filter": {"memory_types": [string], "session_id": string 1-128,
///                 "since": RFC 3339 string | epoch ms int,
///                 "until": RFC 3339 string | epoch ms int,
///                 "tags": [string 1-128] (at most 16),
///                 "tags_match": "any" | "all" (default "any"),
///                 "agent_type": string 1-128, "agent_name": string 1-128,
///                 "project_id": string 1-128,
///                 "min_importance": number 0-1}}
///
/// Strict: unknown or duplicate fields, wrong JSON types, non-integer
/// numbers, unknown memory types, `since` after `until`, NUL bytes, invalid
/// UTF-8 and nesting deeper than max_json_depth are rejected. Optional
/// fields may be null (meaning absent). Lengths count code points.
///
/// Never throws: every failure, whatever the input, is an
/// errc::invalid_request error whose detail names the offending field.
caf::expected<search_request> parse_search_request(std::string_view body);

/// The same checks on a document already parsed by
/// domain::strict::parse_json (the server parses each body once).
caf::expected<search_request>
search_request_from_json(const nlohmann::json& doc);

} // namespace agentmem::api
