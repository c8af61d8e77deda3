// Deterministic random streams: a key names a stream exactly; its draws have the promised
// ranges and distributions (checked on fixed seeds, so the statistical bounds are deterministic).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/core/torch_rng.hpp"

namespace fedvlm {
namespace {

std::vector<std::uint64_t> first_draws(const StreamKey& key, int count = 4) {
  Rng rng(key);
  std::vector<std::uint64_t> draws(static_cast<std::size_t>(count));
  for (auto& draw : draws) draw = rng.next_u64();
  return draws;
}

TEST(RngStreams, SameKeyGivesSameStream) {
  const StreamKey key{.seed = 42, .purpose = "cohort", .round = 3, .client = 17};
  EXPECT_EQ(first_draws(key, 64), first_draws(key, 64));
  EXPECT_EQ(stream_seed(key), stream_seed(StreamKey{.seed = 42, .purpose = "cohort", .round = 3, .client = 17}));
}

TEST(RngStreams, EveryKeyFieldSeparatesStreams) {
  const StreamKey base{.seed = 42, .purpose = "cohort", .round = 3, .client = 17};
  const std::vector<StreamKey> variants{
      {.seed = 43, .purpose = "cohort", .round = 3, .client = 17},
      {.seed = 42, .purpose = "local-shuffle", .round = 3, .client = 17},
      {.seed = 42, .purpose = "cohort", .round = 4, .client = 17},
      {.seed = 42, .purpose = "cohort", .round = 3, .client = 18},
      // Swapping round and client must not collide either.
      {.seed = 42, .purpose = "cohort", .round = 17, .client = 3},
  };
  std::set<std::vector<std::uint64_t>> streams{first_draws(base)};
  for (const auto& key : variants) {
    EXPECT_NE(stream_seed(key), stream_seed(base)) << key.purpose << " " << key.round << " " << key.client;
    streams.insert(first_draws(key));
  }
  EXPECT_EQ(streams.size(), variants.size() + 1);
}

TEST(RngDraws, BelowStaysInRangeAndIsRoughlyUniform) {
  Rng rng(StreamKey{.seed = 7, .purpose = "test-below"});
  constexpr int kBins = 10;
  constexpr int kDraws = 100000;
  std::array<int, kBins> counts{};
  for (int i = 0; i < kDraws; ++i) {
    const std::uint64_t value = rng.below(kBins);
    ASSERT_LT(value, static_cast<std::uint64_t>(kBins));
    ++counts[value];
  }
  const double expected = static_cast<double>(kDraws) / kBins;
  double chi_square = 0.0;
  for (int count : counts) chi_square += (count - expected) * (count - expected) / expected;
  // 9 degrees of freedom: P(chi2 > 40) is about 1e-5, so only a broken generator fails.
  EXPECT_LT(chi_square, 40.0);
  EXPECT_THROW(rng.below(0), Error);
}

TEST(RngDraws, RangeIsInclusiveAndUniformIsHalfOpen) {
  Rng rng(StreamKey{.seed = 8, .purpose = "test-range"});
  std::set<std::int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t value = rng.range(-2, 2);
    ASSERT_GE(value, -2);
    ASSERT_LE(value, 2);
    seen.insert(value);
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(RngDraws, NormalHasZeroMeanAndUnitVariance) {
  Rng rng(StreamKey{.seed = 9, .purpose = "test-normal"});
  constexpr int kDraws = 50000;
  double sum = 0.0;
  double sum_of_squares = 0.0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = rng.normal();
    sum += x;
    sum_of_squares += x * x;
  }
  const double mean = sum / kDraws;
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(sum_of_squares / kDraws - mean * mean, 1.0, 0.03);
}

TEST(RngDraws, DirichletSumsToOneAndSmallAlphaConcentrates) {
  Rng rng(StreamKey{.seed = 10, .purpose = "test-dirichlet"});
  constexpr int kDraws = 200;
  constexpr std::size_t kClasses = 10;
  double mean_largest_small_alpha = 0.0;
  double mean_largest_large_alpha = 0.0;
  for (int i = 0; i < kDraws; ++i) {
    for (double alpha : {0.01, 0.5, 100.0}) {
      const auto draw = rng.dirichlet(alpha, kClasses);
      ASSERT_EQ(draw.size(), kClasses);
      EXPECT_NEAR(std::accumulate(draw.begin(), draw.end(), 0.0), 1.0, 1e-9);
      for (double p : draw) ASSERT_GE(p, 0.0);
      const double largest = *std::max_element(draw.begin(), draw.end());
      if (alpha == 0.01) mean_largest_small_alpha += largest / kDraws;
      if (alpha == 100.0) mean_largest_large_alpha += largest / kDraws;
    }
  }
  // alpha -> 0: almost all mass on one class; alpha large: close to uniform (1/10 each).
  EXPECT_GT(mean_largest_small_alpha, 0.9);
  EXPECT_LT(mean_largest_large_alpha, 0.2);

  const std::vector<double> alphas{1.0, 2.0, 3.0};
  const auto draw = rng.dirichlet(alphas);
  EXPECT_NEAR(draw[0] + draw[1] + draw[2], 1.0, 1e-12);
  EXPECT_THROW(rng.dirichlet(0.0, 3), Error);
}

TEST(RngDraws, SampleWithoutReplacementGivesDistinctIndices) {
  Rng rng(StreamKey{.seed = 11, .purpose = "test-sample"});
  const auto sample = rng.sample_without_replacement(1000, 100);
  ASSERT_EQ(sample.size(), 100u);
  const std::set<std::int64_t> distinct(sample.begin(), sample.end());
  EXPECT_EQ(distinct.size(), 100u);
  for (auto index : sample) {
    EXPECT_GE(index, 0);
    EXPECT_LT(index, 1000);
  }
  auto everything = rng.sample_without_replacement(20, 20);
  std::sort(everything.begin(), everything.end());
  for (std::int64_t i = 0; i < 20; ++i) EXPECT_EQ(everything[static_cast<std::size_t>(i)], i);
  EXPECT_TRUE(rng.sample_without_replacement(5, 0).empty());
  EXPECT_THROW(rng.sample_without_replacement(5, 6), Error);
}

TEST(RngDraws, ShuffleIsAPermutationThatDependsOnTheKey) {
  std::vector<int> items(50);
  std::iota(items.begin(), items.end(), 0);
  auto first = items;
  auto again = items;
  auto other = items;
  Rng(StreamKey{.seed = 12, .purpose = "shuffle"}).shuffle(first);
  Rng(StreamKey{.seed = 12, .purpose = "shuffle"}).shuffle(again);
  Rng(StreamKey{.seed = 12, .purpose = "shuffle", .round = 1}).shuffle(other);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  EXPECT_NE(first, items);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, items);
}

TEST(TorchGenerator, SameKeyGivesIdenticalTensors) {
  const StreamKey key{.seed = 5, .purpose = "dropout", .round = 2, .client = 9};
  auto first = torch_generator(key);
  auto second = torch_generator(key);
  const torch::Tensor a = torch::randn({4, 8}, first);
  const torch::Tensor b = torch::randn({4, 8}, second);
  EXPECT_TRUE(torch::equal(a, b));
  auto other = torch_generator(StreamKey{.seed = 5, .purpose = "dropout", .round = 2, .client = 10});
  EXPECT_FALSE(torch::equal(a, torch::randn({4, 8}, other)));
  // The generator advances: a second draw from the same generator differs from the first.
  EXPECT_FALSE(torch::equal(a, torch::randn({4, 8}, first)));
}

TEST(TorchGenerator, ReseedDrawsWhatAFreshGeneratorDraws) {
  const StreamKey key{.seed = 5, .purpose = "dropout", .round = 2, .client = 9};
  auto fresh = torch_generator(key);
  const torch::Tensor expected = torch::cat({torch::randn({3}, fresh), torch::rand({5}, fresh)});
  // A used generator: its engine has advanced and an odd number of normal draws leaves one cached.
  auto used = torch_generator(StreamKey{.seed = 7, .purpose = "dropout", .round = 0, .client = 1});
  (void)torch::randn({3}, used);
  reseed(used, key);
  EXPECT_TRUE(torch::equal(expected, torch::cat({torch::randn({3}, used), torch::rand({5}, used)})));
  at::Generator unset;  // an undefined generator becomes torch_generator(key)
  reseed(unset, key);
  ASSERT_TRUE(unset.defined());
  EXPECT_TRUE(torch::equal(expected, torch::cat({torch::randn({3}, unset), torch::rand({5}, unset)})));
}

}  // namespace
}  // namespace fedvlm
