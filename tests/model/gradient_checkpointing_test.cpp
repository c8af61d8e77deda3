// model.gradient_checkpointing: recomputing each decoder block in the backward pass changes what
// is kept in memory, not what is computed. The loss and every gradient equal the plain pass's,
// with dropout on (the masks are replayed), under each strategy (F-L: the first block's input
// needs no gradient, its adapters still do), and the dropout stream ends where the plain pass
// leaves it, so the next step draws the same masks either way. Batched clients:
// tests/sim/batched_clients_test.cpp (GradientCheckpointing*).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/strategy.hpp"
#include "model/model_test_support.hpp"

namespace fedvlm::model {
namespace {

struct Pass {
  double loss = 0.0;
  std::vector<torch::Tensor> grads;
  int recomputed_blocks = 0;  // checkpointed block nodes in the loss's autograd graph
};

int count_nodes(const torch::Tensor& output, const std::string& name_part) {
  std::vector<torch::autograd::Node*> pending{output.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int count = 0;
  while (!pending.empty()) {
    auto* node = pending.back();
    pending.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find(name_part) != std::string::npos) ++count;
    for (const auto& edge : node->next_edges()) pending.push_back(edge.function.get());
  }
  return count;
}

Pass train_step(bool checkpointing, const std::string& strategy) {
  ModelConfig config = testing::tiny_model();
  config.dropout = 0.1;
  config.gradient_checkpointing = checkpointing;
  auto model = build_model(config, testing::tiny_lora(0.1), testing::kShape, testing::kVocab, 3);
  testing::randomize(*model, 0.2, 11);  // nonzero adapters: every gradient path carries signal
  FinetuneConfig finetune;
  finetune.strategy = strategy;
  const auto trainable = apply_strategy(*model, finetune, 0);
  model->train();
  model->seed_dropout({7, "dropout", 1, 2});
  const auto loss = model->loss(testing::four_sample_batch());
  Pass pass{loss.item<double>(), {}, count_nodes(loss, "RecomputedBlock")};
  loss.backward();
  for (const auto& parameter : trainable.parameters) {
    EXPECT_TRUE(parameter.grad().defined()) << "no gradient reached a trainable parameter";
    pass.grads.push_back(parameter.grad().clone());
  }
  return pass;
}

class GradientCheckpointing : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientCheckpointing, LossAndEveryGradientEqualThePlainBackward) {
  const Pass plain = train_step(false, GetParam());
  const Pass recomputed = train_step(true, GetParam());
  EXPECT_EQ(plain.recomputed_blocks, 0);
  EXPECT_EQ(recomputed.recomputed_blocks, testing::tiny_model().layers) << "every block is checkpointed";
  EXPECT_DOUBLE_EQ(recomputed.loss, plain.loss);
  ASSERT_EQ(recomputed.grads.size(), plain.grads.size());
  ASSERT_FALSE(plain.grads.empty());
  for (std::size_t i = 0; i < plain.grads.size(); ++i) {
    const double scale = plain.grads[i].abs().max().item<double>();
    EXPECT_GT(scale, 0.0) << "parameter " << i << " got a zero gradient";
    EXPECT_LE((recomputed.grads[i] - plain.grads[i]).abs().max().item<double>(), 1e-5 * scale) << "parameter " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, GradientCheckpointing, ::testing::Values("F-L", "F-CL", "full"));

// Dropout draws continue where the plain pass leaves them: two steps in a row give the same
// second-step loss with and without recomputation.
TEST(GradientCheckpointingStream, TheNextStepDrawsTheSameMasks) {
  std::vector<double> second_losses;
  for (bool checkpointing : {false, true}) {
    ModelConfig config = testing::tiny_model();
    config.dropout = 0.3;
    config.gradient_checkpointing = checkpointing;
    auto model = build_model(config, testing::tiny_lora(0.3), testing::kShape, testing::kVocab, 3);
    testing::randomize(*model, 0.2, 11);
    FinetuneConfig finetune;
    finetune.strategy = "F-L";
    apply_strategy(*model, finetune, 0);
    model->train();
    model->seed_dropout({7, "dropout", 1, 2});
    model->loss(testing::four_sample_batch()).backward();
    second_losses.push_back(model->loss(testing::four_sample_batch()).item<double>());
  }
  EXPECT_DOUBLE_EQ(second_losses[1], second_losses[0]);
}

// Evaluation and generation (no gradient) never recompute: the KV-cache path is untouched.
TEST(GradientCheckpointingStream, NoGradForwardIsThePlainForward) {
  ModelConfig config = testing::tiny_model();
  auto plain = build_model(config, testing::tiny_lora(), testing::kShape, testing::kVocab, 3);
  config.gradient_checkpointing = true;
  auto recomputing = build_model(config, testing::tiny_lora(), testing::kShape, testing::kVocab, 3);
  torch::NoGradGuard no_grad;
  const auto batch = testing::four_sample_batch();
  EXPECT_TRUE(torch::equal(recomputing->logits(batch), plain->logits(batch)));
}

}  // namespace
}  // namespace fedvlm::model
