#include "storage/collections.hpp"

#include <pqxx/pqxx>

#include "messages/errc.hpp"

namespace agentmem::storage {

namespace {

std::string describe_space(const std::string& model, long dims,
                           const std::string& instructions) {
  return "model '" + model + "' (" + std::to_string(dims) + " dims, "
         + (instructions.empty() ? std::string{"no instructions"}
                                 : "instructions " + instructions)
         + ")";
}

} // namespace

caf::error check_collection(const std::string& postgres_url,
                            const std::string& collection,
                            const std::string& model, size_t dims,
                            const std::string& instructions) {
  std::string stored_model, stored_instructions;
  long stored_dims = 0;
  try {
    pqxx::connection c{postgres_url};
    pqxx::work tx{c};
    // First writer wins; concurrent starters then compare against it.
    tx.exec_params(
      "INSERT INTO collections (name, embedding_model, dims, instructions)"
      " SELECT $1, COALESCE(m.embedding_model, $2), COALESCE(m.dims, $3), $4"
      " FROM (SELECT 1) one LEFT JOIN LATERAL ("
      "   SELECT embedding_model, dims FROM memories"
      "   WHERE embedding_model IS NOT NULL AND dims > 0 LIMIT 1) m ON true"
      " ON CONFLICT (name) DO NOTHING",
      collection, model, static_cast<long>(dims), instructions);
    auto r = tx.exec_params(
      "SELECT embedding_model, dims, instructions FROM collections"
      " WHERE name = $1",
      collection);
    tx.commit();
    if (r.empty())
      return make_error(errc::postgres_error,
                        "collection " + collection + " was not recorded");
    stored_model = r[0][0].as<std::string>();
    stored_dims = r[0][1].as<long>();
    stored_instructions = r[0][2].as<std::string>();
  } catch (const std::exception& e) {
    return make_error(errc::postgres_error,
                      std::string{"checking collection "} + collection + ": "
                        + e.what());
  }
  if (stored_model == model && stored_dims == static_cast<long>(dims)
      && stored_instructions == instructions)
    return caf::none;
  std::string what;
  if (stored_model != model)
    what = "the model differs";
  if (stored_dims != static_cast<long>(dims))
    what += std::string{what.empty() ? "" : " and "} + "the dims differ";
  if (stored_instructions != instructions)
    what += std::string{what.empty() ? "" : " and "}
            + "the query/passage instructions differ";
  return make_error(
    errc::invalid_config,
    "embedding space mismatch: collection '" + collection
      + "' holds vectors of "
      + describe_space(stored_model, stored_dims, stored_instructions)
      + " but the configured embedding provider gives "
      + describe_space(model, static_cast<long>(dims), instructions) + " ("
      + what
      + "). Either set [embedding] back to that model, dims and instructions "
        "(query_prefix, passage_prefix, query_input_type, "
        "passage_input_type), or re-embed: "
        "start the new configuration on a fresh database and data dir and "
        "replay the topic into it with a new consumer group (vectors of "
        "different models cannot be compared).");
}

} // namespace agentmem::storage
