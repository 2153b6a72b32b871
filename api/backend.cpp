#include "api/backend.hpp"

#include "messages/errc.hpp"

namespace agentmem::api {

caf::expected<std::vector<memory_version>>
backend::memory_history(const std::string& user_id,
                        const std::string& memory_id) {
  return make_error(errc::not_found,
                    "this node keeps no memory history (memory " + memory_id
                      + ")");
}

caf::expected<working_memory_view>
backend::working_memory(const std::string& user_id,
                        const std::string& session_id) {
  return make_error(errc::not_found,
                    "this node keeps no working memory (session " + session_id
                      + ")");
}

caf::expected<std::vector<fact_row>> backend::facts(const fact_query& q) {
  return make_error(errc::not_found,
                    "this node keeps no facts (user " + q.user_id + ")");
}

caf::expected<std::vector<entity_row>>
backend::entities(const std::string& user_id, const std::string&, int) {
  return make_error(errc::not_found,
                    "this node keeps no graph memory (user " + user_id + ")");
}

caf::expected<entity_neighbors>
backend::neighbors(const std::string& user_id, const std::string&, int) {
  return make_error(errc::not_found,
                    "this node keeps no graph memory (user " + user_id + ")");
}

namespace {

caf::error no_memories(const std::string& user_id) {
  return make_error(errc::not_found,
                    "this node keeps no memory catalog (user " + user_id
                      + ")");
}

} // namespace

caf::expected<memory_record> backend::get_memory(const std::string& user_id,
                                                 const std::string&) {
  return no_memories(user_id);
}

caf::expected<memory_record>
backend::update_memory(const std::string& user_id, const std::string&,
                       const memory_patch&) {
  return no_memories(user_id);
}

caf::expected<memory_deletion>
backend::delete_memory(const std::string& user_id, const std::string&) {
  return no_memories(user_id);
}

caf::expected<memory_page> backend::list_memories(const memory_list_query& q) {
  return no_memories(q.user_id);
}

caf::expected<session_page>
backend::list_sessions(const session_list_query& q) {
  return no_memories(q.user_id);
}

caf::expected<deletion_report> backend::delete_user(const std::string&) {
  return make_error(errc::invalid_config,
                    "user deletion is not available on this node");
}

caf::expected<export_stream> backend::open_export(const std::string&) {
  return make_error(errc::invalid_config,
                    "user export is not available on this node");
}

} // namespace agentmem::api
