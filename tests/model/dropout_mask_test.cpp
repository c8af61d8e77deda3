// Dropout masks (client_stack.hpp): one function of (key, element index), the same on every
// device, and each client's rows of a stacked mask equal that client's mask alone.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/model/client_stack.hpp"

namespace {

using fedvlm::model::dropout_mask;

const auto kFloat = torch::TensorOptions().dtype(torch::kFloat32);

TEST(DropoutMask, TheCpuLoopAndTheTensorOperationsAgree) {
  const std::vector<std::uint64_t> keys = {0x0123456789ABCDEFULL, 42, 0xFFFFFFFFFFFFFFFFULL};
  const std::vector<std::int64_t> rows = {2, 1, 3}, lengths = {7, 9, 4};
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat64}) {
    const auto options = torch::TensorOptions().dtype(dtype);
    const auto loop = dropout_mask(keys, rows, lengths, 9, 5, 0.8, options);
    const auto ops = dropout_mask(keys, rows, lengths, 9, 5, 0.8, options, /*tensor_ops=*/true);
    EXPECT_EQ(loop.sizes(), (std::vector<std::int64_t>{6, 9, 5}));
    EXPECT_EQ(loop.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(loop, ops)) << "dtype " << dtype;
  }
}

TEST(DropoutMask, EachClientsRowsEqualItsMaskAlone) {
  const std::vector<std::uint64_t> keys = {11, 22, 33};
  const std::vector<std::int64_t> rows = {2, 1, 3}, lengths = {7, 9, 4};
  const std::int64_t length = 9, features = 6;
  const auto stacked = dropout_mask(keys, rows, lengths, length, features, 0.7, kFloat);
  std::int64_t first = 0;
  for (std::size_t c = 0; c < keys.size(); ++c) {
    const auto alone = dropout_mask({&keys[c], 1}, {&rows[c], 1}, {&lengths[c], 1}, lengths[c], features, 0.7, kFloat);
    const auto mine = stacked.narrow(0, first, rows[c]);
    EXPECT_TRUE(torch::equal(mine.narrow(1, 0, lengths[c]), alone)) << "client " << c;
    // Padding positions pass x through unchanged.
    if (lengths[c] < length) {
      EXPECT_TRUE(torch::all(mine.narrow(1, lengths[c], length - lengths[c]).eq(1.0)).item<bool>());
    }
    first += rows[c];
  }
}

TEST(DropoutMask, KeepsTheRequestedShareScaledByItsInverse) {
  const std::uint64_t key = 7;
  const std::int64_t rows = 64, length = 128;
  for (const double keep : {0.95, 0.5, 0.1}) {
    const auto mask = dropout_mask({&key, 1}, {&rows, 1}, {&length, 1}, length, 128, keep, kFloat);
    const double kept = mask.gt(0).to(torch::kFloat64).mean().item<double>();
    EXPECT_NEAR(kept, keep, 0.005) << "keep " << keep;  // 1M draws: the standard error is below 0.0005
    EXPECT_FLOAT_EQ(mask.max().item<float>(), static_cast<float>(1.0 / keep));
    EXPECT_EQ(mask.min().item<float>(), 0.0f);
  }
}

TEST(DropoutMask, KeysGiveDifferentMasksAndStreamsAdvancePerCall) {
  const std::int64_t rows = 4, length = 16;
  const std::uint64_t a = 1, b = 2;
  const auto first = dropout_mask({&a, 1}, {&rows, 1}, {&length, 1}, length, 32, 0.5, kFloat);
  EXPECT_TRUE(torch::equal(first, dropout_mask({&a, 1}, {&rows, 1}, {&length, 1}, length, 32, 0.5, kFloat)));
  EXPECT_FALSE(torch::equal(first, dropout_mask({&b, 1}, {&rows, 1}, {&length, 1}, length, 32, 0.5, kFloat)));
  auto generator = fedvlm::torch_generator({1, "dropout", 0, 0});
  auto same = fedvlm::torch_generator({1, "dropout", 0, 0});
  const auto key = fedvlm::model::next_dropout_key(generator);
  EXPECT_EQ(key, fedvlm::model::next_dropout_key(same));
  EXPECT_NE(key, fedvlm::model::next_dropout_key(generator));
}

}  // namespace
