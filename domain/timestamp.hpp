#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentmem::domain {

/// Parses an RFC 3339 `date-time` into ms since the Unix epoch (UTC).
///
/// Shape: `YYYY-MM-DD` + separator (`T`, `t` or one space) + `hh:mm:ss` +
/// optional fraction (`.` and one or more digits, any length, truncated to
/// milliseconds) + mandatory offset (`Z`, `z`, or `+hh:mm` / `-hh:mm`; hh
/// 00-23, mm 00-59; `-00:00` counts as UTC). All fields have exactly the
/// digits shown. Ranges are checked: month 01-12, day 01 to the length of
/// the month (proleptic Gregorian leap years: 2024-02-29 is valid,
/// 2023-02-29 and 1900-02-29 are not), hour 00-23 (24:00:00 is rejected),
/// minute 00-59, second 00-60. A leap second (`:60`) is accepted as RFC 3339
/// allows and, like PostgreSQL does, lands on the first ms of the next
/// minute.
///
/// Returns std::nullopt when the text is not such a timestamp (including
/// leading/trailing whitespace or a missing offset). Years are 0000-9999.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

/// Formats ms since the Unix epoch (UTC) as RFC 3339 with exactly three
/// fractional digits and `Z`, e.g. 1683554160000 ->
/// "2023-05-08T13:56:00.000Z". Instants before 1970 are floored (−1 ms is
/// "1969-12-31T23:59:59.999Z"). Years outside 0000-9999 are printed with as
/// many digits (and sign) as needed, which is no longer RFC 3339.
std::string format_rfc3339_ms(int64_t ms);

} // namespace agentmem::domain
