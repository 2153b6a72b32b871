#pragma once

// Checks that the tests of this folder make on secrets in output.

#include <stdexcept>
#include <string>

#include "messages/errc.hpp"
#include "storage/pg_programs.hpp"

namespace agentmem::test {

/// The password of a Postgres URL ("" when it has none, e.g. an
/// $AGENTMEM_TEST_PG_URL relying on ~/.pgpass). Throws when it does not
/// parse.
inline std::string password_of(const std::string& url) {
  auto t = storage::split_password(url);
  if (!t)
    throw std::runtime_error(describe(t.error()));
  return t->password;
}

/// True when `text` contains the (non-empty) `secret`.
inline bool shows(const std::string& text, const std::string& secret) {
  return !secret.empty() && text.find(secret) != std::string::npos;
}

} // namespace agentmem::test
