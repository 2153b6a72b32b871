#include "api/backend.hpp"

#include "messages/errc.hpp"

namespace agentmem::api {

caf::expected<deletion_report> backend::delete_user(const std::string&) {
  return make_error(errc::invalid_config,
                    "user deletion is not available on this node");
}

caf::expected<export_stream> backend::open_export(const std::string&) {
  return make_error(errc::invalid_config,
                    "user export is not available on this node");
}

} // namespace agentmem::api
