#include <gtest/gtest.h>

#include <cmath>

#include "fedvlm/eval/cider.hpp"

namespace fedvlm::eval {
namespace {

// Shared arithmetic: with I images, weights are tf * (ln I - ln max(1, df)). In the two-image
// corpora below "a" is in both images' references (df 2, weight ln2 - ln2 = 0); every other
// n-gram has df 1 or 0, weight tf * ln 2. Write L = ln 2.

TEST(CiderD, HandComputedTwoImages) {
  // refs: image A "a cat", image B "a dog"; candidates "a cat", "a bird".
  // A: unigrams {a: 0, cat: L}, norm L; bigram {a cat: L}, norm L; no 3-, 4-grams.
  //    s_1 = L*L / (L*L) = 1, s_2 = 1, s_3 = s_4 = 0 (zero norms), equal lengths: penalty 1.
  //    CIDEr-D = 10 * (1 + 1 + 0 + 0) / 4 / 1 = 5
  // B: "bird" and "a bird" are not in B's reference: every product is 0 -> 0.
  // corpus: (5 + 0) / 2 = 2.5
  const std::vector<CaptionExample> corpus = {{"a cat", {"a cat"}}, {"a bird", {"a dog"}}};
  const auto scores = cider_d_scores(corpus);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_NEAR(scores[0], 5.0, 1e-12);
  EXPECT_NEAR(scores[1], 0.0, 1e-12);
  EXPECT_NEAR(corpus_cider_d(corpus), 2.5, 1e-12);
}

TEST(CiderD, ClipsCountsAndPenalizesLength) {
  // A: candidate "cat cat cat" vs ref "a cat".
  //    unigrams: {cat: 3L}, norm 3L; ref {a: 0, cat: L}, norm L.
  //    s_1 = min(3L, L) * L / (3L * L) = 1/3 (clipped: without the min it would be 1);
  //    "cat cat", "cat cat cat" unmatched: s_2 = s_3 = 0; s_4 = 0.
  //    lengths 3 vs 2: penalty exp(-1 / 72).
  //    CIDEr-D = 10 * (1/3) * exp(-1/72) / 4 = 0.821839
  // B: "a dog" vs "a dog" = 5 as above. corpus = (0.821839 + 5) / 2 = 2.910920
  const std::vector<CaptionExample> corpus = {{"cat cat cat", {"a cat"}}, {"a dog", {"a dog"}}};
  const auto scores = cider_d_scores(corpus);
  EXPECT_NEAR(scores[0], 10.0 / 12.0 * std::exp(-1.0 / 72.0), 1e-12);
  EXPECT_NEAR(scores[0], 0.821839, 1e-6);
  EXPECT_NEAR(corpus_cider_d(corpus), 2.910920, 1e-6);
}

TEST(CiderD, AveragesOverSeveralReferences) {
  // A refs "a cat", "a small cat"; B ref "a dog"; candidates "a cat", "a dog".
  // df: a 2; cat, small, a small, small cat, a small cat, a cat, dog, a dog: 1.
  // A vs "a cat": s = [1, 1, 0, 0].
  // A vs "a small cat": unigrams {a: 0, small: L, cat: L}, norm sqrt(2) L:
  //    s_1 = L*L / (L * sqrt(2) L) = 1/sqrt(2); "a cat" is not a bigram of it: s_2 = 0;
  //    lengths 2 vs 3: penalty exp(-1/72).
  // sum over refs: [1 + exp(-1/72)/sqrt(2), 1, 0, 0]; CIDEr-D = 10 * mean_n / 2 refs = 3.371692
  // B = 5; corpus = (3.371692 + 5) / 2 = 4.185846
  const std::vector<CaptionExample> corpus = {{"a cat", {"a cat", "a small cat"}}, {"a dog", {"a dog"}}};
  const auto scores = cider_d_scores(corpus);
  EXPECT_NEAR(scores[0], 10.0 * (2.0 + std::exp(-1.0 / 72.0) / std::sqrt(2.0)) / 4.0 / 2.0, 1e-12);
  EXPECT_NEAR(scores[1], 5.0, 1e-12);
  EXPECT_NEAR(corpus_cider_d(corpus), 4.185846, 1e-6);
}

TEST(CiderD, CorrectCaptionsOutscoreWrongOnes) {
  const std::vector<std::string> references = {"a red dress with long sleeves", "a pair of white sneakers",
                                               "a black leather bag with a strap"};
  std::vector<CaptionExample> correct;
  std::vector<CaptionExample> wrong;
  for (std::size_t i = 0; i < references.size(); ++i) {
    correct.push_back({references[i], {references[i]}});
    wrong.push_back({references[(i + 1) % references.size()], {references[i]}});
  }
  EXPECT_GT(corpus_cider_d(correct), 1.0);
  EXPECT_GT(corpus_cider_d(correct), corpus_cider_d(wrong));
}

TEST(CiderD, DisjointVocabularyScoresZero) {
  const std::vector<CaptionExample> corpus = {{"blue sky above", {"a red dress"}}, {"green grass below", {"white shoes"}}};
  EXPECT_EQ(corpus_cider_d(corpus), 0.0);
}

TEST(CiderD, OneImageCorpusScoresZeroAndEmptyCorpusToo) {
  // ln(1 image) = 0 and every reference n-gram has df 1: all weights vanish.
  EXPECT_EQ(corpus_cider_d({{"a cat", {"a cat"}}}), 0.0);
  EXPECT_EQ(corpus_cider_d({}), 0.0);
}

TEST(CiderD, EmptyCandidateScoresZero) {
  const auto scores = cider_d_scores({{"", {"a cat"}}, {"a dog", {"a dog"}}});
  EXPECT_EQ(scores[0], 0.0);
  EXPECT_NEAR(scores[1], 5.0, 1e-12);
}

}  // namespace
}  // namespace fedvlm::eval
