#include <gtest/gtest.h>

#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

TEST(Lora, FreshAdapterLeavesOutputsUnchanged) {
  auto no_lora = tiny_lora();
  no_lora.rank = 0;
  auto plain = build_model(tiny_model(), no_lora, kShape, kVocab, 9);
  auto adapted = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 9);
  EXPECT_TRUE(plain->parameter_groups().lora.empty());
  EXPECT_EQ(adapted->parameter_groups().lora.size(), 2u * 7u * 2u);  // A and B, 7 projections, 2 layers
  plain->eval();
  adapted->eval();
  torch::NoGradGuard no_grad;
  const auto batch = four_sample_batch();
  EXPECT_TRUE(torch::equal(plain->logits(batch), adapted->logits(batch)));
}

TEST(Lora, MergeAndUnmergeAreExact) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 9);
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : model->parameter_groups().lora) p.normal_(0.0, 0.1);
  model->eval();
  const auto batch = four_sample_batch();
  const auto before = model->logits(batch);
  std::vector<torch::Tensor> weights;
  for (auto& [name, p] : model->parameter_groups().decoder) weights.push_back(p.clone());
  const auto q_weight = model->named_parameters()["decoder.layers.0.attention.q.base.weight"];
  const auto q_before = q_weight.clone();

  model->merge_lora();
  const auto merged = model->logits(batch);
  EXPECT_TRUE(torch::allclose(merged, before, 1e-5, 1e-5)) << (merged - before).abs().max();
  EXPECT_FALSE(torch::allclose(q_weight, q_before));  // the adapter was folded into the weight

  model->unmerge_lora();
  EXPECT_TRUE(torch::allclose(model->logits(batch), before, 1e-5, 1e-5));
  const auto decoder = model->parameter_groups().decoder;
  for (std::size_t i = 0; i < decoder.size(); ++i) {
    EXPECT_TRUE(torch::allclose(decoder[i].second, weights[i], 0.0, 1e-5)) << decoder[i].first;
  }
}

TEST(Lora, DropoutIsReproducibleFromTheSeededStream) {
  auto model = build_model(tiny_model(), tiny_lora(0.5), kShape, kVocab, 9);
  for (auto& [name, p] : model->parameter_groups().lora) {
    torch::NoGradGuard no_grad;
    p.normal_(0.0, 0.1);
  }
  model->train();
  const auto batch = four_sample_batch();
  model->seed_dropout({1, "dropout", 3, 7});
  const auto first = model->loss(batch);
  model->seed_dropout({1, "dropout", 3, 7});
  EXPECT_TRUE(torch::equal(model->loss(batch), first));
  model->seed_dropout({1, "dropout", 3, 8});
  EXPECT_FALSE(torch::equal(model->loss(batch), first));
}

}  // namespace
}  // namespace fedvlm::model
