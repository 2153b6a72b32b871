#include "api/backend.hpp"

#include "messages/errc.hpp"

namespace agentmem::api {

std::string format_partitions(const std::vector<int32_t>& ps) {
  std::string out;
  for (auto p : ps)
    out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

caf::expected<std::vector<int32_t>> parse_partitions(const std::string& s) {
  std::vector<int32_t> out;
  int64_t cur = -1;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ',') {
      if (cur < 0)
        return make_error(errc::invalid_request,
                          "partition list must be integers separated by ','");
      out.push_back(static_cast<int32_t>(cur));
      cur = -1;
    } else if (s[i] >= '0' && s[i] <= '9') {
      cur = (cur < 0 ? 0 : cur) * 10 + (s[i] - '0');
      if (cur > 1'000'000)
        return make_error(errc::invalid_request, "partition out of range");
    } else {
      return make_error(errc::invalid_request,
                        "partition list must be integers separated by ','");
    }
  }
  return out;
}

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

caf::expected<project_page>
backend::list_projects(const project_list_query& q) {
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

caf::expected<std::optional<relayed_reply>>
backend::route_read(routed_read, const std::string&, const read_context&) {
  return std::optional<relayed_reply>{};
}

caf::expected<search_answer> backend::routed_search(const search_request& req,
                                                    const read_context&) {
  auto hits = search(req);
  if (!hits)
    return hits.error();
  return search_answer{std::move(*hits), {}};
}

caf::expected<messages_answer>
backend::routed_session_messages(const std::string& user_id,
                                 const std::string& session_id, int limit,
                                 const read_context&) {
  auto msgs = session_messages(user_id, session_id, limit);
  if (!msgs)
    return msgs.error();
  return messages_answer{std::move(*msgs), {}};
}

} // namespace agentmem::api
