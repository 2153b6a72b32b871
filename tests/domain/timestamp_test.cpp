#include "domain/timestamp.hpp"

#include <boost/test/unit_test.hpp>

using agentmem::domain::format_rfc3339_ms;
using agentmem::domain::parse_rfc3339_ms;
using namespace agentmem::domain;

namespace {

// 2023-05-08T13:56:00Z
constexpr int64_t may8 = 1'683'554'160'000;

} // namespace

BOOST_AUTO_TEST_SUITE(timestamp)

BOOST_AUTO_TEST_CASE(utc_timestamps_parse_to_ms_since_the_epoch) {
  BOOST_TEST(parse_rfc3339_ms("1970-01-01T00:00:00Z").value() == 0);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00Z").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2000-01-01T00:00:00Z").value()
             == 946'684'800'000);
  BOOST_TEST(parse_rfc3339_ms("9999-12-31T23:59:59.999Z").value()
             == 253'402'300'799'999);
  BOOST_TEST(parse_rfc3339_ms("1969-12-31T23:59:59.999Z").value() == -1);
}

BOOST_AUTO_TEST_CASE(offsets_convert_to_the_right_utc_instant) {
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T15:56:00+02:00").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T08:26:00-05:30").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00+00:00").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00-00:00").value() == may8);
  // Crossing a day boundary backwards and forwards.
  BOOST_TEST(parse_rfc3339_ms("2023-05-09T00:56:00+11:00").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-07T23:56:00-14:00").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2024-01-01T00:30:00+01:00").value()
             == parse_rfc3339_ms("2023-12-31T23:30:00Z").value());
}

BOOST_AUTO_TEST_CASE(separator_and_zone_letters_may_be_lowercase_or_a_space) {
  BOOST_TEST(parse_rfc3339_ms("2023-05-08t13:56:00z").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08 13:56:00Z").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08 15:56:00+02:00").value() == may8);
}

BOOST_AUTO_TEST_CASE(fractional_seconds_of_any_length_truncate_to_ms) {
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.1Z").value() == may8 + 100);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.12Z").value() == may8 + 120);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.123Z").value()
             == may8 + 123);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.123999999999Z").value()
             == may8 + 123);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.9999+00:00").value()
             == may8 + 999);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.000000Z").value() == may8);
}

BOOST_AUTO_TEST_CASE(leap_days_follow_the_gregorian_rules) {
  BOOST_TEST(parse_rfc3339_ms("2024-02-29T00:00:00Z").has_value());
  BOOST_TEST(parse_rfc3339_ms("2000-02-29T00:00:00Z").has_value());
  BOOST_TEST(!parse_rfc3339_ms("2023-02-29T00:00:00Z"));
  BOOST_TEST(!parse_rfc3339_ms("1900-02-29T00:00:00Z"));
  BOOST_TEST(!parse_rfc3339_ms("2024-02-30T00:00:00Z"));
  BOOST_TEST(parse_rfc3339_ms("2024-03-01T00:00:00Z").value()
             - parse_rfc3339_ms("2024-02-28T00:00:00Z").value()
             == 2 * 86'400'000);
}

BOOST_AUTO_TEST_CASE(a_leap_second_lands_on_the_next_minute) {
  BOOST_TEST(parse_rfc3339_ms("2016-12-31T23:59:60Z").value()
             == parse_rfc3339_ms("2017-01-01T00:00:00Z").value());
}

BOOST_AUTO_TEST_CASE(out_of_range_fields_are_rejected) {
  for (const char* s : {
         "2023-13-01T00:00:00Z", // month 13
         "2023-00-10T00:00:00Z", // month 0
         "2023-01-00T00:00:00Z", // day 0
         "2023-01-32T00:00:00Z", // day 32
         "2023-04-31T00:00:00Z", // April has 30 days
         "2023-06-31T00:00:00Z", // June has 30 days
         "2023-05-08T24:00:00Z", // hour 24
         "2023-05-08T23:60:00Z", // minute 60
         "2023-05-08T23:59:61Z", // second 61
         "2023-05-08T13:56:00+24:00", // offset hour 24
         "2023-05-08T13:56:00+02:60", // offset minute 60
       }) {
    BOOST_TEST_CONTEXT(s) {
      BOOST_TEST(!parse_rfc3339_ms(s));
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_text_is_rejected) {
  for (const char* s : {
         "",
         "2023-05-08",
         "2023-05-08T13:56:00",          // no offset
         "2023-05-08T13:56Z",            // no seconds
         "2023-05-08T13:56:00.Z",        // empty fraction
         "2023-05-08T13:56:00,5Z",       // comma fraction
         "2023-5-08T13:56:00Z",          // one-digit month
         "23-05-08T13:56:00Z",           // two-digit year
         "2023/05/08T13:56:00Z",         // wrong date separator
         "2023-05-08X13:56:00Z",         // wrong separator
         "2023-05-08T13:56:00+0200",     // offset without colon
         "2023-05-08T13:56:00+02",       // short offset
         "2023-05-08T13:56:00+02:00:00", // offset with seconds
         "2023-05-08T13:56:00UTC",       // zone name
         " 2023-05-08T13:56:00Z",        // leading space
         "2023-05-08T13:56:00Z ",        // trailing space
         "2023-05-08T13:56:00ZZ",        // trailing garbage
         "+2023-05-08T13:56:00Z",        // signed year
         "2023-05-08T1a:56:00Z",         // letter in hour
       }) {
    BOOST_TEST_CONTEXT("'" << s << "'") {
      BOOST_TEST(!parse_rfc3339_ms(s));
    }
  }
}

BOOST_AUTO_TEST_CASE(formatting_prints_utc_with_three_fraction_digits) {
  BOOST_TEST(format_rfc3339_ms(may8) == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  BOOST_TEST(format_rfc3339_ms(may8 + 7) == "2023-05-08T13:56:00.007Z");
  BOOST_TEST(format_rfc3339_ms(951'782'400'000) == "2000-02-29T00:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(formatting_and_parsing_round_trip) {
  // Steps of a prime number of ms cover many days, hours and fractions.
  for (int64_t ms = -86'400'000LL * 366 * 3; ms < 86'400'000LL * 366 * 60;
       ms += 9'876'543'211LL) {
    auto text = format_rfc3339_ms(ms);
    BOOST_TEST_CONTEXT(text) {
      BOOST_TEST(parse_rfc3339_ms(text).value() == ms);
    }
  }
}

BOOST_AUTO_TEST_CASE(rfc3339_timestamps_parse_to_utc_ms_across_the_whole_range) {
  BOOST_TEST(parse_rfc3339_ms("1970-01-01T00:00:00Z").value() == 0);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00Z").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08t13:56:00z").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08 13:56:00Z").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T15:56:00+02:00").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T08:26:00-05:30").value() == may8);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.1Z").value()
             == may8 + 100);
  BOOST_TEST(parse_rfc3339_ms("2023-05-08T13:56:00.123999Z").value()
             == may8 + 123);
  BOOST_TEST(parse_rfc3339_ms("1969-12-31T23:59:59.999Z").value() == -1);
  BOOST_TEST(parse_rfc3339_ms("2016-12-31T23:59:60Z").value()
             == parse_rfc3339_ms("2017-01-01T00:00:00Z").value());
  BOOST_TEST(parse_rfc3339_ms("2024-02-29T00:00:00Z").has_value());
  BOOST_TEST(parse_rfc3339_ms("9999-12-31T23:59:59.999Z").value()
             == max_rfc3339_ms);
  BOOST_TEST(parse_rfc3339_ms("0000-01-01T00:00:00Z").value() == min_rfc3339_ms);
}

BOOST_AUTO_TEST_CASE(malformed_or_impossible_timestamps_are_rejected_too) {
  for (const char* bad :
       {"", "2023-05-08", "2023-05-08T13:56:00", "2023-05-08T13:56Z",
        "2023-5-08T13:56:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z", "2023-05-08T24:00:00Z",
        "2023-05-08T13:60:00Z", "2023-05-08T13:56:61Z", "2023-05-08T13:56:00.Z",
        "2023-05-08T13:56:00+0200", "2023-05-08T13:56:00+24:00",
        " 2023-05-08T13:56:00Z", "2023-05-08T13:56:00Z ",
        "0000-01-01T00:00:00+00:01", "+2023-05-08T13:56:00Z"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_TEST(!parse_rfc3339_ms(bad).has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(formatting_clamps_to_years_0000_to_9999_and_round_trips) {
  BOOST_TEST(format_rfc3339_ms(may8) == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  BOOST_TEST(format_rfc3339_ms(may8 + 7) == "2023-05-08T13:56:00.007Z");
  BOOST_TEST(format_rfc3339_ms(INT64_MAX) == "9999-12-31T23:59:59.999Z");
  BOOST_TEST(format_rfc3339_ms(INT64_MIN) == "0000-01-01T00:00:00.000Z");
  for (int64_t ms : {int64_t{0}, may8, int64_t{-86'400'001}, max_rfc3339_ms,
                     min_rfc3339_ms, int64_t{951'782'400'123}})
    BOOST_TEST(parse_rfc3339_ms(format_rfc3339_ms(ms)).value() == ms);
}

BOOST_AUTO_TEST_CASE(days_parse_only_as_real_yyyy_mm_dd_dates) {
  BOOST_TEST(parse_day("1970-01-01").value() == 0);
  BOOST_TEST(parse_day("2023-05-08").value() == 19485);
  BOOST_TEST(parse_day("2024-02-29").value() - parse_day("2024-02-28").value()
             == 1);
  for (const char* bad : {"", "2023-5-8", "2023-02-29", "2023-05-08T00:00:00Z",
                          "20230508", "2023-05-32", "2023/05/08",
                          "2023-05-08 "})
    BOOST_TEST(!parse_day(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(utc_day_handles_epoch_leap_years_and_negative_times) {
  BOOST_TEST(utc_day(0) == "1970-01-01");
  BOOST_TEST(utc_day(-1) == "1969-12-31");
  BOOST_TEST(utc_day(951'782'400'000) == "2000-02-29");
  BOOST_TEST(utc_day(1'709'251'199'999) == "2024-02-29");
  BOOST_TEST(utc_day(1'709'251'200'000) == "2024-03-01");
}

BOOST_AUTO_TEST_CASE(civil_dates_round_trip_through_day_numbers) {
  for (int64_t d = -800'000; d <= 800'000; d += 997) {
    auto c = civil_from_days(d);
    BOOST_TEST(days_from_civil(c.year, c.month, c.day) == d);
  }
}

BOOST_AUTO_TEST_SUITE_END()
