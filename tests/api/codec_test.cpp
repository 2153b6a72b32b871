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
