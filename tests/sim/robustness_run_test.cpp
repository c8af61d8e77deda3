// Attacks and robust aggregators in the round loop (issue 14, item 4): fold_client sends what an
// attacker sends into the sums and into the client's row, a whole run aggregates the rows on
// rank 0 the same on any number of ranks, and a NaN attack meets the bad-update screen.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/robustness.hpp"
#include "fedvlm/sim/algorithms.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "federation_fixture.hpp"

using namespace fedvlm;

namespace {

using RobustRun = test_support::FederationTest;

Config attacked(Config config, const std::string& attack, double fraction, const std::string& aggregator) {
  config.fl.weighting = "uniform";
  config.set("fl.attack", attack);
  config.set("fl.attack_fraction", fraction);
  config.set("fl.aggregator", aggregator);
  return config;
}

// The per-round values of `metric` in a run's metrics.jsonl.
std::vector<double> metric_values(const std::filesystem::path& run_dir, const std::string& metric) {
  std::vector<double> values;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto row = nlohmann::json::parse(line);
    if (row["metric"] == metric) values.push_back(row["value"].get<double>());
  }
  return values;
}

TEST(RobustFolding, AnAttackersUpdateIsReplacedInTheSumsAndInItsRow) {
  sim::register_algorithms();
  Config config = attacked(Config{}, "sign-flip", 0.34, "median");  // 1 of 3 clients
  config.fl.algorithm = "fedavg";
  auto algorithm = fl::make_algorithm(config, 3);
  algorithm->reset(2, torch::kCPU);
  const fl::Robustness robustness = fl::robustness_settings(config, *algorithm, 3);
  ASSERT_EQ(robustness.attack.attackers.size(), 1u);
  const std::int64_t attacker = robustness.attack.attackers[0];

  fl::Accumulator accumulator = sim::round_accumulator(*algorithm, torch::kCPU, 3);
  const torch::Tensor x = torch::tensor({1.0f, 1.0f});
  const std::vector<std::vector<float>> deltas = {{1, 2}, {3, 4}, {5, 6}};
  torch::Tensor expected_rows = torch::zeros({3, 2}, torch::kFloat64);
  for (std::int64_t client = 0; client < 3; ++client) {
    const torch::Tensor delta = torch::tensor(deltas[static_cast<std::size_t>(client)]);
    auto update = algorithm->begin_client({client, 0, x, 0.1});
    ASSERT_TRUE(sim::fold_client(*update, {x + delta, 2, 1.0, 4}, 4,
                                 {client, 0, x, 0.0, 0.0, &robustness.attack, /*row=*/client}, accumulator));
    expected_rows[client] = (client == attacker ? -delta : delta).to(torch::kFloat64);
  }
  EXPECT_TRUE(torch::equal(accumulator.segment(fl::kClientRowsSegment), expected_rows.flatten()));
  EXPECT_TRUE(torch::equal(accumulator.segment(fl::kDeltaSegment), expected_rows.sum(0)));  // the mean's sums too
  EXPECT_EQ(accumulator.scalar(fl::kAttackedSegment), 1.0);
  EXPECT_TRUE(torch::equal(accumulator.segment(fl::kClientRowUsedSegment), torch::ones({3}, torch::kFloat64)));
}

// Sign-flipping clients under the median: the same model on 1 and 2 ranks (each row is written
// by one rank, the sum gathers them exactly), every round counts its attacker, and the median
// ends elsewhere than the plain mean does.
TEST_F(RobustRun, MedianUnderSignFlipIsRankCountIndependent) {
  Config config = attacked(test_support::tiny_config(root_ / "data4", root_ / "runs-robust", "fedavg"), "sign-flip",
                           0.25, "median");
  config.fl.rounds = 3;
  config.run.name = "median-2";
  const torch::Tensor two_ranks = run(config, 2);
  EXPECT_EQ(metric_values(sim::run_directory(config), "attacked_clients"), std::vector<double>(3, 1.0));
  config.run.name = "median-1";
  EXPECT_TRUE(torch::allclose(two_ranks, run(config, 1), 0, 1e-6));

  Config mean = config;
  mean.set("fl.aggregator", std::string("mean"));
  mean.run.name = "mean-2";
  EXPECT_FALSE(torch::allclose(two_ranks, run(mean, 2), 0, 1e-6));
}

TEST_F(RobustRun, NanAttackersMeetTheBadUpdateScreen) {
  Config config = attacked(test_support::tiny_config(root_ / "data4", root_ / "runs-robust", "fedavg"), "nan", 0.5,
                           "median");
  config.fl.rounds = 2;
  config.fl.max_bad_fraction = 0.25;
  config.run.name = "nan-stops";
  try {
    run(config, 2);
    FAIL() << "the run did not stop";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("round 1: 2 of the cohort's 4 client updates were left out"),
              std::string::npos)
        << e.what();
  }
  config.fl.max_bad_fraction = 0.5;
  config.run.name = "nan-left-out";
  run(config, 2);
  EXPECT_EQ(metric_values(sim::run_directory(config), "left_out_clients"), std::vector<double>(2, 2.0));
}

TEST_F(RobustRun, BaselinesRefuseAttacksAndAggregators) {
  Config config = attacked(test_support::tiny_config(root_ / "data4", root_ / "runs-robust", "centralized"), "scale",
                           0.25, "mean");
  config.run.name = "baseline";
  try {
    run(config, 1);
    FAIL() << "the baseline ran";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fl.attack = \"scale\", but fl.algorithm = \"centralized\""),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
