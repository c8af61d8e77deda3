// Accumulator: segments, scalars and the per-client fold of weight·(y − x).
#include <gtest/gtest.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/accumulator.hpp"

namespace fedvlm::fl {
namespace {

TEST(Accumulator, AddDifferenceTakesTheFloat32DifferenceExactlyInFloat64) {
  Accumulator accumulator(standard_layout(5), torch::kCPU);
  // y − x is not representable in float32 (1 + 2⁻²³ − 2⁻²⁴ rounds), but is in float64.
  const float one = 1.0f, ulp = std::ldexp(1.0f, -23);
  const auto y = torch::tensor({one + ulp, 3.0f, -2.0f, 1e-8f, 0.0f});
  const auto x = torch::tensor({std::ldexp(1.0f, -24), 1.0f, 2.0f, -1e-8f, 0.0f});
  accumulator.add_difference(kDeltaSegment, y, x, 3.0);
  accumulator.add_difference(kDeltaSegment, y, x, 0.5);
  const auto expected =
      (y.to(torch::kFloat64) - x.to(torch::kFloat64)) * 3.0 + (y.to(torch::kFloat64) - x.to(torch::kFloat64)) * 0.5;
  EXPECT_TRUE(torch::allclose(accumulator.segment(kDeltaSegment), expected, 1e-15, 0.0));
  EXPECT_EQ(accumulator.segment(kDeltaSegment)[0].item<double>(),
            3.5 * (static_cast<double>(one + ulp) - std::ldexp(1.0, -24)));
  EXPECT_EQ(accumulator.scalar(kWeightSegment), 0.0);  // other segments untouched
}

TEST(Accumulator, AddDifferenceAcceptsNonContiguousInputsAndRejectsWrongShapes) {
  Accumulator accumulator(standard_layout(4), torch::kCPU);
  const auto y = torch::arange(8, torch::kFloat32).slice(0, 0, 8, 2);  // 0 2 4 6, strided
  const auto x = torch::ones({4});
  accumulator.add_difference(kDeltaSegment, y, x, 2.0);
  EXPECT_TRUE(torch::equal(accumulator.segment(kDeltaSegment), torch::tensor({-2.0, 2.0, 6.0, 10.0}, torch::kFloat64)));
  EXPECT_THROW(accumulator.add_difference(kDeltaSegment, torch::ones({3}), torch::ones({3}), 1.0), Error);
  EXPECT_THROW(accumulator.add_difference(kDeltaSegment, torch::ones({4}, torch::kFloat64), x, 1.0), Error);
  EXPECT_THROW(accumulator.add_difference("nope", x, x, 1.0), Error);
}

TEST(Accumulator, ScalarsAddUpPerSegment) {
  Accumulator accumulator(standard_layout(3), torch::kCPU);
  accumulator.add_scalar(kWeightSegment, 2.5);
  accumulator.add_scalar(kWeightSegment, 1.0);
  accumulator.add_scalar(kClientsSegment, 1.0);
  EXPECT_EQ(accumulator.total_weight(), 3.5);
  EXPECT_EQ(accumulator.clients(), 1);
  EXPECT_THROW(accumulator.add_scalar(kDeltaSegment, 1.0), Error);  // not a scalar
}

}  // namespace
}  // namespace fedvlm::fl
