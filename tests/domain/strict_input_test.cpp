#include "domain/strict_input.hpp"

#include <string>

#include <boost/test/unit_test.hpp>

#include "domain/strict_json.hpp"
#include "messages/errc.hpp"

using namespace agentmem;
using namespace agentmem::domain::strict;
using namespace std::string_literals;

namespace {

bool ok(const caf::error& err) {
  return !err;
}

// The detail of a parse_json failure, "" on success.
std::string parse_error(const std::string& text, size_t depth = 16) {
  auto j = parse_json(text, depth, "request body");
  return j ? "" : describe(j.error());
}

} // namespace

BOOST_AUTO_TEST_SUITE(strict_input)

BOOST_AUTO_TEST_CASE(text_fields_check_utf8_length_controls_and_nul) {
  BOOST_TEST(ok(check_text("f", "h\xC3\xA9llo", 1, 5, false)));
  BOOST_TEST(describe(check_text("f", "h\xC3\xA9llo!", 1, 5, false))
               .find("f must be 1-5 characters long")
             != std::string::npos);
  BOOST_TEST(describe(check_text("f", "\xC3", 0, 5, false)).find("UTF-8")
             != std::string::npos);
  BOOST_TEST(describe(check_text("f", "a\tb", 1, 5, false)).find("control")
             != std::string::npos);
  BOOST_TEST(ok(check_text("f", "a\tb", 1, 5, true)));
  BOOST_TEST(describe(check_text("f", "a\0b"s, 1, 5, true)).find("NUL")
             != std::string::npos);
  BOOST_TEST(ok(check_id("user_id", std::string(max_id_chars, 'u'))));
  BOOST_TEST(!ok(check_id("user_id", std::string(max_id_chars + 1, 'u'))));
  BOOST_TEST(utf8_count("\xF0\x9F\x98\x80x") == 2u);
}

BOOST_AUTO_TEST_CASE(number_grammar_is_rfc_8259) {
  for (auto ok : {"0", "-0", "12", "1.5", "-1e10", "2E+3", "0.0e-1"})
    BOOST_TEST(json_number_grammar(ok), ok);
  for (auto bad : {"", "-", "01", "1.", ".5", "+1", "1e", "0x10", "NaN",
                   "1 ", "Infinity"})
    BOOST_TEST(!json_number_grammar(bad), bad);
}

BOOST_AUTO_TEST_CASE(json_documents_are_parsed_strictly) {
  BOOST_TEST(parse_error(R"({"a":{"b":[1,2.5,"x"]}})").empty());
  BOOST_TEST(parse_error("").find("request body is empty") != std::string::npos);
  BOOST_TEST(parse_error("{\"a\":\"x\0y\"}"s).find("NUL byte")
             != std::string::npos);
  BOOST_TEST(parse_error(R"({"a":1,"a":2})").find("duplicate field 'a'")
             != std::string::npos);
  // Same key in different objects is fine.
  BOOST_TEST(parse_error(R"({"a":{"a":1},"b":{"a":2}})").empty());
  BOOST_TEST(parse_error("[[[1]]]", 2).find("nested deeper than 2")
             != std::string::npos);
  BOOST_TEST(parse_error(R"({"a":01})").find("malformed JSON")
             != std::string::npos);
  BOOST_TEST(parse_error("{\"a\":\"\xC3\"}").find("malformed JSON")
             != std::string::npos);
  BOOST_TEST(parse_error(R"({"a":1} x)").find("malformed JSON")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
