#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/memory.hpp"

namespace agentmem::domain {

/// Embedding provider: turns texts into L2-normalised float vectors of a
/// fixed dimensionality. Implementations must be thread-safe (the pipeline's
/// embedding stage and the HTTP search path share one provider).
class embedder {
public:
  virtual ~embedder() = default;
  /// Vector length (dims) of every output.
  virtual size_t dims() const = 0;
  /// Model name stored with each vector (e.g. "hashing-v1-384").
  virtual std::string model() const = 0;
  /// Embeds `texts` into `out` (resized to texts.size(), each dims() long,
  /// L2 norm 1, or all zeros for text without content tokens). Returns an
  /// error value when the provider fails; `out` is unspecified then.
  virtual caf::error embed(const std::vector<std::string_view>& texts,
                           std::vector<std::vector<float>>& out) = 0;
  /// Embeds search queries (same contract as embed()). Models trained with
  /// an instruction for queries (e5's "query: ", bge's "Represent this
  /// sentence for searching relevant passages: ") get it here, while
  /// embed() serves the stored texts (passages). Default: embed().
  virtual caf::error embed_queries(const std::vector<std::string_view>& texts,
                                   std::vector<std::vector<float>>& out) {
    return embed(texts, out);
  }
  /// The query/passage instructions the provider applies, in one canonical
  /// line (empty when none). Stored with the collection next to model()
  /// and dims(): vectors embedded under other instructions do not compare.
  virtual std::string instructions() const {
    return {};
  }
  /// False for providers whose vectors only re-encode the query's terms
  /// (the hashing embedder): hybrid search then gives them a small weight,
  /// since BM25 already scores that evidence better.
  virtual bool semantic() const {
    return true;
  }
  /// Drops every vector the provider keeps cached (in memory and on disk),
  /// so none derived from a deleted user's text survives user deletion
  /// (docs/data-governance.md). Providers without a cache do nothing.
  /// Errors: those of the cache store (errc::rocksdb_error).
  virtual caf::error forget_cached() {
    return caf::none;
  }
};

/// The text a memory is embedded from: its text, and after a newline its
/// retrieval context when it has one (text first, so a model that
/// truncates its input keeps the memory itself; docs/retrieval.md).
std::string embedding_text(const memory& m);

/// Scales `v` in place to L2 norm 1 (sum of squares accumulated in double);
/// an all-zero vector stays zero.
void normalise_l2(std::vector<float>& v);

/// The built-in offline provider: signed feature hashing (Weinberger et al.,
/// "Feature Hashing for Large Scale Multitask Learning", ICML 2009) of the
/// tokenizer's stemmed content tokens (domain/text.hpp) and of adjacent
/// token bigrams. A feature f adds sign(f) * w to dimension
/// XXH3(f) mod dims, sign from bit 32 of the hash; unigram weight is
/// 1 + ln(tf), bigram weight half that. The result is L2-normalised, so
/// inner product = cosine similarity. Deterministic across runs and
/// machines: replays and index rebuilds reproduce the same vectors.
class hashing_embedder : public embedder {
public:
  explicit hashing_embedder(size_t dims = 384);
  size_t dims() const override;
  std::string model() const override;
  caf::error embed(const std::vector<std::string_view>& texts,
                   std::vector<std::vector<float>>& out) override;
  bool semantic() const override {
    return false;
  }
  /// Embeds one text into `out` (resized to dims()).
  void embed_one(std::string_view text, std::vector<float>& out) const;

private:
  size_t dims_;
};

/// Provider selection: `provider` = "hashing" (default; `dims` applies).
/// Unknown providers yield errc::invalid_config.
caf::expected<std::shared_ptr<embedder>>
make_embedder(const std::string& provider, size_t dims);

} // namespace agentmem::domain
