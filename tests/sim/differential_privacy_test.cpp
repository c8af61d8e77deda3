// DP-FedAvg (issue 14, item 5): client updates clipped to fl.dp_clip, a fixed denominator and
// Gaussian noise of std z·S on the sum, ε at fl.dp_delta after every round in metrics.jsonl and
// summary.json. The accountant's own numbers are checked against published values in
// tests/fl/privacy_accountant_test.cpp; here, that a run reports what it computes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <vector>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/differential_privacy.hpp"
#include "fedvlm/fl/privacy_accountant.hpp"
#include "fedvlm/sim/algorithms.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "federation_fixture.hpp"
#include "support/input_error.hpp"

using namespace fedvlm;

namespace {

Config dp_config(const std::string& algorithm, double clip, double noise = 0.0) {
  sim::register_algorithms();
  Config config;
  config.fl.algorithm = algorithm;
  config.fl.weighting = "uniform";
  config.fl.dp_clip = clip;
  config.fl.dp_noise_multiplier = noise;
  return config;
}

using test_support::input_error;

TEST(DpClipScale, ScalesOnlyUpdatesLongerThanTheClipNorm) {
  EXPECT_EQ(fl::dp_clip_scale(0.5, 1.0), 1.0);
  EXPECT_EQ(fl::dp_clip_scale(1.0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(fl::dp_clip_scale(10.0, 2.0), 0.2);
  EXPECT_EQ(fl::dp_clip_scale(10.0, 0.0), 1.0);  // DP off
  EXPECT_EQ(fl::dp_clip_scale(0.0, 1.0), 1.0);
}

TEST(DpFedAvg, FoldsEachUpdateClippedToTheNormWithUniformWeight) {
  const Config config = dp_config("fedavg", 1.0);
  auto algorithm = fl::make_algorithm(config, 10);
  algorithm->reset(4, torch::kCPU);
  fl::Accumulator accumulator = sim::round_accumulator(*algorithm, torch::kCPU);
  const torch::Tensor x = torch::tensor({1.0f, -1.0f, 0.0f, 2.0f});
  auto fold = [&](std::int64_t client, const torch::Tensor& y, std::int64_t samples) {
    auto update = algorithm->begin_client({client, 0, x, 0.1});
    return sim::fold_client(*update, {y, 2, 1.0, samples}, samples,
                            {client, 0, x, config.fl.max_update_norm, config.fl.dp_clip}, accumulator);
  };
  EXPECT_TRUE(fold(0, x + torch::tensor({3.0f, 4.0f, 0.0f, 0.0f}), 40));  // ‖Δ‖ = 5: scaled by 1/5
  EXPECT_TRUE(fold(1, x + torch::tensor({0.0f, 0.0f, 0.3f, 0.4f}), 3));   // ‖Δ‖ = 0.5: as it is
  const torch::Tensor expected = torch::tensor({3.0 / 5, 4.0 / 5, 0.3, 0.4}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(accumulator.segment(fl::kDeltaSegment), expected, 0, 1e-6))  // y rounds in float32
      << accumulator.segment(fl::kDeltaSegment);
  EXPECT_EQ(accumulator.total_weight(), 2.0);  // uniform: 40 and 3 samples weigh alike
  EXPECT_EQ(accumulator.scalar(fl::kDpClippedSegment), 1.0);
}

TEST(DpFedAvg, PrivatizeDividesByTheExpectedCohortAndAddsNoiseOfStdZTimesS) {
  const std::int64_t n = 200'000;
  Config config = dp_config("fedavg", 0.5, 2.0);
  config.fl.clients_per_round = 8;
  auto algorithm = fl::make_algorithm(config, 100);
  algorithm->reset(n, torch::kCPU);
  const fl::DpSettings dp = fl::dp_settings(config, *algorithm, 100);
  ASSERT_TRUE(dp.accounted());
  EXPECT_EQ(dp.expected_cohort, 8);
  EXPECT_DOUBLE_EQ(dp.sampling_rate, 0.08);

  auto reduced = [&](std::int64_t round) {
    fl::Accumulator accumulator = algorithm->make_accumulator();
    accumulator.add_scalar(fl::kWeightSegment, 3.0);  // three clients took part, not eight
    accumulator.add_scalar(fl::kClientsSegment, 3.0);
    accumulator.segment(fl::kDeltaSegment).fill_(0.25);
    fl::privatize(accumulator, dp, round);
    return accumulator;
  };
  const fl::Accumulator first = reduced(4);
  EXPECT_EQ(first.total_weight(), 8.0);  // the fixed denominator m
  const torch::Tensor noise = first.segment(fl::kDeltaSegment) - 0.25;
  EXPECT_NEAR(noise.std().item<double>(), 2.0 * 0.5, 0.01);  // z·S, from 200K draws
  EXPECT_NEAR(noise.mean().item<double>(), 0.0, 0.01);
  EXPECT_TRUE(torch::equal(first.buffer(), reduced(4).buffer()));  // the stream of (seed, round)
  EXPECT_FALSE(torch::equal(first.buffer(), reduced(5).buffer()));

  config.fl.dp_noise_multiplier = 0.0;  // clipping only: the denominator, no noise
  const fl::DpSettings clip_only = fl::dp_settings(config, *algorithm, 100);
  EXPECT_FALSE(clip_only.accounted());
  fl::Accumulator plain = algorithm->make_accumulator();
  plain.segment(fl::kDeltaSegment).fill_(0.25);
  fl::privatize(plain, clip_only, 0);
  EXPECT_EQ(plain.total_weight(), 8.0);
  EXPECT_TRUE(torch::all(plain.segment(fl::kDeltaSegment).eq(0.25)).item<bool>());
}

TEST(DpFedAvg, FullParticipationSamplesAtRateOne) {
  const Config config = dp_config("fedadam", 1.0, 1.0);
  auto algorithm = fl::make_algorithm(config, 6);
  algorithm->reset(3, torch::kCPU);
  const fl::DpSettings dp = fl::dp_settings(config, *algorithm, 6);
  EXPECT_EQ(dp.expected_cohort, 6);
  EXPECT_EQ(dp.sampling_rate, 1.0);
  EXPECT_FALSE(fl::dp_settings(dp_config("fedadam", 0.0), *algorithm, 6).enabled());
}

TEST(DpFedAvg, AlgorithmsThatAggregateMoreThanTheUpdateAreRefused) {
  for (const auto& [name, segment] : std::vector<std::pair<std::string, std::string>>{
           {"scaffold", "control"}, {"fednova", "normalized"}}) {
    const Config config = dp_config(name, 1.0, 1.0);
    auto algorithm = fl::make_algorithm(config, 4);
    algorithm->reset(3, torch::kCPU);
    const std::string message = input_error([&] { fl::dp_settings(config, *algorithm, 4); });
    EXPECT_NE(message.find("fl.algorithm = \"" + name + "\" also aggregates"), std::string::npos) << message;
    EXPECT_NE(message.find(segment), std::string::npos) << message;
  }
}

TEST(DpFedAvg, ConfigurationsWithoutAMeaningAreRefusedNamingTheKey) {
  sim::register_algorithms();
  const auto load = [](std::vector<std::string> overrides) {
    return input_error([&] { load_config({.overrides = std::move(overrides)}); });
  };
  EXPECT_NE(load({"fl.dp_noise_multiplier=1.0"}).find("fl.dp_noise_multiplier = 1 needs fl.dp_clip > 0"),
            std::string::npos);
  EXPECT_NE(load({"fl.dp_clip=0.1"}).find("set fl.weighting = \"uniform\""), std::string::npos);
  EXPECT_NE(load({"fl.dp_clip=0.1", "fl.weighting=uniform", "fl.dp_delta=1"}).find("fl.dp_delta = 1 must be below 1"),
            std::string::npos);
  EXPECT_EQ(load({"fl.dp_clip=0.1", "fl.weighting=uniform", "fl.dp_noise_multiplier=1.1"}), "");
}

using DpRun = test_support::FederationTest;

// A whole run on 2 ranks: ε after every round in metrics.jsonl is the accountant's for
// q = 1 (every client, every round) and z, the summary holds the last, and the noise, drawn on
// rank 0 from the run's stream, gives the same model on 1 rank.
TEST_F(DpRun, ReportsEpsilonEveryRoundAndIsRankCountIndependent) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-dp", "fedavg");
  config.fl.rounds = 3;
  config.fl.weighting = "uniform";
  config.fl.dp_clip = 0.05;
  config.fl.dp_noise_multiplier = 1.3;
  config.fl.dp_delta = 1e-3;
  config.run.name = "dp-2";
  const torch::Tensor two_ranks = run(config, 2);

  std::vector<double> epsilons;
  std::ifstream metrics(sim::run_directory(config) / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto row = nlohmann::json::parse(line);
    if (row["metric"] == "epsilon") epsilons.push_back(row["value"].get<double>());
  }
  fl::PrivacyAccountant accountant;
  ASSERT_EQ(epsilons.size(), 3u);
  for (std::size_t round = 0; round < epsilons.size(); ++round) {
    accountant.step(1.0, 1.3);
    EXPECT_DOUBLE_EQ(epsilons[round], accountant.epsilon(1e-3)) << "round " << round + 1;
  }
  EXPECT_LT(epsilons[0], epsilons[2]);
  const auto privacy = summary_of(sim::run_directory(config))["privacy"];
  EXPECT_DOUBLE_EQ(privacy["epsilon"].get<double>(), epsilons.back());
  EXPECT_EQ(privacy["delta"].get<double>(), 1e-3);
  EXPECT_EQ(privacy["rounds"].get<int>(), 3);

  config.run.name = "dp-1";
  EXPECT_TRUE(torch::allclose(two_ranks, run(config, 1), 0, 1e-6));
  Config noiseless = config;
  noiseless.fl.dp_noise_multiplier = 0.0, noiseless.run.name = "dp-clip-only";
  EXPECT_FALSE(torch::allclose(two_ranks, run(noiseless, 2), 0, 1e-6));  // the noise moved the model
  EXPECT_TRUE(summary_of(sim::run_directory(noiseless))["privacy"]["epsilon"].is_null());
}

}  // namespace
