#include "api/codec.hpp"

#include <boost/test/unit_test.hpp>

#include "messages/errc.hpp"

using namespace agentmem::api;

namespace {

// 2023-05-08T13:56:00Z
constexpr int64_t may8 = 1'683'554'160'000;

} // namespace

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(utf8_length_counts_code_points_and_rejects_bad_bytes) {
  BOOST_TEST(utf8_length("").value() == 0u);
  BOOST_TEST(utf8_length("abc").value() == 3u);
  BOOST_TEST(utf8_length("\xC3\xA9t\xC3\xA9").value() == 3u);     // été
  BOOST_TEST(utf8_length("\xF0\x9F\x98\x80").value() == 1u);       // emoji
  BOOST_TEST(!utf8_length("\xC3").has_value());                   // truncated
  BOOST_TEST(!utf8_length("\x80").has_value());                   // stray
  BOOST_TEST(!utf8_length("\xC0\xAF").has_value());               // overlong
  BOOST_TEST(!utf8_length("\xED\xA0\x80").has_value());           // surrogate
  BOOST_TEST(!utf8_length("\xF4\x90\x80\x80").has_value());       // >10FFFF
}

BOOST_AUTO_TEST_CASE(ids_must_be_1_to_128_clean_characters) {
  BOOST_TEST(!check_id("user_id", "u-1"));
  BOOST_TEST(!check_id("user_id", std::string(128, 'x')));
  BOOST_TEST(!check_id("user_id", "a/b c"));
  auto err = check_id("user_id", "");
  BOOST_TEST(static_cast<bool>(err));
  BOOST_TEST(agentmem::describe(err).find("user_id must be 1-128")
             != std::string::npos);
  BOOST_TEST(static_cast<bool>(check_id("user_id", std::string(129, 'x'))));
  BOOST_TEST(static_cast<bool>(check_id("user_id", "a\tb")));
  BOOST_TEST(static_cast<bool>(check_id("user_id", "a\x7f")));
  BOOST_TEST(static_cast<bool>(check_id("user_id", "\xff")));
}

BOOST_AUTO_TEST_CASE(rfc3339_timestamps_parse_to_utc_ms) {
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
             == max_epoch_ms);
  BOOST_TEST(parse_rfc3339_ms("0000-01-01T00:00:00Z").value() == min_epoch_ms);
}

BOOST_AUTO_TEST_CASE(malformed_or_impossible_timestamps_are_rejected) {
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

BOOST_AUTO_TEST_CASE(ms_format_as_utc_with_three_fraction_digits) {
  BOOST_TEST(format_rfc3339_ms(may8) == "2023-05-08T13:56:00.000Z");
  BOOST_TEST(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  BOOST_TEST(format_rfc3339_ms(may8 + 7) == "2023-05-08T13:56:00.007Z");
  BOOST_TEST(format_rfc3339_ms(INT64_MAX) == "9999-12-31T23:59:59.999Z");
  BOOST_TEST(format_rfc3339_ms(INT64_MIN) == "0000-01-01T00:00:00.000Z");
  for (int64_t ms : {int64_t{0}, may8, int64_t{-86'400'001}, max_epoch_ms,
                     min_epoch_ms, int64_t{951'782'400'123}})
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

BOOST_AUTO_TEST_CASE(percent_decoding_is_strict_about_escapes) {
  BOOST_TEST(percent_decode("a%2Fb", false).value() == "a/b");
  BOOST_TEST(percent_decode("a%2fb%20c", false).value() == "a/b c");
  BOOST_TEST(percent_decode("a+b", false).value() == "a+b");
  BOOST_TEST(percent_decode("a+b", true).value() == "a b");
  BOOST_TEST(percent_decode("%C3%A9", false).value() == "\xC3\xA9");
  BOOST_TEST(percent_decode("%00", false).value() == std::string(1, '\0'));
  BOOST_TEST(!percent_decode("%", false).has_value());
  BOOST_TEST(!percent_decode("%2", false).has_value());
  BOOST_TEST(!percent_decode("%zz", false).has_value());
  BOOST_TEST(!percent_decode("abc%4", true).has_value());
}

BOOST_AUTO_TEST_CASE(json_nesting_depth_ignores_brackets_in_strings) {
  BOOST_TEST(json_nesting_depth("1", 16) == 0u);
  BOOST_TEST(json_nesting_depth(R"({"a":[1,{"b":[]}]})", 16) == 4u);
  BOOST_TEST(json_nesting_depth(R"({"a":"[[[[\"[[["})", 16) == 1u);
  BOOST_TEST(json_nesting_depth(std::string(1000000, '['), 16) == 17u);
  BOOST_TEST(json_nesting_depth("]]]][", 16) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
