// Configurations that once gave wrong numbers without saying so: the baselines' budgets and
// isolation, cohorts without samples, and placement under quantity skew.
#include <algorithm>

#include <fmt/format.h>

#include "fedvlm/fl/client_sampler.hpp"
#include "fedvlm/fl/placement.hpp"
#include "fedvlm/sim/local_trainer.hpp"
#include "federation_fixture.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

using RoundCases = test_support::FederationTest;

// Each client of the local-only baseline starts from the same values, F-2stage's LoRA included:
// nothing leaks from the client a rank trained before, so one rank and two agree.
TEST_F(RoundCases, LocalOnlyTwoStageIsTheSameOnOneAndTwoRanks) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-local-2stage", "local");
  config.finetune.strategy = "F-2stage";
  config.finetune.stage1_rounds = 1;
  std::map<int, nlohmann::json> final_metrics;
  for (const int ranks : {1, 2}) {
    config.run.name = fmt::format("ranks-{}", ranks);
    comm::run_in_process(
        ranks,
        [&](comm::Communicator& comm) { sim::run_federation(config, comm, {.overwrite = true, .rank_log_files = false}); },
        std::chrono::seconds(240));
    final_metrics[ranks] = summary_of(sim::run_directory(config))["final"];
  }
  ASSERT_FALSE(final_metrics[1].empty());
  for (const auto& [task, values] : final_metrics[1].items())
    for (const auto& [metric, value] : values.items())
      EXPECT_NEAR(value.get<double>(), final_metrics[2][task][metric].get<double>(), 1e-12) << task << " " << metric;
}

// The centralized baseline trains, each round, as many samples as that round's federated cohort:
// with local.epochs and partial participation too (batches of 3 divide every client, so the
// count is exact).
TEST_F(RoundCases, CentralizedTrainsAsManySamplesAsTheCohortUnderEpochs) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-central-epochs", "fedavg");
  config.local.steps = 0;
  config.local.epochs = 2;
  config.local.batch_size = 3;
  config.fl.clients_per_round = 2;
  config.fl.rounds = 3;
  std::int64_t expected = 0;  // Σ over rounds and cohort clients of epochs x samples (6, 9, 12, 15)
  const fl::ClientSampler sampler(4, 2, static_cast<std::uint64_t>(config.run.seed));
  for (std::int64_t round = 0; round < config.fl.rounds; ++round)
    for (const std::int64_t client : sampler.cohort(round)) expected += 2 * (6 + 3 * client);
  run(config, 2);
  EXPECT_EQ(summary_of(sim::run_directory(config))["trained_samples"].get<std::int64_t>(), expected);
  config.fl.algorithm = config.run.name = "centralized";
  run(config, 2);
  EXPECT_EQ(summary_of(sim::run_directory(config))["trained_samples"].get<std::int64_t>(), expected);
}

// A round whose sampled clients hold no samples (total weight 0) changes nothing and the run goes
// on; the other rounds train.
TEST_F(RoundCases, CohortWithoutSamplesLeavesTheModelAsItWas) {
  test_support::write_tiny_federation(root_ / "data-empty", std::vector<int>{0, 9});
  Config config = test_support::tiny_config(root_ / "data-empty", root_ / "runs-empty", "fedavgm");
  config.fl.clients_per_round = 1;
  config.fl.rounds = 6;
  const fl::ClientSampler sampler(2, 1, static_cast<std::uint64_t>(config.run.seed));
  std::vector<bool> empty_round;
  for (std::int64_t round = 0; round < config.fl.rounds; ++round) empty_round.push_back(sampler.cohort(round)[0] == 0);
  ASSERT_NE(std::count(empty_round.begin(), empty_round.end(), true), 0) << "pick another seed: no empty round";
  ASSERT_NE(std::count(empty_round.begin(), empty_round.end(), false), 0) << "pick another seed: no training round";

  run(config, 2);
  const fs::path run_dir = sim::run_directory(config);
  for (std::int64_t round = 1; round < config.fl.rounds; ++round) {
    const auto before = sim::load_run_state(sim::checkpoint_path(run_dir, round)).trained_values;
    const auto after = sim::load_run_state(sim::checkpoint_path(run_dir, round + 1)).trained_values;
    // FedAvgM keeps moving on its momentum after a training round, unless the round is skipped.
    EXPECT_EQ(torch::equal(before, after), empty_round[static_cast<std::size_t>(round)]) << "round " << round + 1;
  }
  EXPECT_TRUE(fs::exists(run_dir / "summary.json"));
}

// Under local.steps every client with data does the same work whatever its size, so placement
// balances client counts, not sample counts; with local.epochs work grows with the client.
TEST(Placement, BalancesLocalStepsUnderQuantitySkew) {
  LocalConfig local;
  local.steps = 2;
  local.batch_size = 4;
  const std::vector<std::int64_t> samples = {100, 1, 1, 1, 0};
  EXPECT_EQ(sim::local_steps_of_clients(local, samples), (std::vector<std::int64_t>{2, 2, 2, 2, 0}));
  const auto ranks = fl::place_clients(std::vector<std::int64_t>{0, 1, 2, 3}, sim::local_steps_of_clients(local, samples), 2);
  EXPECT_EQ(ranks[0].size(), 2u);
  EXPECT_EQ(ranks[1].size(), 2u);
  local.steps = 0;
  local.epochs = 2;
  EXPECT_EQ(sim::local_steps_of_clients(local, samples), (std::vector<std::int64_t>{50, 2, 2, 2, 0}));
}

TEST(LocalSteps, SamplesOfStepsAndStepsCoveringABudgetAgree) {
  // 10 samples in batches of 4: passes of 4 + 4 + 2.
  EXPECT_EQ(sim::samples_in_steps(10, 4, 0), 0);
  EXPECT_EQ(sim::samples_in_steps(10, 4, 2), 8);
  EXPECT_EQ(sim::samples_in_steps(10, 4, 3), 10);
  EXPECT_EQ(sim::samples_in_steps(10, 4, 5), 18);
  EXPECT_EQ(sim::samples_in_steps(0, 4, 5), 0);
  for (std::int64_t budget = 1; budget <= 40; ++budget) {
    const std::int64_t steps = sim::steps_covering(10, 4, budget);
    EXPECT_GE(sim::samples_in_steps(10, 4, steps), budget) << budget;
    EXPECT_LT(sim::samples_in_steps(10, 4, steps - 1), budget) << budget;
  }
}

}  // namespace
