// Simulated attacks and robust aggregators (issue 14, item 4; fl/robustness.hpp): each rule on
// hand-worked matrices, each attack's message, who attacks, and the configurations refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/robustness.hpp"
#include "support/input_error.hpp"

using namespace fedvlm;

namespace {

torch::Tensor matrix(std::vector<std::vector<double>> rows) {
  std::vector<torch::Tensor> tensors;
  for (auto& row : rows) tensors.push_back(torch::tensor(row, torch::kFloat64));
  return torch::stack(tensors);
}

torch::Tensor vec(std::vector<double> values) { return torch::tensor(values, torch::kFloat64); }

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected) {
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-12, 1e-12)) << actual << "\nexpected\n" << expected;
}

Config robust_config(const std::string& algorithm, const std::string& aggregator) {
  fl::register_algorithms();
  Config config;
  config.fl.algorithm = algorithm;
  config.fl.weighting = "uniform";
  config.set("fl.aggregator", aggregator);
  return config;
}

using test_support::input_error;

TEST(RobustAggregators, MedianIsTheMiddleValueOrTheMeanOfTheTwoMiddleOnes) {
  expect_close(fl::coordinate_median(matrix({{1, 10}, {3, -2}, {2, 5}})), vec({2, 5}));
  expect_close(fl::coordinate_median(matrix({{1}, {2}, {10}, {4}})), vec({3}));  // (2 + 4) / 2
  expect_close(fl::coordinate_median(matrix({{7, -1}})), vec({7, -1}));
}

TEST(RobustAggregators, TrimmedMeanDropsTheLargestAndSmallestValuesOfEachCoordinate) {
  const torch::Tensor rows = matrix({{-100, 5}, {1, 4}, {2, 3}, {3, 2}, {100, -90}});
  expect_close(fl::trimmed_mean(rows, 1), vec({2, 3}));  // {1,2,3} and {2,3,4}
  expect_close(fl::trimmed_mean(rows, 0), rows.mean(0));
  expect_close(fl::trimmed_mean(rows, 7), fl::coordinate_median(rows));  // clamped: one value left
}

TEST(RobustAggregators, ClippedMeanScalesLongUpdatesToTheMedianNormOrTheGivenOne) {
  const torch::Tensor rows = matrix({{3, 4}, {0, 1}, {0, 2}});  // norms 5, 1, 2: the median is 2
  expect_close(fl::clipped_mean(rows, 0.0), vec({(1.2 + 0 + 0) / 3, (1.6 + 1 + 2) / 3}));
  expect_close(fl::clipped_mean(rows, 1.0), vec({0.6 / 3, (0.8 + 1 + 1) / 3}));
  expect_close(fl::clipped_mean(rows, 10.0), rows.mean(0));
}

TEST(RobustAggregators, KrumPicksTheUpdateNearestItsNeighbours) {
  // Four updates around the origin, the origin itself in row 3, and two attackers far away.
  // With f = 1 of k = 7, each is scored on its k - f - 2 = 4 nearest others: the origin's
  // squared distances to the four are 1 each (score 4), (0, 1)'s are 1, 2, 2, 4 (score 9).
  const torch::Tensor rows = matrix({{0, 1}, {1, 0}, {0, -1}, {0, 0}, {-1, 0}, {10, 10}, {10, 11}});
  EXPECT_EQ(fl::krum_choice(rows, 1), 3);
  fl::AggregatorSettings settings{.kind = fl::Aggregator::kKrum, .byzantine_fraction = 0.2};
  expect_close(fl::aggregate_rows(rows, settings), vec({0, 0}));
  EXPECT_EQ(fl::krum_choice(matrix({{1, 1}, {1, 1}, {1, 1}}), 0), 0);  // ties: the first row
  EXPECT_EQ(fl::krum_choice(matrix({{5, 5}}), 0), 0);
}

TEST(RobustAggregators, AggregateRobustlyReplacesTheMeanAndIgnoresEmptyRows) {
  const std::int64_t m = 4, n = 2;
  auto layout = fl::standard_layout(n);
  for (auto& segment : fl::client_row_layout(m, n)) layout.push_back(segment);
  fl::Accumulator reduced(layout, torch::kCPU);
  reduced.add_scalar(fl::kWeightSegment, 3.0);
  reduced.add_scalar(fl::kClientsSegment, 3.0);
  const torch::Tensor x = torch::zeros({n});
  const std::vector<std::pair<std::int64_t, std::vector<float>>> folded = {{0, {1, 9}}, {1, {2, 8}}, {3, {30, -5}}};
  for (const auto& [row, y] : folded) {
    reduced.add_difference_row(fl::kClientRowsSegment, row, torch::tensor(y), x, 1.0);
    reduced.segment(fl::kClientRowUsedSegment)[row].add_(1.0);
  }
  reduced.segment(fl::kClientRowsSegment).narrow(0, 2 * n, n).fill_(1000.0);  // row 2 holds no update
  fl::aggregate_robustly(reduced, {.kind = fl::Aggregator::kMedian, .cohort = m});
  expect_close(reduced.segment(fl::kDeltaSegment), vec({2, 8}));
  EXPECT_EQ(reduced.total_weight(), 1.0);  // the server step divides by it: the median is the mean

  fl::Accumulator untouched(layout, torch::kCPU);
  untouched.add_scalar(fl::kWeightSegment, 2.0);
  fl::aggregate_robustly(untouched, {.kind = fl::Aggregator::kMedian, .cohort = m});  // no rows: as it was
  EXPECT_EQ(untouched.total_weight(), 2.0);
  fl::aggregate_robustly(reduced, {.kind = fl::Aggregator::kMean, .cohort = m});  // mean: nothing to do
  expect_close(reduced.segment(fl::kDeltaSegment), vec({2, 8}));
}

TEST(Attacks, TheAttackersAreTheSeedsFractionOfTheClients) {
  Config config = robust_config("fedavg", "mean");
  config.set("fl.attack", std::string("sign-flip"));
  config.set("fl.attack_fraction", 0.26);
  auto algorithm = fl::make_algorithm(config, 10);
  const fl::Robustness first = fl::robustness_settings(config, *algorithm, 10);
  ASSERT_EQ(first.attack.attackers.size(), 3u);  // 2.6 rounds to 3
  EXPECT_TRUE(std::is_sorted(first.attack.attackers.begin(), first.attack.attackers.end()));
  for (std::int64_t client = 0; client < 10; ++client)
    EXPECT_EQ(first.attack.attacks(client), std::count(first.attack.attackers.begin(), first.attack.attackers.end(), client) == 1);
  EXPECT_EQ(fl::robustness_settings(config, *algorithm, 10).attack.attackers, first.attack.attackers);
  bool another_set = false;
  for (std::int64_t seed = 1; seed <= 5 && !another_set; ++seed) {
    config.run.seed = seed;
    another_set = fl::robustness_settings(config, *algorithm, 10).attack.attackers != first.attack.attackers;
  }
  EXPECT_TRUE(another_set) << "the seed chooses the attackers";
  config.set("fl.attack", std::string("none"));
  EXPECT_FALSE(fl::robustness_settings(config, *algorithm, 10).attack.enabled());
}

TEST(Attacks, EachAttackSendsWhatItSays) {
  fl::AttackSettings attack{.kind = fl::Attack::kSignFlip, .scale = 10.0, .seed = 3, .attackers = {5}};
  const torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f});
  const torch::Tensor delta = torch::tensor({1.0f, -1.0f, 0.0f, 2.0f});
  const torch::Tensor y = x + delta;
  EXPECT_TRUE(torch::equal(fl::attacked_params(attack, y, x, 5, 0), x - delta));
  attack.kind = fl::Attack::kScale;
  EXPECT_TRUE(torch::allclose(fl::attacked_params(attack, y, x, 5, 0), x + delta * 10));
  attack.kind = fl::Attack::kNan;
  EXPECT_TRUE(torch::all(torch::isnan(fl::attacked_params(attack, y, x, 5, 0))).item<bool>());
  EXPECT_TRUE(torch::equal(y, x + delta));  // y itself is left alone

  attack.kind = fl::Attack::kGaussian;
  const std::int64_t n = 200'000;
  const torch::Tensor big_x = torch::zeros({n});
  const torch::Tensor big_y = torch::full({n}, 0.01f);  // ‖Δ‖ = 0.01·√n
  const torch::Tensor sent = fl::attacked_params(attack, big_y, big_x, 5, 2);
  EXPECT_NEAR(sent.norm().item<double>() / (0.01 * std::sqrt(double(n))), 10.0, 0.1);  // s times ‖Δ‖
  EXPECT_NEAR(sent.mean().item<double>(), 0.0, 0.01);
  EXPECT_TRUE(torch::equal(sent, fl::attacked_params(attack, big_y, big_x, 5, 2)));  // (seed, round, client)
  EXPECT_FALSE(torch::equal(sent, fl::attacked_params(attack, big_y, big_x, 5, 3)));
}

TEST(RobustAggregators, ConfigurationsWithoutAMeaningAreRefusedNamingTheKey) {
  const auto refusal = [](Config config, std::int64_t clients = 10) {
    return input_error([&] {
      auto algorithm = fl::make_algorithm(config, clients);
      algorithm->reset(3, torch::kCPU);
      fl::robustness_settings(config, *algorithm, clients);
    });
  };
  Config samples = robust_config("fedavg", "median");
  samples.fl.weighting = "samples";
  EXPECT_NE(refusal(samples).find("set fl.weighting = \"uniform\""), std::string::npos) << refusal(samples);
  EXPECT_NE(refusal(robust_config("scaffold", "median")).find("also aggregates control"), std::string::npos);
  Config dp = robust_config("fedavg", "trimmed-mean");
  dp.fl.dp_clip = 1.0;
  EXPECT_NE(refusal(dp).find("fl.dp_clip = 1"), std::string::npos) << refusal(dp);
  Config krum = robust_config("fedadam", "krum");
  krum.set("fl.byzantine_fraction", 0.5);
  krum.fl.clients_per_round = 6;  // f = 3 needs 9
  EXPECT_NE(refusal(krum).find("needs a cohort of at least 2f + 3 = 9; the cohort is 6"), std::string::npos)
      << refusal(krum);
  krum.set("fl.byzantine_fraction", 0.2);  // f = 1 needs 5
  EXPECT_EQ(refusal(krum), "");
  Config trim = robust_config("fedavgm", "trimmed-mean");
  trim.set("fl.byzantine_fraction", 0.05);  // of 10: drops nothing
  EXPECT_NE(refusal(trim).find("drops no value of a cohort of 10"), std::string::npos) << refusal(trim);
  Config none = robust_config("fedavg", "mean");
  none.set("fl.attack", std::string("scale"));
  none.set("fl.attack_fraction", 0.01);
  EXPECT_NE(refusal(none).find("makes no attacker"), std::string::npos) << refusal(none);
  EXPECT_EQ(refusal(robust_config("fedprox", "clipped-mean")), "");
}

}  // namespace
