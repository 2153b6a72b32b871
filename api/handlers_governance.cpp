// Governance routes: user deletion and export (docs/api.md,
// docs/data-governance.md).

#include <exception>
#include <memory>

#include <spdlog/spdlog.h>

#include "api/routes.hpp"
#include "domain/timestamp.hpp"
#include "messages/errc.hpp"

namespace agentmem::api::handlers {

using namespace http;

void delete_user(call& c) {
  auto user_id = c.user();
  if (!user_id)
    return;
  auto rep = c.be().delete_user(*user_id);
  if (!rep)
    return send_backend_error(c.res, rep.error());
  ojson tables = ojson::object();
  int64_t rows = 0;
  for (auto& [table, n] : rep->postgres) {
    tables[table] = n;
    rows += n;
  }
  ojson out = ojson::object();
  out["user_id"] = rep->user_id;
  out["deleted_at"] = domain::format_rfc3339_ms(rep->deleted_at_ms);
  out["tombstone_cutoff"] = domain::format_rfc3339_ms(rep->cutoff_ms);
  out["deletion_seq"] = rep->deletion_seq;
  out["postgres"] = ojson{{"rows", rows}, {"tables", std::move(tables)}};
  out["vector_index"] = ojson{{"points", rep->vectors}};
  out["keyword_index"] = ojson{{"documents", rep->keyword_docs}};
  out["rocksdb"] = ojson{{"buffered_messages", rep->hot_messages},
                         {"sessions", rep->hot_sessions},
                         {"memory_docs", rep->hot_docs}};
  out["working_memory"] = ojson{{"items", rep->working_items},
                                {"sessions", rep->working_sessions}};
  out["embedding_cache"] = ojson{{"cleared", rep->embedding_caches_cleared > 0}};
  send_json(c.res, 200, out);
}

void export_user(call& c) {
  auto user_id = c.user();
  if (!user_id)
    return;
  auto stream = c.be().open_export(*user_id);
  if (!stream)
    return send_backend_error(c.res, stream.error());
  c.res.status = 200;
  // Chunked: rows go out as the backend's cursor pages them in; a failure
  // part-way ends the stream with an {"error": ...} line (the status is
  // already sent).
  auto fn = std::make_shared<export_stream>(std::move(*stream));
  c.res.set_chunked_content_provider(
    "application/x-ndjson", [fn](size_t, httplib::DataSink& sink) {
      caf::error err;
      try {
        err = (*fn)([&sink](const std::string& line) {
          return sink.is_writable() && sink.write(line.data(), line.size());
        });
      } catch (const std::exception& e) {
        err = make_error(errc::io_error, e.what());
      }
      if (err) {
        spdlog::warn("api: export failed part-way: {}", describe(err));
        ojson e = ojson::object();
        e["error"] = "unavailable";
        e["detail"] = "export failed part-way: " + detail_of(err);
        auto line = e.dump(-1, ' ', false, ojson::error_handler_t::replace)
                    + "\n";
        if (sink.is_writable())
          sink.write(line.data(), line.size());
      }
      sink.done();
      return true;
    });
}

} // namespace agentmem::api::handlers
