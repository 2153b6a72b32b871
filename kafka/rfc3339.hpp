#pragma once

#include <cstdint>
#include <string>

namespace agentmem::kafka {

/// Formats ms since the Unix epoch (UTC) as RFC 3339 with millisecond
/// precision and a "Z" offset, e.g. "2026-11-21T10:15:30.123Z".
std::string format_rfc3339_ms(int64_t epoch_ms);

/// Formats seconds since the Unix epoch (UTC) as RFC 3339 without
/// fractional seconds, e.g. "2023-05-08T13:56:00Z".
std::string format_rfc3339_s(int64_t epoch_s);

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12,
/// day 1..31; not range-checked). Negative before 1970.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);

} // namespace agentmem::kafka
