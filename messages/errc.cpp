#include "messages/errc.hpp"

#include <caf/message.hpp>

namespace agentmem {

const char* to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::invalid_config: return "invalid_config";
    case errc::postgres_error: return "postgres_error";
    case errc::rocksdb_error: return "rocksdb_error";
    case errc::kafka_error: return "kafka_error";
    case errc::index_error: return "index_error";
    case errc::io_error: return "io_error";
    case errc::invalid_request: return "invalid_request";
    case errc::not_found: return "not_found";
    case errc::timeout: return "timeout";
    case errc::data_rejected: return "data_rejected";
  }
  return "unknown";
}

caf::error make_error(errc x, std::string detail) {
  return caf::error{static_cast<uint8_t>(x), errc_category,
                    caf::make_message(std::move(detail))};
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  std::string out;
  if (err.category() == errc_category)
    out = to_string(static_cast<errc>(err.code()));
  else
    out = "error " + std::to_string(err.code()) + " of category "
          + caf::to_string(err.category());
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    out += ": " + ctx.get_as<std::string>(0);
  return out;
}

} // namespace agentmem
