#pragma once

#include <cstddef>
#include <string>

#include <caf/error.hpp>

namespace agentmem::storage {

/// Name of the one collection of memory vectors today.
inline constexpr const char* memories_collection = "memories";

/// Start-up guard of the embedding space (table `collections`, migrations
/// 004 and 060). The first start records (model, dims, instructions) for
/// `collection` — taken from the configured provider, or model and dims
/// from already stored memories when the table is new on an old database.
/// `instructions` is the provider's query/passage instruction line
/// (domain::embedder::instructions(), "" for none). Every later start
/// compares: a different model, dims or instructions yields
/// errc::invalid_config whose message names both sides and how to
/// re-embed. errc::postgres_error when the database
/// cannot be read or written. One short transaction.
caf::error check_collection(const std::string& postgres_url,
                            const std::string& collection,
                            const std::string& model, size_t dims,
                            const std::string& instructions = {});

} // namespace agentmem::storage
