#include <gtest/gtest.h>

#include "fedvlm/eval/rouge.hpp"
#include "fedvlm/eval/text.hpp"

namespace fedvlm::eval {
namespace {

double rouge_of(const std::string& candidate, const std::vector<std::string>& references) {
  TokenizedExample example;
  example.candidate = caption_tokens(candidate);
  for (const std::string& reference : references) example.references.push_back(caption_tokens(reference));
  return rouge_l(example);
}

TEST(LongestCommonSubsequence, ClassicExample) {
  // ABCBDAB vs BDCABA: LCS length 4 (e.g. BCBA).
  EXPECT_EQ(longest_common_subsequence(caption_tokens("a b c b d a b"), caption_tokens("b d c a b a")), 4u);
  EXPECT_EQ(longest_common_subsequence(caption_tokens("a b"), {}), 0u);
}

TEST(RougeL, HandComputedSingleReference) {
  // c = a b c d (4), r = a c e (3): LCS = a c = 2, P = 2/4, R = 2/3,
  // F = (1 + 1.44) * 0.5 * 0.6667 / (0.6667 + 1.44 * 0.5) = 0.81333 / 1.38667 = 0.586538
  EXPECT_NEAR(rouge_of("a b c d", {"a c e"}), 2.44 * 0.5 * (2.0 / 3.0) / (2.0 / 3.0 + 1.44 * 0.5), 1e-12);
  EXPECT_NEAR(rouge_of("a b c d", {"a c e"}), 0.586538, 1e-6);
}

TEST(RougeL, MaximizesPrecisionAndRecallSeparatelyOverReferences) {
  // c = a cat sat on the mat (6)
  // r1 = a cat (2):                      LCS 2, P = 1/3, R = 1
  // r2 = a dog sat on the mat today (7): LCS 5 (a sat on the mat), P = 5/6, R = 5/7
  // coco-caption: P = 5/6, R = 1 -> F = 2.44 * 5/6 / (1 + 1.44 * 5/6) = 2.03333 / 2.2 = 0.924242
  // (the best single-reference F would be 0.758706).
  EXPECT_NEAR(rouge_of("a cat sat on the mat", {"a cat", "a dog sat on the mat today"}), 2.44 * (5.0 / 6.0) / 2.2, 1e-12);
}

TEST(RougeL, CorpusScoreIsTheMeanOverExamples) {
  // (0.924242 + 0.586538) / 2 = 0.755390
  const std::vector<CaptionExample> corpus = {{"a cat sat on the mat", {"a cat", "a dog sat on the mat today"}},
                                              {"a b c d", {"a c e"}}};
  EXPECT_NEAR(corpus_rouge_l(corpus), (2.44 * (5.0 / 6.0) / 2.2 + 0.8133333333333334 / 1.3866666666666667) / 2, 1e-12);
}

TEST(RougeL, EdgeCasesScoreZeroOrOne) {
  EXPECT_DOUBLE_EQ(rouge_of("a man rides a horse", {"a man rides a horse"}), 1.0);
  EXPECT_EQ(rouge_of("", {"a cat"}), 0.0);
  EXPECT_EQ(rouge_of("dog runs", {"a cat"}), 0.0);
  EXPECT_EQ(rouge_of("a cat", {""}), 0.0);
  EXPECT_EQ(corpus_rouge_l({}), 0.0);
}

}  // namespace
}  // namespace fedvlm::eval
