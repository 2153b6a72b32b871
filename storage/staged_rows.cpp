#include "storage/staged_rows.hpp"

namespace agentmem::storage::detail {

void append_array_element(std::string& out, std::string_view s) {
  out += '"';
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  for (; p != end; ++p) {
    if (*p != '"' && *p != '\\')
      continue;
    out.append(run, p);
    out += '\\';
    out += *p;
    run = p + 1;
  }
  out.append(run, end);
  out += '"';
}

void append_text_array_literal(std::string& out,
                               const std::vector<std::string>& xs) {
  out += '{';
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    append_array_element(out, xs[i]);
  }
  out += '}';
}

staged_rows::staged_rows(std::vector<column> columns)
  : columns_(std::move(columns)), arrays_(columns_.size()) {
}

void staged_rows::field(const bytea_floats& v) {
  if (v.values.empty())
    return field(nullptr);
  auto& a = next();
  a += "\"\\\\x"; // the element "\x...", its backslash escaped
  append_float_hex(a, v.values);
  a += '"';
}

std::string staged_rows::from(const std::string& alias, int first) const {
  std::string args, names;
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) {
      args += ", ";
      names += ", ";
    }
    args += '$' + std::to_string(first + static_cast<int>(i)) + "::"
            + columns_[i].type + "[]";
    names += columns_[i].name;
  }
  return "unnest(" + args + ") AS " + alias + "(" + names + ")";
}

std::vector<std::string> staged_rows::params() const {
  std::vector<std::string> out;
  out.reserve(arrays_.size());
  for (auto& a : arrays_)
    out.push_back(rows_ == 0 ? std::string{"{}"} : a + '}');
  return out;
}

} // namespace agentmem::storage::detail
