#include <gtest/gtest.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

TEST(FlatView, ValuesRoundTripBitExactly) {
  auto source = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  randomize(*source, 1.0, 3);
  auto target = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 2);
  const auto from = apply_strategy(*source, Strategy::kConnectorLora, 0, 0);
  const auto to = apply_strategy(*target, Strategy::kConnectorLora, 0, 0);
  const auto flat = flatten_values(from.parameters);
  EXPECT_EQ(flat.dim(), 1);
  EXPECT_EQ(flat.numel(), from.numel());
  EXPECT_EQ(flat_numel(from.parameters), from.numel());
  assign_values(to.parameters, flat);
  for (std::size_t i = 0; i < to.parameters.size(); ++i) EXPECT_TRUE(torch::equal(to.parameters[i], from.parameters[i]));
  EXPECT_TRUE(torch::equal(flatten_values(to.parameters), flat));
  // The order is the set's: the first values are the first parameter's.
  EXPECT_TRUE(torch::equal(flat.slice(0, 0, from.parameters[0].numel()), from.parameters[0].reshape({-1})));
}

TEST(FlatView, GradientsRoundTripAndMissingGradientsAreZero) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  const auto set = apply_strategy(*model, Strategy::kConnector, 0, 0);
  EXPECT_EQ(flatten_grads(set.parameters).abs().sum().item<double>(), 0.0);
  const auto values = torch::randn({set.numel()});
  assign_grads(set.parameters, values);
  EXPECT_TRUE(torch::equal(flatten_grads(set.parameters), values));
  assign_grads(set.parameters, values * 2);  // existing gradients overwritten in place
  EXPECT_TRUE(torch::equal(flatten_grads(set.parameters), values * 2));
}

TEST(FlatView, WrongSizeIsRejected) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  const auto set = apply_strategy(*model, Strategy::kLora, 0, 0);
  EXPECT_THROW(assign_values(set.parameters, torch::zeros({set.numel() + 1})), Error);
}

TEST(FlatView, DescriptionCountsTotalAndCommunicated) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 1);
  const auto set = apply_strategy(*model, Strategy::kLora, 0, 0);
  const auto text = describe_parameters(*model, set);
  EXPECT_NE(text.find("communicated per round"), std::string::npos) << text;
  EXPECT_NE(text.find(std::to_string(set.numel() / 1000)), std::string::npos) << text;
}

}  // namespace
}  // namespace fedvlm::model
