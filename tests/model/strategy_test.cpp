#include <gtest/gtest.h>

#include <set>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

// After one backward: every parameter with a gradient is in the strategy's set and every set
// member has a non-zero gradient. LoRA B is made non-zero first (as after a first step):
// with B = 0, A's gradient is exactly zero.
void expect_gradients_exactly_on_set(const std::string& kind, Strategy strategy, std::int64_t round) {
  auto model = build_model(tiny_model(kind), tiny_lora(0.1), kShape, kVocab, 2);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : model->parameter_groups().lora) {
      if (name.ends_with("lora_b")) p.normal_(0.0, 0.05);
    }
  }
  const auto set = apply_strategy(*model, strategy, round, /*stage1_rounds=*/2);
  ASSERT_FALSE(set.names.empty());
  const std::set<std::string> members(set.names.begin(), set.names.end());
  const auto samples = make_samples(4);
  const std::vector<std::int64_t> rows = {0, 1, 2, 3};
  model->train();
  model->loss(collate_training(samples, rows, {})).backward();
  const auto label = kind + " " + strategy_name(strategy) + " round " + std::to_string(round);
  for (const auto& item : model->named_parameters()) {
    const bool has_grad = item.value().grad().defined();
    if (members.count(item.key()) != 0) {
      ASSERT_TRUE(has_grad) << label << ": " << item.key() << " has no gradient";
      EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << label << ": " << item.key();
      EXPECT_TRUE(item.value().requires_grad());
    } else {
      EXPECT_FALSE(has_grad) << label << ": " << item.key() << " got a gradient outside the set";
      EXPECT_FALSE(item.value().requires_grad()) << label << ": " << item.key();
    }
  }
}

TEST(Strategy, GradientsReachExactlyTheTrainableSetOfEveryStrategy) {
  for (const auto strategy : {Strategy::kConnector, Strategy::kLora, Strategy::kConnectorLora, Strategy::kFull}) {
    expect_gradients_exactly_on_set("encoder", strategy, 0);
  }
  expect_gradients_exactly_on_set("encoder", Strategy::kTwoStage, 1);  // stage 1: connector
  expect_gradients_exactly_on_set("encoder", Strategy::kTwoStage, 2);  // stage 2: LoRA
  expect_gradients_exactly_on_set("encoder-free", Strategy::kLora, 0);
  expect_gradients_exactly_on_set("encoder-free", Strategy::kFull, 0);
}

TEST(Strategy, SetsHoldTheDocumentedGroupsInRegistrationOrder) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab);
  const auto groups = model->parameter_groups();
  auto names_of = [](const NamedParameters& group) {
    std::vector<std::string> names;
    for (const auto& item : group) names.push_back(item.first);
    return names;
  };
  EXPECT_EQ(trainable_set(*model, Strategy::kConnector, 0, 0).names, names_of(groups.connector));
  EXPECT_EQ(trainable_set(*model, Strategy::kLora, 0, 0).names, names_of(groups.lora));
  EXPECT_EQ(trainable_set(*model, Strategy::kTwoStage, 4, 5).names, names_of(groups.connector));
  EXPECT_EQ(trainable_set(*model, Strategy::kTwoStage, 5, 5).names, names_of(groups.lora));
  auto both = names_of(groups.connector);
  const auto lora = names_of(groups.lora);
  both.insert(both.end(), lora.begin(), lora.end());  // connector registers before the decoder
  EXPECT_EQ(trainable_set(*model, Strategy::kConnectorLora, 0, 0).names, both);
  for (const auto& name : trainable_set(*model, Strategy::kFull, 0, 0).names) {
    EXPECT_FALSE(name.starts_with("vision.")) << name;
  }
  EXPECT_EQ(groups.vision.front().first, "vision.positions");  // a module's own parameters before its children's
  EXPECT_EQ(groups.lora.front().first, "decoder.layers.0.attention.q.lora_a");
}

TEST(Strategy, EncoderFreeTakesOnlyFullOrLora) {
  auto model = build_model(tiny_model("encoder-free"), tiny_lora(), kShape, kVocab);
  for (const auto strategy : {Strategy::kConnector, Strategy::kConnectorLora, Strategy::kTwoStage}) {
    try {
      apply_strategy(*model, strategy, 0, 1);
      FAIL() << strategy_name(strategy);
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find("encoder-free"), std::string::npos) << error.what();
    }
  }
  EXPECT_NO_THROW(apply_strategy(*model, Strategy::kLora, 0, 1));
  EXPECT_NO_THROW(apply_strategy(*model, Strategy::kFull, 0, 1));
}

TEST(Strategy, NamesParseAndUnknownNamesAreRejected) {
  for (const auto* name : {"F-C", "F-L", "F-CL", "F-2stage", "full"}) EXPECT_EQ(strategy_name(parse_strategy(name)), name);
  EXPECT_THROW(parse_strategy("F-X"), InputError);
  auto lora = tiny_lora();
  lora.rank = 0;
  auto model = build_model(tiny_model(), lora, kShape, kVocab);
  EXPECT_THROW(apply_strategy(*model, Strategy::kLora, 0, 1), InputError);
}

TEST(Strategy, FrozenVisionEncoderBuildsNoAutogradGraph) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab);
  apply_strategy(*model, Strategy::kLora, 0, 1);  // connector frozen too: no graph at all
  const auto samples = make_samples(2);
  const std::vector<std::int64_t> rows = {0, 1};
  EXPECT_FALSE(model->embed_images(collate_training(samples, rows, {}).images).requires_grad());
  apply_strategy(*model, Strategy::kConnector, 0, 1);
  EXPECT_TRUE(model->embed_images(collate_training(samples, rows, {}).images).requires_grad());
}

}  // namespace
}  // namespace fedvlm::model
