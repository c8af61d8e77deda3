#include <gtest/gtest.h>

#include "fedvlm/eval/text.hpp"

namespace fedvlm::eval {
namespace {

using Tokens = std::vector<std::string>;

TEST(CaptionTokens, LowercasesAndBreaksWordsAtPunctuation) {
  EXPECT_EQ(caption_tokens("A man, riding a Horse."), (Tokens{"a", "man", "riding", "a", "horse"}));
  EXPECT_EQ(caption_tokens("T-shirt/top"), (Tokens{"t", "shirt", "top"}));
  EXPECT_EQ(caption_tokens("  tabs\tand\nnewlines  "), (Tokens{"tabs", "and", "newlines"}));
  EXPECT_TRUE(caption_tokens("").empty());
  EXPECT_TRUE(caption_tokens(" ?! ").empty());
}

TEST(CaptionTokens, KeepsDecimalPointsBetweenDigitsOnly) {
  EXPECT_EQ(caption_tokens("2.5 kg."), (Tokens{"2.5", "kg"}));
  EXPECT_EQ(caption_tokens("end.5"), (Tokens{"end", "5"}));
  EXPECT_EQ(caption_tokens("3."), (Tokens{"3"}));
}

TEST(CaptionTokens, KeepsNonAsciiBytesInsideWords) {
  EXPECT_EQ(caption_tokens("Café crème"), (Tokens{"café", "crème"}));
}

TEST(NormalizeAnswer, DropsArticlesAndPunctuationAndCollapsesSpace) {
  EXPECT_EQ(normalize_answer("The Ankle-Boot!"), "ankle boot");
  EXPECT_EQ(normalize_answer("  A   T-shirt/Top "), "t shirt top");
  EXPECT_EQ(normalize_answer("an apple, the end"), "apple end");
  EXPECT_EQ(normalize_answer("Theory and anthems"), "theory and anthems");  // articles only as whole words
  EXPECT_EQ(normalize_answer("the"), "");
}

TEST(AnswersMatch, ComparesNormalizedForms) {
  EXPECT_TRUE(answers_match("Sandal.", "sandal"));
  EXPECT_TRUE(answers_match("a bag", "Bag"));
  EXPECT_FALSE(answers_match("bags", "bag"));
  EXPECT_FALSE(answers_match("ankle boot", "boot"));
  EXPECT_TRUE(answers_match("", "the"));  // both normalize to the empty answer
}

}  // namespace
}  // namespace fedvlm::eval
