#include <gtest/gtest.h>

#include <cmath>

#include "fedvlm/core/error.hpp"
#include "fedvlm/eval/bleu.hpp"

namespace fedvlm::eval {
namespace {

// coco-caption's smoothing (matches + 1e-15) / (total + 1e-9) moves exact values by ~1e-9.
constexpr double kTolerance = 1e-7;

TEST(Bleu, IdenticalCaptionScoresOne) {
  const auto bleu = corpus_bleu({{"a man rides a horse", {"a man rides a horse"}}});
  for (double value : bleu) EXPECT_NEAR(value, 1.0, kTolerance);
}

TEST(Bleu, HandComputedSentenceWithTwoReferences) {
  // c = the cat sat on the mat (6), r1 = the cat is on the mat (6), r2 = there is a cat on the mat (7)
  // unigrams: the x2 (max ref count 2), cat, sat (0), on, mat -> 5/6
  // bigrams:  the cat, cat sat (0), sat on (0), on the, the mat -> 3/5
  // trigrams: the cat sat, cat sat on, sat on the, on the mat -> only "on the mat" -> 1/4
  // 4-grams:  none match -> 0/3
  // closest reference length 6 = c: no brevity penalty.
  const auto bleu = corpus_bleu({{"the cat sat on the mat", {"the cat is on the mat", "there is a cat on the mat"}}});
  EXPECT_NEAR(bleu[0], 5.0 / 6.0, kTolerance);
  EXPECT_NEAR(bleu[1], std::sqrt(5.0 / 6.0 * 3.0 / 5.0), kTolerance);    // sqrt(1/2) = 0.7071
  EXPECT_NEAR(bleu[2], std::cbrt(5.0 / 6.0 * 3.0 / 5.0 / 4.0), kTolerance);  // cbrt(1/8) = 0.5
  // No 4-gram matches: coco-caption's smoothing leaves (1/8 * 1e-15/3)^(1/4) ~ 8e-5, not 0.
  EXPECT_GT(bleu[3], 0.0);
  EXPECT_LT(bleu[3], 1e-3);
}

TEST(Bleu, ClipsCandidateCountsByTheLargestCountInOneReference) {
  // Papineni's example: "the" x7 against references holding "the" at most twice -> p1 = 2/7.
  // Closest reference length: 7 (r2) = c, no brevity penalty.
  const auto bleu = corpus_bleu({{"the the the the the the the", {"the cat is on the mat", "there is a cat on the mat"}}});
  EXPECT_NEAR(bleu[0], 2.0 / 7.0, kTolerance);
}

TEST(Bleu, SumsStatisticsOverTheCorpusAndBreaksLengthTiesTowardTheShorterReference) {
  // A: c = a b c d e, r = a b c d f        matches/totals 4/5, 3/4, 2/3, 1/2; c = 5, r = 5
  // B: c = x y z w, refs x y z w v u (6), x y (2): both 2 away from 4, the shorter (2) counts
  //                                        matches/totals 4/4, 3/3, 2/2, 1/1; c = 4, r = 2
  // corpus: 8/9, 6/7, 4/5, 2/3; c = 9 > r = 7, so no brevity penalty:
  // BLEU-4 = (8/9 * 6/7 * 4/5 * 2/3)^(1/4) = (384/945)^(1/4) = 0.79841
  // (had the tie gone to 6, r = 11 > c and BLEU-4 would be 0.79841 * exp(1 - 11/9) = 0.63932).
  const std::vector<CaptionExample> corpus = {{"a b c d e", {"a b c d f"}}, {"x y z w", {"x y z w v u", "x y"}}};
  EXPECT_NEAR(corpus_bleu4(corpus), std::pow(384.0 / 945.0, 0.25), kTolerance);
  EXPECT_NEAR(corpus_bleu4(corpus), 0.798408, 1e-6);
}

TEST(Bleu, ShortCandidateIsPenalizedByBrevity) {
  // c = a b (2), r = a b c d (4): p1 = p2 = 1, BP = exp(1 - 4/2) = exp(-1).
  const auto bleu = corpus_bleu({{"a b", {"a b c d"}}});
  EXPECT_NEAR(bleu[0], std::exp(-1.0), kTolerance);
  EXPECT_NEAR(bleu[1], std::exp(-1.0), kTolerance);
}

TEST(Bleu, CandidateLongerThanReferencesHasNoBrevityPenalty) {
  // c = a cat sat on the mat today (7), r = a cat (2): p1 = 2/7, p2 = 1/6, BP = 1.
  const auto bleu = corpus_bleu({{"a cat sat on the mat today", {"a cat"}}});
  EXPECT_NEAR(bleu[0], 2.0 / 7.0, kTolerance);
  EXPECT_NEAR(bleu[1], std::sqrt(2.0 / 7.0 / 6.0), kTolerance);
}

TEST(Bleu, EmptyCandidateScoresZero) {
  const auto bleu = corpus_bleu({{"", {"a cat"}}});
  for (double value : bleu) EXPECT_EQ(value, 0.0);
}

TEST(Bleu, TokenizationIgnoresCaseAndPunctuation) {
  EXPECT_DOUBLE_EQ(corpus_bleu4({{"A man, riding a horse.", {"a man riding a horse"}}}),
                   corpus_bleu4({{"a man riding a horse", {"a man riding a horse"}}}));
}

TEST(Bleu, ExampleWithoutReferenceIsAnError) {
  EXPECT_THROW(corpus_bleu({{"a cat", {}}}), fedvlm::Error);
}

}  // namespace
}  // namespace fedvlm::eval
