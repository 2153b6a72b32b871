#include "domain/strict_json.hpp"

#include <exception>
#include <unordered_set>
#include <vector>

#include "domain/strict_input.hpp"
#include "messages/errc.hpp"

namespace agentmem::domain::strict {

namespace {

using json = nlohmann::json;

caf::error bad(std::string detail) {
  return make_error(errc::invalid_request, std::move(detail));
}

std::string clip(std::string_view s, size_t n) {
  if (s.size() <= n)
    return std::string{s};
  return std::string{s.substr(0, n)} + "...";
}

caf::expected<json> parse_impl(std::string_view text, size_t max_depth,
                               const std::string& what) {
  if (text.empty())
    return bad(what + " is empty; expected a JSON object");
  if (has_nul(text))
    return bad(what + " contains a NUL byte");
  if (json_nesting_depth(text, max_depth) > max_depth)
    return bad("JSON is nested deeper than " + std::to_string(max_depth)
               + " levels");
  // Keys seen in each open object; the first repeated key wins the detail.
  std::vector<std::unordered_set<std::string>> seen;
  std::string duplicate;
  auto on_event = [&](int, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!seen.empty())
          seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (duplicate.empty() && !seen.empty() && parsed.is_string()) {
          auto& k = parsed.get_ref<const std::string&>();
          if (!seen.back().insert(k).second)
            duplicate = k;
        }
        break;
      default:
        break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.data(), text.data() + text.size(), on_event,
                      /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at ...".
    std::string msg = e.what();
    if (auto pos = msg.find("] "); pos != std::string::npos)
      msg.erase(0, pos + 2);
    return bad("malformed JSON: " + clip(msg, 300));
  }
  if (!duplicate.empty())
    return bad("duplicate field '" + clip(duplicate, 64) + "'");
  return doc;
}

} // namespace

caf::expected<json> parse_json(std::string_view text, size_t max_depth,
                               const std::string& what) {
  try {
    return parse_impl(text, max_depth, what);
  } catch (const std::exception& e) {
    return bad("could not process " + what + ": " + e.what());
  } catch (...) {
    return bad("could not process " + what);
  }
}

std::string describe_json_type(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a non-integer number";
    default: return "an unsupported value";
  }
}

} // namespace agentmem::domain::strict
