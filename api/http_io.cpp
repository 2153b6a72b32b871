#include "api/http_io.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "api/codec.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::api::http {

std::string clip(std::string_view s, size_t n) {
  if (s.size() <= n)
    return std::string{s};
  return std::string{s.substr(0, n)} + "...";
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  auto rest = target.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

void send_json(httplib::Response& res, int status, const ojson& body) {
  res.status = status;
  // Strings from the backend may hold invalid UTF-8; replace, don't throw.
  res.set_content(body.dump(-1, ' ', false, ojson::error_handler_t::replace),
                  "application/json");
}

void send_error(httplib::Response& res, int status, const char* code,
                const std::string& detail) {
  ojson body = ojson::object();
  body["error"] = code;
  body["detail"] = detail;
  send_json(res, status, body);
}

std::string detail_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  if (err.category() == errc_category)
    return to_string(static_cast<errc>(err.code()));
  return describe(err);
}

void send_backend_error(httplib::Response& res, const caf::error& err) {
  if (err && err.category() == errc_category) {
    switch (static_cast<errc>(err.code())) {
      case errc::invalid_request:
        return send_error(res, 400, "bad_request", detail_of(err));
      case errc::not_found:
        return send_error(res, 404, "not_found", detail_of(err));
      default:
        break;
    }
  }
  res.set_header("Retry-After", "1");
  send_error(res, 503, "unavailable", describe(err));
}

void send_bad_request(httplib::Response& res, const caf::error& err) {
  send_error(res, 400, "bad_request", detail_of(err));
}

const char* error_code_for(int status) {
  switch (status) {
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    default: return status >= 500 ? "unavailable" : "bad_request";
  }
}

void answer_internal_error(const httplib::Request& req,
                           httplib::Response& res, const char* what) noexcept {
  try {
    spdlog::error("api: {} {} failed: {}", req.method, clip(req.path, 100),
                  what);
  } catch (...) {
  }
  try {
    res.headers.clear();
    send_error(res, 503, "unavailable",
               "internal error while handling the request");
  } catch (...) {
    res.status = 503;
  }
}

ojson time_or_null(const std::optional<int64_t>& ms) {
  return ms ? ojson(domain::format_rfc3339_ms(*ms)) : ojson(nullptr);
}

size_t json_size(const ojson& item) {
  return item.dump(-1, ' ', false, ojson::error_handler_t::replace).size()
         + 1;
}

caf::error bad(std::string detail) {
  return make_error(errc::invalid_request, std::move(detail));
}

caf::expected<std::string> decode_id(const char* field, std::string_view raw) {
  auto decoded = percent_decode(raw, false);
  if (!decoded)
    return bad(std::string{field} + " has an invalid percent-encoding");
  if (auto err = check_id(field, *decoded))
    return err;
  return std::move(*decoded);
}

namespace {

// Calls f(raw key, decoded key, raw value) for each non-empty piece of the
// query string; stops at the first error f or the decoding returns.
template <class F>
caf::error for_each_param(std::string_view target, F&& f) {
  auto q = query_of(target);
  size_t pos = 0;
  while (pos <= q.size()) {
    auto amp = q.find('&', pos);
    auto piece = q.substr(pos, amp == std::string_view::npos ? amp : amp - pos);
    pos = amp == std::string_view::npos ? q.size() + 1 : amp + 1;
    if (piece.empty())
      continue;
    auto eq = piece.find('=');
    auto key = percent_decode(piece.substr(0, eq), true);
    if (!key)
      return bad("query string has an invalid percent-encoding");
    auto raw_val = eq == std::string_view::npos ? std::string_view{}
                                                : piece.substr(eq + 1);
    if (auto err = f(piece.substr(0, eq), *key, raw_val))
      return err;
  }
  return {};
}

caf::expected<std::string> decode_value(std::string_view raw) {
  auto val = percent_decode(raw, true);
  if (!val)
    return bad("query string has an invalid percent-encoding");
  return std::move(*val);
}

} // namespace

caf::expected<query_params>
parse_query(std::string_view target,
            std::initializer_list<std::string_view> allowed) {
  query_params out;
  auto err = for_each_param(target, [&](std::string_view raw_key,
                                        std::string& key,
                                        std::string_view raw_val) {
    auto val = decode_value(raw_val);
    if (!val)
      return val.error();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string names;
      for (auto a : allowed)
        names += (names.empty() ? "" : ", ") + std::string{a};
      return bad("unknown query parameter '" + clip(key, 64)
                 + "'; allowed: " + names);
    }
    if (!out.emplace(std::move(key), std::move(*val)).second)
      return bad("query parameter '" + std::string{raw_key}
                 + "' given more than once");
    return caf::error{};
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::string> query_param(std::string_view target,
                                       std::string_view name) {
  std::optional<std::string> found;
  auto err = for_each_param(target, [&](std::string_view, std::string& key,
                                        std::string_view raw_val) {
    if (key != name)
      return caf::error{};
    auto val = decode_value(raw_val);
    if (!val)
      return val.error();
    if (found)
      return bad("query parameter '" + std::string{name}
                 + "' given more than once");
    found = std::move(*val);
    return caf::error{};
  });
  if (err)
    return err;
  if (!found)
    return bad("query parameter " + std::string{name} + " is required");
  return std::move(*found);
}

std::optional<int> parse_small_int(const std::string& s) {
  if (s.empty() || s.size() > 6)
    return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

caf::expected<int> int_param(const query_params& q, const char* name, int lo,
                             int hi, int fallback) {
  auto it = q.find(name);
  if (it == q.end())
    return fallback;
  auto v = parse_small_int(it->second);
  if (!v || *v < lo || *v > hi)
    return bad(std::string{name} + " must be an integer between "
               + std::to_string(lo) + " and " + std::to_string(hi));
  return *v;
}

caf::expected<int64_t> parse_instant(const char* field, const std::string& s) {
  if (auto ms = domain::parse_rfc3339_ms(s))
    return *ms;
  std::string_view digits = s;
  bool neg = !digits.empty() && digits.front() == '-';
  if (neg)
    digits.remove_prefix(1);
  if (!digits.empty() && digits.size() <= 15
      && std::all_of(digits.begin(), digits.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t v = std::stoll(std::string{digits});
    v = neg ? -v : v;
    if (v >= domain::min_rfc3339_ms && v <= domain::max_rfc3339_ms)
      return v;
  }
  return bad(std::string{field}
             + " must be an RFC 3339 timestamp or integer epoch ms, got \""
             + clip(s, 40) + "\"");
}

body_result read_body(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, size_t limit,
                      bool keep) {
  body_result out;
  size_t total = 0;
  auto receive = [&](const char* data, size_t n) {
    if (n > limit - std::min(total, limit)) {
      out.too_large = true;
      return false;
    }
    total += n;
    if (keep)
      out.data.append(data, n);
    return true;
  };
  bool ok;
  if (req.is_multipart_form_data()) {
    out.multipart = true;
    ok = reader([](const httplib::MultipartFormData&) { return true; },
                receive);
  } else {
    ok = reader(receive);
  }
  if (res.status == 413) // httplib saw a Content-Length above the limit
    out.too_large = true;
  if (!ok && !out.too_large)
    out.failed = true;
  res.status = -1;
  return out;
}

} // namespace agentmem::api::http
