// The round loop end to end on a tiny synthetic federation: rank-count invariance, exact
// resume, the centralized baseline's equivalence with a one-client federation, and parallel
// client training's equivalence with sequential training.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/model/vlm.hpp"
#include "fedvlm/sim/checkpoint.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fedvlm/sim/setup.hpp"
#include "federation_fixture.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

using Federation = test_support::FederationTest;

class RankCount : public Federation, public ::testing::WithParamInterface<std::string> {};

TEST_P(RankCount, TwoAndThreeRanksMatchOneRank) {
  const std::string algorithm = GetParam();
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-ranks", algorithm);
  config.fl.clients_per_round = 3;  // partial participation: the cohort comes from the seed
  config.run.name = algorithm + "-1";
  const torch::Tensor one = run(config, 1);
  config.run.name = algorithm + "-2";
  const torch::Tensor two = run(config, 2);
  config.run.name = algorithm + "-3";
  const torch::Tensor three = run(config, 3);
  ASSERT_EQ(one.sizes(), two.sizes());
  EXPECT_TRUE(torch::allclose(one, two, 1e-4, 1e-5)) << "max diff " << (one - two).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(one, three, 1e-4, 1e-5)) << "max diff " << (one - three).abs().max().item<double>();
  // The vector moved: training happened.
  Config untrained = config;
  untrained.fl.rounds = 1;
  untrained.local.lr = 0.0;
  untrained.fl.algorithm = "fedavg";  // same initial vector for every algorithm
  untrained.run.name = algorithm + "-untrained";
  EXPECT_FALSE(torch::allclose(one, run(untrained, 1), 1e-6, 1e-7));
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RankCount, ::testing::Values("fedavg", "scaffold", "fedadam", "fednova"));

TEST_F(Federation, ResumedRunEqualsUninterrupted) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-resume", "scaffold");
  config.fl.rounds = 4;
  config.run.name = "whole";
  const torch::Tensor whole = run(config, 2);

  config.run.name = "stopped";
  sim::install_stop_signal_handlers();
  std::raise(SIGUSR1);  // as Slurm would: the loop checkpoints after the current round and stops
  run(config, 2);
  sim::clear_stop_signal();
  EXPECT_FALSE(fs::exists(root_ / "runs-resume" / "stopped" / "summary.json"));
  EXPECT_EQ(sim::load_run_state(*sim::latest_checkpoint(root_ / "runs-resume" / "stopped")).rounds_done, 1);
  const torch::Tensor resumed = run(config, 2, {.resume = true});

  EXPECT_TRUE(torch::equal(whole, resumed)) << "max diff " << (whole - resumed).abs().max().item<double>();
  EXPECT_EQ(metrics_without_seconds(root_ / "runs-resume" / "whole"),
            metrics_without_seconds(root_ / "runs-resume" / "stopped"));
  EXPECT_TRUE(fs::exists(root_ / "runs-resume" / "stopped" / "summary.json"));
}

TEST_F(Federation, OneClientFedAvgEqualsCentralized) {
  Config config = test_support::tiny_config(root_ / "data1", root_ / "runs-central", "fedavg");
  config.fl.server_lr = 1.0;
  const torch::Tensor federated = run(config, 1);
  config.fl.algorithm = "centralized";
  config.run.name = "centralized";
  const torch::Tensor centralized = run(config, 1);
  EXPECT_TRUE(torch::equal(federated, centralized)) << "max diff " << (federated - centralized).abs().max().item<double>();
}

// The local loop calls the step-space hook after every optimizer step: SCAFFOLD with its
// correction there trains the same model as option II under plain SGD, and not FedAvg's.
TEST_F(Federation, ScaffoldCorrectionAfterTheStepEqualsOptionTwoUnderSgd) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-scaffold", "scaffold");
  config.fl.clients_per_round = 3;  // partial participation: c ≠ mean cᵢ
  config.local.optimizer = "sgd", config.local.grad_clip = 0.0, config.local.lr = 0.5;
  std::map<std::string, torch::Tensor> global;
  for (const std::string control : {"update", "steps"}) {
    config.set("fl.scaffold_control", control);
    config.run.name = control;
    global[control] = run(config, 2);
  }
  config.fl.algorithm = config.run.name = "fedavg";
  global["fedavg"] = run(config, 2);
  const auto max_diff = [&](const char* a, const char* b) { return (global[a] - global[b]).abs().max().item<double>(); };
  EXPECT_LT(max_diff("update", "steps"), 1e-5);
  EXPECT_GT(max_diff("steps", "fedavg"), 100 * max_diff("update", "steps"));
}

class ParallelClients : public Federation, public ::testing::WithParamInterface<std::string> {};

// Threads and replicas change nothing but the speed: the same global vector, bit for bit, and the
// same metrics, on one rank and on two.
TEST_P(ParallelClients, TrainTheSameModelAsSequentialClients) {
  const std::string algorithm = GetParam();
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-parallel", algorithm);
  if (algorithm == "fedprox") config.finetune.strategy = "F-2stage", config.finetune.stage1_rounds = 1;
  for (const int ranks : {1, 2}) {
    config.run.parallel_clients = 1;
    config.run.name = fmt::format("{}-{}-sequential", algorithm, ranks);
    const torch::Tensor sequential = run(config, ranks);
    config.run.parallel_clients = 3;
    config.run.name = fmt::format("{}-{}-parallel", algorithm, ranks);
    const torch::Tensor parallel = run(config, ranks);
    EXPECT_TRUE(torch::equal(sequential, parallel))
        << ranks << " rank(s), max diff " << (sequential - parallel).abs().max().item<double>();
    EXPECT_EQ(metrics_without_seconds(root_ / "runs-parallel" / fmt::format("{}-{}-sequential", algorithm, ranks)),
              metrics_without_seconds(root_ / "runs-parallel" / fmt::format("{}-{}-parallel", algorithm, ranks)));
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ParallelClients, ::testing::Values("fedavg", "scaffold", "fedprox"));

class BatchedClientRuns : public Federation, public ::testing::WithParamInterface<std::string> {};

// Training clients in one batched pass changes the run's results by float rounding only, on one
// rank and two, alone and composed with parallel clients; so do its metrics (same lines, losses
// within rounding).
TEST_P(BatchedClientRuns, TrainTheSameModelAsOneClientAtATime) {
  const std::string algorithm = GetParam();
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-batched", algorithm);
  if (algorithm == "fedprox") config.finetune.strategy = "F-2stage", config.finetune.stage1_rounds = 1;
  config.local.epochs = 1, config.local.steps = 0;  // unequal step counts: 6, 9, 12, 15 samples in batches of 4
  for (const int ranks : {1, 2}) {
    config.run.batched_clients = 1, config.run.parallel_clients = 1;
    config.run.name = fmt::format("{}-{}-one", algorithm, ranks);
    const torch::Tensor one = run(config, ranks);
    Config untrained = config;  // the same trainable set at its initial values
    untrained.local.lr = 0.0;
    untrained.fl.algorithm = "fedavg";
    untrained.run.name = fmt::format("{}-{}-untrained", algorithm, ranks);
    const torch::Tensor initial = run(untrained, ranks);
    for (const auto& [batched, parallel] : std::vector<std::pair<int, int>>{{3, 1}, {2, 2}}) {
      config.run.batched_clients = batched, config.run.parallel_clients = parallel;
      config.run.name = fmt::format("{}-{}-batched{}-parallel{}", algorithm, ranks, batched, parallel);
      const torch::Tensor together = run(config, ranks);
      // Within 1e-4 of what training moved, in the L2 norm (AdamW turns rounding in nearly
      // cancelling gradient elements into whole steps: see batched_clients_test.cpp).
      const double moved = (one - initial).norm().item<double>();
      EXPECT_LE((one - together).norm().item<double>(), 1e-4 * moved)
          << config.run.name << ": max diff " << (one - together).abs().max().item<double>() << ", moved " << moved;
      const auto summary = summary_of(root_ / "runs-batched" / config.run.name);
      const auto reference = summary_of(root_ / "runs-batched" / fmt::format("{}-{}-one", algorithm, ranks));
      EXPECT_EQ(summary["trained_samples"], reference["trained_samples"]) << config.run.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, BatchedClientRuns, ::testing::Values("fedavg", "scaffold", "fedprox"));

TEST_F(Federation, ParallelReplicasShareTheWeightsNoRoundTrains) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-replicas", "fedavg");
  sim::Workbench bench = sim::open_workbench(config);
  sim::ClientData data(bench.dataset);
  const auto make_model = [&] {
    return model::build_model(config.model, config.lora, bench.dataset.info().image_shape,
                              bench.tokenizer.vocab_size(), 99);  // another seed: the values must come from the model
  };
  sim::ParallelGroupTrainer trainer(data, *bench.model, make_model, config, bench.special, bench.device, 2);
  const auto original = bench.model->named_parameters();
  int shared = 0, copied = 0;
  for (const int worker : {0, 1}) {
    for (const auto& item : trainer.replica(worker).named_parameters()) {
      const torch::Tensor& mine = original[item.key()];
      EXPECT_TRUE(torch::equal(item.value(), mine)) << item.key();
      const bool trains = item.key().rfind("connector.", 0) == 0 || item.key().find("lora_") != std::string::npos;
      EXPECT_EQ(item.value().data_ptr() == mine.data_ptr(), !trains) << item.key() << " (F-CL trains it: " << trains << ")";
      ++(trains ? copied : shared);
    }
  }
  EXPECT_GT(shared, 0);
  EXPECT_GT(copied, 0);
}

TEST_F(Federation, LocalOnlyBaselineReportsItsTimeAndTrainedSamples) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-local", "local");
  config.local.steps = 2;
  config.local.batch_size = 3;  // every client holds at least 6 samples: two full batches a round
  comm::run_in_process(
      2, [&](comm::Communicator& comm) { sim::run_federation(config, comm, {.overwrite = true, .rank_log_files = false}); },
      std::chrono::seconds(240));
  std::ifstream in(sim::run_directory(config) / "summary.json");
  const auto summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["trained_samples"].get<std::int64_t>(), 4 * config.fl.rounds * 2 * 3);  // clients x rounds x steps x batch
  for (const char* part : {"data", "train", "eval", "communication"})
    EXPECT_TRUE(summary["time_seconds"].contains(part)) << part << " missing: " << summary["time_seconds"].dump();
  EXPECT_GT(summary["time_seconds"]["train"].get<double>(), 0.0);
  EXPECT_EQ(summary["clients_averaged"].get<std::int64_t>(), 4);
}

TEST_F(Federation, ExistingResultsAreNotOverwrittenWithoutAsking) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-exists", "fedavg");
  config.fl.rounds = 1;
  run(config, 1);
  comm::LocalCommunicator comm;
  try {
    sim::run_federation(config, comm, {.rank_log_files = false});
    FAIL() << "a second run into the same directory was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
}

// --overwrite starts the run afresh, its rank log included; other files in logs/ stay.
TEST_F(Federation, OverwrittenRunStartsFreshRankLogs) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-overwrite", "fedavg");
  config.fl.rounds = 1;
  const fs::path logs = sim::run_directory(config) / "logs";
  comm::LocalCommunicator comm;
  for (int attempt = 0; attempt < 2; ++attempt) sim::run_federation(config, comm, {.overwrite = true});
  {
    std::ofstream(logs / "slurm-7.out") << "kept\n";
  }
  config.fl.rounds = 2;
  sim::run_federation(config, comm, {.overwrite = true});
  log::setup({});  // detach the rank log file from the process-wide logger
  std::ifstream in(logs / "rank-0.log");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t banners = 0;
  for (std::size_t at = text.find("fedvlm run:"); at != std::string::npos; at = text.find("fedvlm run:", at + 1)) ++banners;
  EXPECT_EQ(banners, 1u) << text;
  EXPECT_NE(text.find("2 rounds"), std::string::npos) << text;
  EXPECT_TRUE(fs::exists(logs / "slurm-7.out"));
}

}  // namespace
