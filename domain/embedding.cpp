#include "domain/embedding.hpp"

#include <algorithm>
#include <cmath>

#include "domain/ids.hpp"
#include "domain/text.hpp"
#include "messages/errc.hpp"

namespace agentmem::domain {

namespace {

// Seeds keep unigram and bigram features in separate hash families.
constexpr uint64_t unigram_seed = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t bigram_seed = 0xC2B2AE3D27D4EB4FULL;

void add_feature(std::vector<float>& v, uint64_t h, float w) {
  auto idx = static_cast<size_t>(h % v.size());
  v[idx] += ((h >> 32) & 1) ? -w : w;
}

} // namespace

hashing_embedder::hashing_embedder(size_t dims) : dims_(dims) {
}

size_t hashing_embedder::dims() const {
  return dims_;
}

std::string embedding_text(const memory& m) {
  return m.context.empty() ? m.text : m.text + "\n" + m.context;
}

void normalise_l2(std::vector<float>& v) {
  double n = 0;
  for (float x : v)
    n += static_cast<double>(x) * x;
  if (n > 0) {
    auto inv = static_cast<float>(1.0 / std::sqrt(n));
    for (auto& x : v)
      x *= inv;
  }
}

std::string hashing_embedder::model() const {
  return "hashing-v1-" + std::to_string(dims_);
}

void hashing_embedder::embed_one(std::string_view text,
                                 std::vector<float>& out) const {
  thread_local tokenizer tok;
  thread_local std::vector<std::string> tokens;
  thread_local std::vector<uint64_t> unigrams;
  thread_local std::string bigram;
  tokens.clear();
  tok.tokens(text, tokens);
  out.assign(dims_, 0.0f);
  // Term frequencies by sorting the tokens' hashes: a run of equal hashes
  // is one term (64-bit hashes of distinct tokens do not collide in
  // practice), without a hash map allocated per text.
  unigrams.clear();
  for (auto& t : tokens)
    unigrams.push_back(hash64(t, unigram_seed));
  std::sort(unigrams.begin(), unigrams.end());
  for (size_t i = 0; i < unigrams.size();) {
    size_t j = i + 1;
    while (j < unigrams.size() && unigrams[j] == unigrams[i])
      ++j;
    add_feature(out, unigrams[i],
                1.0f + std::log(static_cast<float>(j - i)));
    i = j;
  }
  for (size_t i = 1; i < tokens.size(); ++i) {
    bigram.assign(tokens[i - 1]);
    bigram.push_back(' ');
    bigram.append(tokens[i]);
    add_feature(out, hash64(bigram, bigram_seed), 0.5f);
  }
  normalise_l2(out);
}

caf::error hashing_embedder::embed(const std::vector<std::string_view>& texts,
                                   std::vector<std::vector<float>>& out) {
  out.resize(texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    embed_one(texts[i], out[i]);
  return caf::none;
}

caf::expected<std::shared_ptr<embedder>>
make_embedder(const std::string& provider, size_t dims) {
  if (dims == 0 || dims > 8192)
    return make_error(errc::invalid_config,
                      "embedding dims must be in 1..8192, got "
                        + std::to_string(dims));
  if (provider == "hashing" || provider.empty())
    return std::shared_ptr<embedder>{std::make_shared<hashing_embedder>(dims)};
  return make_error(errc::invalid_config,
                    "unknown embedding provider '" + provider
                      + "' (available: hashing, openai)");
}

} // namespace agentmem::domain
