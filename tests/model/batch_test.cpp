#include <gtest/gtest.h>

#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

TEST(Batch, TrainingLabelsMaskBosPromptAndPaddingButKeepAnswerAndEos) {
  const auto samples = make_samples(3);
  const std::vector<std::int64_t> rows = {2, 0};
  const SpecialTokens special{0, 1, 2};
  const auto batch = collate_training(samples, rows, special);
  for (std::int64_t b = 0; b < 2; ++b) {
    const auto prompt = samples.prompt_ptr[rows[b] + 1] - samples.prompt_ptr[rows[b]];
    const auto answer = samples.answer_ptr[rows[b] + 1] - samples.answer_ptr[rows[b]];
    EXPECT_EQ(batch.tokens[b][0].item<std::int64_t>(), special.bos);
    for (std::int64_t t = 0; t < batch.length(); ++t) {
      const auto label = batch.labels[b][t].item<std::int64_t>();
      const bool real = t < 2 + prompt + answer;
      EXPECT_EQ(batch.attention_mask[b][t].item<bool>(), real);
      if (t <= prompt || !real) {
        EXPECT_EQ(label, kIgnoreIndex) << "row " << b << " position " << t;
      } else if (t <= prompt + answer) {
        EXPECT_EQ(label, samples.answer[samples.answer_ptr[rows[b]] + t - 1 - prompt]);
      } else {
        EXPECT_EQ(label, special.eos);
      }
      if (label != kIgnoreIndex) {
        EXPECT_EQ(batch.tokens[b][t].item<std::int64_t>(), label);
      }
      if (!real) {
        EXPECT_EQ(batch.tokens[b][t].item<std::int64_t>(), special.pad);
      }
    }
  }
}

TEST(Batch, PromptBatchIsLeftPaddedAndEndsWithThePrompt) {
  const auto samples = make_samples(4);
  const std::vector<std::int64_t> rows = {0, 3};  // prompts of 1 and 4 tokens
  const auto batch = collate_prompts(samples, rows, {});
  EXPECT_TRUE(batch.left_padded);
  EXPECT_FALSE(batch.labels.defined());
  ASSERT_EQ(batch.length(), 5);
  EXPECT_EQ(batch.attention_mask[0].sum().item<std::int64_t>(), 2);
  EXPECT_FALSE(batch.attention_mask[0][2].item<bool>());
  EXPECT_EQ(batch.tokens[0][3].item<std::int64_t>(), 1);  // BOS right before the prompt
  EXPECT_EQ(batch.tokens[0][4].item<std::int64_t>(), samples.prompt[0]);
  EXPECT_EQ(batch.tokens[1][4].item<std::int64_t>(), samples.prompt[samples.prompt_ptr[4] - 1]);
}

TEST(Batch, LossIsTheMeanCrossEntropyOfAnswerTokensOnly) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 3);
  randomize(*model, 0.2, 11);
  const auto samples = make_samples(4);
  const std::vector<std::int64_t> rows = {0, 1, 2, 3};
  const auto batch = collate_training(samples, rows, {});
  torch::NoGradGuard no_grad;
  // Independent computation: log-softmax of the full logits, picked at the label positions.
  const auto log_probs = torch::log_softmax(model->logits(batch).to(torch::kFloat64), -1);
  double sum = 0.0;
  std::int64_t count = 0;
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    for (std::int64_t t = 1; t < batch.length(); ++t) {
      const auto label = batch.labels[b][t].item<std::int64_t>();
      if (label == kIgnoreIndex) continue;
      sum -= log_probs[b][t - 1][label].item<double>();
      ++count;
    }
  }
  EXPECT_NEAR(model->loss(batch).item<double>(), sum / count, 1e-5);

  // An answer token is supervised: changing it changes the loss.
  auto changed = batch;
  changed.tokens = batch.tokens.clone();
  changed.labels = batch.labels.clone();
  const auto prompt0 = samples.prompt_ptr[1] - samples.prompt_ptr[0];
  const auto position = 1 + prompt0;  // first answer token of row 0
  const auto other = (batch.tokens[0][position].item<std::int64_t>() - 4 + 1) % (kVocab - 4) + 4;
  changed.tokens[0][position] = other;
  changed.labels[0][position] = other;
  EXPECT_NE(model->loss(changed).item<double>(), model->loss(batch).item<double>());
}

}  // namespace
}  // namespace fedvlm::model
