// model.frozen_dtype = bf16 (frozen_weights.hpp): exactly the weights a strategy never trains are
// narrowed (the whole frozen tower, the decoder's matrices; not norms, biases, connector or LoRA),
// their storage halves, the model computes what the fp32 model computes up to bf16 rounding, and
// training still reaches every trained parameter in fp32 and lowers the loss. Also through the
// batched client stacks (one forward for several clients' adapters) and a Hugging Face LLaVA.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/frozen_weights.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/strategy.hpp"
#include "model/client_stack_test_support.hpp"
#include "model/hf_test_support.hpp"
#include "model/model_test_support.hpp"

namespace fedvlm::model {
namespace {

std::shared_ptr<VisionLanguageModel> tiny(std::uint64_t seed = 3) {
  auto model = build_model(testing::tiny_model(), testing::tiny_lora(), testing::kShape, testing::kVocab, seed);
  testing::randomize(*model, 0.2, 11);  // adapters nonzero, products far from zero
  return model;
}

// LoRA's A and B stay fp32 even where the strategy leaves them frozen (F-C): they are tiny.
bool is_adapter(const std::string& name) { return name.ends_with(".lora_a") || name.ends_with(".lora_b"); }

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>() /
         b.to(torch::kFloat64).abs().max().item<double>();
}

class FrozenWeights : public ::testing::TestWithParam<std::string> {};

TEST_P(FrozenWeights, NarrowExactlyWhatNeverTrainsAndHalveItsStorage) {
  const auto model = tiny();
  const auto trained = ever_trainable_set(*model, parse_strategy(GetParam()));
  std::set<const void*> trained_ids;
  for (const auto& p : trained.parameters) trained_ids.insert(p.unsafeGetTensorImpl());
  std::int64_t frozen_bytes = 0;
  for (const auto& item : model->named_parameters()) {
    const torch::Tensor& p = item.value();
    if (!trained_ids.count(p.unsafeGetTensorImpl()) && !is_adapter(item.key()) &&
        (item.key().starts_with("vision.") || (item.key().starts_with("decoder.") && p.dim() >= 2)))
      frozen_bytes += p.numel() * 4;
  }

  const FrozenStorage storage = store_frozen_weights(*model, trained, torch::kBFloat16);
  EXPECT_EQ(storage.bytes_before, frozen_bytes);
  EXPECT_EQ(storage.bytes_after * 2, storage.bytes_before);
  EXPECT_GT(storage.tensors, 0);
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool is_trained = trained_ids.count(item.value().unsafeGetTensorImpl()) > 0;
    const bool narrowed = !is_trained && !is_adapter(name) &&
                          (name.starts_with("vision.") || (name.starts_with("decoder.") && item.value().dim() >= 2));
    EXPECT_EQ(item.value().scalar_type(), narrowed ? torch::kBFloat16 : torch::kFloat32) << name;
  }
  // Twice is once; fp32 changes nothing.
  EXPECT_EQ(store_frozen_weights(*model, trained, torch::kBFloat16).tensors, 0);
  EXPECT_EQ(store_frozen_weights(*tiny(), trained, torch::kFloat32).tensors, 0);
}

TEST_P(FrozenWeights, ComputeWhatFp32ComputesAndStillTrain) {
  const Batch batch = testing::four_sample_batch();
  const auto reference = tiny();
  const auto model = tiny();
  FinetuneConfig finetune;
  finetune.strategy = GetParam();
  store_frozen_weights(*model, ever_trainable_set(*model, parse_strategy(GetParam())), torch::kBFloat16);
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor expected = reference->logits(batch), actual = model->logits(batch);
    EXPECT_EQ(actual.scalar_type(), torch::kFloat32);
    const double difference = relative_difference(actual, expected);
    EXPECT_LT(difference, 3e-2) << "bf16 products: a few units of 2^-8";
    EXPECT_GT(difference, 0.0) << "nothing was narrowed";
  }
  // The same gradient steps on both: each lowers the loss, and the bf16 model's losses follow the fp32 model's.
  const auto train = [&](VisionLanguageModel& m, bool check_gradients) {
    const auto trainable = apply_strategy(m, finetune, 0);
    m.train();
    torch::optim::SGD optimizer(trainable.parameters, torch::optim::SGDOptions(1e-2));
    std::vector<double> losses;
    for (int step = 0; step < 4; ++step) {
      optimizer.zero_grad();
      const auto loss = m.loss(batch);
      loss.backward();
      for (const auto& p : trainable.parameters) {
        if (!check_gradients) break;
        EXPECT_TRUE(p.grad().defined() && p.grad().scalar_type() == torch::kFloat32) << "no fp32 gradient";
      }
      optimizer.step();
      losses.push_back(loss.item<double>());
    }
    return losses;
  };
  // From the initialization (the randomized weights above make a poor start for Adam).
  const auto fresh_reference = build_model(testing::tiny_model(), testing::tiny_lora(), testing::kShape, testing::kVocab, 3);
  const auto fresh = build_model(testing::tiny_model(), testing::tiny_lora(), testing::kShape, testing::kVocab, 3);
  store_frozen_weights(*fresh, ever_trainable_set(*fresh, parse_strategy(GetParam())), torch::kBFloat16);
  const std::vector<double> fp32 = train(*fresh_reference, false), bf16 = train(*fresh, true);
  for (std::size_t step = 0; step < fp32.size(); ++step) {
    if (step > 0) {
      EXPECT_LT(fp32[step], fp32[step - 1]) << "the setup must train: step " << step;
      EXPECT_LT(bf16[step], bf16[step - 1]) << "step " << step;
    }
    EXPECT_NEAR(bf16[step], fp32[step], 0.02 * fp32[step]) << "step " << step;
  }
  for (const auto& p : fresh->parameters()) {
    if (p.scalar_type() == torch::kBFloat16) {
      EXPECT_FALSE(p.grad().defined()) << "a frozen weight got a gradient";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, FrozenWeights, ::testing::Values("F-L", "F-CL", "F-C"));

// Several clients' adapters and connectors in one pass over bf16 frozen weights: each client's
// loss is the loss that client's parameters give alone.
TEST(FrozenWeightsBatched, StackedClientsLossEqualsEachAlone) {
  const auto model = tiny();
  store_frozen_weights(*model, ever_trainable_set(*model, parse_strategy("F-CL")), torch::kBFloat16);
  const auto losses = testing::stacked_and_alone_losses(*model, testing::kShape);
  for (std::size_t k = 0; k < 2; ++k) {
    // bf16 products of another shape may round once differently: 1e-5 relative, where the two
    // clients differ by more than 1e-4.
    EXPECT_NEAR(losses.stacked[k], losses.alone[k], 1e-5 * std::abs(losses.alone[k])) << "client " << k;
  }
  EXPECT_GT(std::abs(losses.stacked[0] - losses.stacked[1]), 1e-4) << "the clients differ";
}

// A Hugging Face LLaVA: its CLIP tower (convolution, layer norms, class token) runs in bf16 and
// hands the connector fp32 features; the Llama decoder's projections and head narrow.
class FrozenWeightsHf : public testing::HfScratchTest {};

TEST_F(FrozenWeightsHf, LlavaComputesWhatFp32Computes) {
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed";
  const auto directory = write_hf_checkpoint("llava", "llava --seed 2");
  const data::ImageShape shape{3, 32, 32};
  const auto reference = hf::load_hf_vlm(directory, testing::tiny_lora(), shape, 128, 1);
  const auto model = hf::load_hf_vlm(directory, testing::tiny_lora(), shape, 128, 1);
  testing::randomize(*reference, 0.1, 5);
  testing::randomize(*model, 0.1, 5);
  const FrozenStorage storage = store_frozen_weights(*model, ever_trainable_set(*model, parse_strategy("F-CL")), torch::kBFloat16);
  EXPECT_EQ(storage.bytes_after * 2, storage.bytes_before);
  EXPECT_EQ(model->named_parameters()["vision.embeddings.class_embedding"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(model->named_parameters()["connector.0.weight"].scalar_type(), torch::kFloat32);
  torch::manual_seed(4);
  Batch batch;
  batch.images = torch::rand({2, 3, 32, 32}) * 2 - 1;
  batch.tokens = torch::randint(3, 120, {2, 7}, torch::kInt64);
  batch.attention_mask = torch::ones_like(batch.tokens, torch::kBool);
  torch::NoGradGuard no_grad;
  const double difference = relative_difference(model->logits(batch), reference->logits(batch));
  EXPECT_LT(difference, 3e-2);
  EXPECT_GT(difference, 0.0);
}

}  // namespace
}  // namespace fedvlm::model
