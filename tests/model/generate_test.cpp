#include <gtest/gtest.h>

#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

// Greedy decoding of one unpadded row by recomputing the whole sequence for every new token.
std::vector<std::int32_t> greedy_by_recomputation(VisionLanguageModel& model, const data::Samples& samples,
                                                  std::int64_t row, std::int64_t max_new_tokens, std::int32_t eos) {
  const std::vector<std::int64_t> rows = {row};
  auto batch = collate_prompts(samples, rows, {});  // one row: no padding
  std::vector<std::int32_t> out;
  torch::NoGradGuard no_grad;
  for (std::int64_t step = 0; step < max_new_tokens; ++step) {
    const auto next = model.logits(batch)[0][batch.length() - 1].argmax().item<std::int64_t>();
    if (next == eos) break;
    out.push_back(static_cast<std::int32_t>(next));
    batch.tokens = torch::cat({batch.tokens, torch::full({1, 1}, next, torch::kInt64)}, 1);
    batch.attention_mask = torch::ones_like(batch.tokens, torch::kBool);
  }
  return out;
}

class GenerateTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerateTest, KvCacheGenerationEqualsFullRecomputationForRowsOfDifferentLengths) {
  auto model = build_model(tiny_model(GetParam()), tiny_lora(), kShape, kVocab, 4);
  model->to(torch::kFloat64);  // far from argmax ties between the two computations
  randomize(*model, 0.3, 21);
  model->eval();
  const auto samples = make_samples(5, 8);
  const std::vector<std::int64_t> rows = {0, 4, 2};  // prompts of 1, 5 and 3 tokens
  const std::int64_t max_new = 8;
  // EOS chosen as the third token row 0 generates, so at least one row stops early.
  const auto unstopped = greedy_by_recomputation(*model, samples, 0, max_new, -1);
  ASSERT_GE(unstopped.size(), 3u);
  const std::int32_t eos = unstopped[2];
  const auto generated = model->generate(collate_prompts(samples, rows, {}), max_new, eos);
  ASSERT_EQ(generated.size(), rows.size());
  for (std::size_t b = 0; b < rows.size(); ++b) {
    EXPECT_EQ(generated[b], greedy_by_recomputation(*model, samples, rows[b], max_new, eos)) << "row " << rows[b];
  }
  EXPECT_LE(generated[0].size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(BothKinds, GenerateTest, ::testing::Values("encoder", "encoder-free"),
                         [](const auto& info) { return info.param == "encoder" ? "Encoder" : "EncoderFree"; });

TEST(Generate, RestoresTrainingModeAndRespectsMaxSeqLen) {
  auto config = tiny_model();
  config.max_seq_len = 12;  // 4 image tokens + prompt of 3 (BOS + 2) leaves 5 new tokens
  auto model = build_model(config, tiny_lora(), kShape, kVocab, 4);
  model->train();
  const auto samples = make_samples(2);
  const std::vector<std::int64_t> rows = {1};
  const auto out = model->generate(collate_prompts(samples, rows, {}), 50, -1);
  EXPECT_EQ(out[0].size(), 5u);
  EXPECT_TRUE(model->is_training());
}

}  // namespace
}  // namespace fedvlm::model
