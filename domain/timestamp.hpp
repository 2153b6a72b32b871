#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentmem::domain {

/// First and last instants RFC 3339 can write (years 0000 and 9999), in ms
/// since the Unix epoch.
constexpr int64_t min_rfc3339_ms = -62'167'219'200'000;
constexpr int64_t max_rfc3339_ms = 253'402'300'799'999;

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
/// leading/trailing whitespace or a missing offset) or when the instant,
/// after applying the offset, falls outside years 0000-9999
/// ([min_rfc3339_ms, max_rfc3339_ms]).
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

/// Formats ms since the Unix epoch (UTC) as RFC 3339 with exactly three
/// fractional digits and `Z`, e.g. 1683554160000 ->
/// "2023-05-08T13:56:00.000Z". Instants before 1970 are floored (−1 ms is
/// "1969-12-31T23:59:59.999Z"); instants outside years 0000-9999 are
/// clamped to [min_rfc3339_ms, max_rfc3339_ms], so the output is always
/// valid RFC 3339.
std::string format_rfc3339_ms(int64_t ms);

/// A proleptic Gregorian calendar date.
struct civil_date {
  int64_t year;
  unsigned month; ///< 1..12
  unsigned day;   ///< 1..31
};

/// Days since 1970-01-01 of a date (H. Hinnant, "chrono-Compatible
/// Low-Level Date Algorithms", days_from_civil). No range check.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);

/// The date `days` days after 1970-01-01 (Hinnant's civil_from_days).
civil_date civil_from_days(int64_t days);

/// Parses a calendar day "YYYY-MM-DD" (exactly that shape, a real date)
/// into days since 1970-01-01; std::nullopt otherwise.
std::optional<int64_t> parse_day(std::string_view text);

/// UTC calendar date of a ms timestamp as "YYYY-MM-DD".
std::string utc_day(int64_t ts_ms);

} // namespace agentmem::domain
