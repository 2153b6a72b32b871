#include <boost/test/unit_test.hpp>

#include <cmath>

#include "domain/embedding.hpp"
#include "domain/text.hpp"

using namespace agentmem::domain;

namespace {

float dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(embedding)

BOOST_AUTO_TEST_CASE(hashing_vectors_are_384_dims_unit_length_and_deterministic) {
  hashing_embedder e;
  std::vector<float> a, b;
  e.embed_one("Caroline went to a support group meeting", a);
  e.embed_one("Caroline went to a support group meeting", b);
  BOOST_CHECK_EQUAL(a.size(), 384u);
  BOOST_CHECK(a == b);
  BOOST_CHECK_CLOSE(dot(a, a), 1.0f, 1e-3);
  BOOST_CHECK_EQUAL(e.model(), "hashing-v1-384");
}

BOOST_AUTO_TEST_CASE(related_texts_score_higher_than_unrelated_ones) {
  hashing_embedder e;
  std::vector<float> q, near, far;
  e.embed_one("When did Melanie paint a sunrise?", q);
  e.embed_one("Melanie: I painted that sunrise last year at the lake.", near);
  e.embed_one("The quarterly budget review moved to Thursday.", far);
  BOOST_CHECK_GT(dot(q, near), dot(q, far) + 0.2f);
}

BOOST_AUTO_TEST_CASE(stemming_matches_inflected_forms) {
  hashing_embedder e;
  std::vector<float> a, b;
  e.embed_one("painting", a);
  e.embed_one("paintings", b);
  BOOST_CHECK_CLOSE(dot(a, b), 1.0f, 1e-3);
}

BOOST_AUTO_TEST_CASE(text_without_content_tokens_embeds_to_zero) {
  hashing_embedder e;
  std::vector<float> v;
  e.embed_one("the and of ???", v);
  BOOST_CHECK_EQUAL(dot(v, v), 0.0f);
}

BOOST_AUTO_TEST_CASE(the_batch_interface_matches_embed_one) {
  hashing_embedder e{128};
  std::vector<std::string_view> texts{"alpha beta", "gamma"};
  std::vector<std::vector<float>> out;
  BOOST_REQUIRE(!e.embed(texts, out));
  BOOST_REQUIRE_EQUAL(out.size(), 2u);
  std::vector<float> one;
  e.embed_one("gamma", one);
  BOOST_CHECK(out[1] == one);
  BOOST_CHECK_EQUAL(out[0].size(), 128u);
}

BOOST_AUTO_TEST_CASE(unknown_providers_and_bad_dims_are_config_errors) {
  BOOST_CHECK(!make_embedder("nope", 384));
  BOOST_CHECK(!make_embedder("hashing", 0));
  auto ok = make_embedder("hashing", 384);
  BOOST_REQUIRE(ok);
  BOOST_CHECK_EQUAL((*ok)->dims(), 384u);
}

BOOST_AUTO_TEST_CASE(tokenizer_lowercases_drops_stop_words_and_stems) {
  tokenizer t;
  std::vector<std::string> out;
  t.tokens("The Running dogs don't STOP at 5pm, café!", out);
  std::vector<std::string> want{"run", "dog", "dont", "stop", "5pm", "café"};
  BOOST_CHECK_EQUAL_COLLECTIONS(out.begin(), out.end(), want.begin(),
                                want.end());
}

BOOST_AUTO_TEST_CASE(tokenizer_word_cache_gives_the_same_tokens_and_stays_bounded) {
  // Cached words (stems and stop words alike) must come out exactly as the
  // first time, also after the cache was emptied for being full.
  tokenizer t;
  const std::string text = "The Running dogs don't STOP at 5pm, café! "
                           "the running DOGS";
  std::vector<std::string> first, again, after_overflow;
  t.tokens(text, first);
  BOOST_CHECK_GT(t.cached_words(), 0u);
  t.tokens(text, again);
  BOOST_CHECK(first == again);
  std::vector<std::string> sink;
  for (size_t i = 0; i < tokenizer::max_cached_words + 10; ++i)
    t.tokens("word" + std::to_string(i) + "s", sink);
  BOOST_CHECK_LE(t.cached_words(), tokenizer::max_cached_words);
  BOOST_CHECK_EQUAL(sink.size(), tokenizer::max_cached_words + 10);
  BOOST_CHECK_EQUAL(sink[3], "word3");
  t.tokens(text, after_overflow);
  BOOST_CHECK(first == after_overflow);
  // A word longer than the cached ones is tokenised all the same, and
  // not kept.
  const std::string long_word(tokenizer::max_cached_word_bytes + 8, 'x');
  auto cached = t.cached_words();
  std::vector<std::string> long_out;
  t.tokens(long_word + " " + long_word, long_out);
  BOOST_CHECK_EQUAL(long_out.size(), 2u);
  BOOST_CHECK_EQUAL(long_out[0], long_word);
  BOOST_CHECK_EQUAL(t.cached_words(), cached);
  std::vector<std::string> want{"run", "dog", "dont", "stop", "5pm",
                                "café", "run", "dog"};
  BOOST_CHECK_EQUAL_COLLECTIONS(first.begin(), first.end(), want.begin(),
                                want.end());
}

BOOST_AUTO_TEST_CASE(sentences_split_at_terminal_punctuation_and_newlines) {
  auto s = split_sentences("One. Two!  Three?\nFour 3.5 five");
  BOOST_REQUIRE_EQUAL(s.size(), 4u);
  BOOST_CHECK_EQUAL(s[0], "One.");
  BOOST_CHECK_EQUAL(s[3], "Four 3.5 five");
}

BOOST_AUTO_TEST_SUITE_END()
