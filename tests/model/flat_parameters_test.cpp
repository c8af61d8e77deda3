#include <gtest/gtest.h>

#include "fedvlm/model/flat_parameters.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

TEST(FlatParameters, BindingKeepsValuesAndMakesTheParametersViews) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  randomize(*model, 1.0, 3);
  const auto set = apply_strategy(*model, Strategy::kConnectorLora, 0, 0);
  const auto before = flatten_values(set.parameters);
  FlatParameters flat;
  EXPECT_TRUE(flat.bind(set.parameters));
  EXPECT_TRUE(torch::equal(flat.values(), before));
  EXPECT_TRUE(flat.values().grad().is_same(flat.grads()));
  // Writing the flat buffer writes the model's parameters, and assign_values writes the buffer.
  const auto x = torch::randn({set.numel()});
  {
    torch::NoGradGuard no_grad;
    flat.values().copy_(x);
  }
  EXPECT_TRUE(torch::equal(flatten_values(set.parameters), x));
  assign_values(set.parameters, before);
  EXPECT_TRUE(torch::equal(flat.values(), before));
  EXPECT_FALSE(flat.bind(set.parameters));  // bound already: nothing to do
}

TEST(FlatParameters, BackwardAccumulatesIntoTheFlatGradient) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  randomize(*model, 1.0, 3);
  const auto set = apply_strategy(*model, Strategy::kConnectorLora, 0, 0);
  const auto batch = four_sample_batch();
  model->eval();  // no dropout: two passes give the same gradient
  model->loss(batch).backward();
  const auto expected = flatten_grads(set.parameters);
  ASSERT_GT(expected.abs().sum().item<double>(), 0.0);

  FlatParameters flat;
  flat.bind(set.parameters);
  EXPECT_EQ(flat.grads().abs().sum().item<double>(), 0.0);  // fresh: zero, whatever the parameters held
  model->loss(batch).backward();
  EXPECT_TRUE(torch::allclose(flat.grads(), expected, 1e-5, 1e-7));
  EXPECT_TRUE(torch::equal(flatten_grads(set.parameters), flat.grads()));  // the parameters' own grads are views
  model->loss(batch).backward();  // accumulates, as a parameter's gradient does
  EXPECT_TRUE(torch::allclose(flat.grads(), expected * 2, 1e-5, 1e-7));
}

TEST(FlatParameters, RebindsWhenAParameterOrItsGradientWasReplacedOrTheSetChanged) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  const auto set = apply_strategy(*model, Strategy::kConnectorLora, 0, 0);
  FlatParameters flat;
  ASSERT_TRUE(flat.bind(set.parameters));

  // Something gives a parameter new storage (a replica's mirror, a load): its values survive.
  auto parameter = set.parameters.back();
  const auto replacement = torch::randn(parameter.sizes());
  parameter.set_data(replacement.clone());
  EXPECT_TRUE(flat.bind(set.parameters));
  EXPECT_TRUE(torch::equal(set.parameters.back(), replacement));
  EXPECT_TRUE(torch::equal(flat.values().narrow(0, set.numel() - parameter.numel(), parameter.numel()),
                           replacement.reshape({-1})));

  // A gradient reset to undefined (zero_grad with set_to_none) is noticed too.
  set.parameters.front().mutable_grad() = torch::Tensor();
  EXPECT_TRUE(flat.bind(set.parameters));
  EXPECT_FALSE(flat.bind(set.parameters));

  // Another trainable set (F-2stage's second stage).
  const auto lora = apply_strategy(*model, Strategy::kLora, 0, 0);
  EXPECT_TRUE(flat.bind(lora.parameters));
  EXPECT_EQ(flat.values().numel(), lora.numel());
}

}  // namespace
}  // namespace fedvlm::model
