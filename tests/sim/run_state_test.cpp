// Self-contained run state: a checkpoint restores the model whatever stage the run reached, a
// resume from any checkpoint equals the uninterrupted run, `fedvlm eval`'s restore reproduces
// the run's final metrics, and a checkpoint of another setup is refused, naming what differs.
#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/eval/metrics_table.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/vlm.hpp"
#include "fedvlm/sim/evaluation.hpp"
#include "fedvlm/sim/setup.hpp"
#include "federation_fixture.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

using RunState = test_support::FederationTest;

// Leaves a finished run as if it had stopped after `rounds_done`: later checkpoints and the
// summary gone (metrics.jsonl keeps its later lines; a resume must drop them).
void stop_after(const fs::path& run_dir, std::int64_t rounds_done) {
  for (const auto& entry : fs::directory_iterator(run_dir / "checkpoints")) {
    const std::string name = entry.path().filename().string();
    if (name > fmt::format("round-{:06d}.pt", rounds_done)) fs::remove(entry.path());
  }
  fs::remove(run_dir / "summary.json");
}

void copy_run(const fs::path& from, const fs::path& to) {
  fedvlm::remove_tree(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

class TwoStageResume : public RunState, public ::testing::WithParamInterface<int> {};

// F-2stage trains the connector for two rounds, then LoRA. Stopped exactly at the switch (after
// round 2) or after it (round 3), the resumed run ends where the uninterrupted one does, bit for
// bit, with the same metrics.
TEST_P(TwoStageResume, StoppedAtOrAfterTheSwitchEqualsUninterrupted) {
  const int ranks = GetParam();
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-2stage", "fedavg");
  config.finetune.strategy = "F-2stage";
  config.finetune.stage1_rounds = 2;
  config.fl.rounds = 4;
  config.eval.every = 1;
  config.run.name = fmt::format("whole-{}", ranks);
  const torch::Tensor whole = run(config, ranks);
  const fs::path whole_dir = sim::run_directory(config);
  for (const std::int64_t stop : {2, 3}) {
    config.run.name = fmt::format("stopped-{}-after-{}", ranks, stop);
    const fs::path dir = sim::run_directory(config);
    copy_run(whole_dir, dir);
    stop_after(dir, stop);
    const torch::Tensor resumed = run(config, ranks, {.resume = true});
    ASSERT_EQ(whole.sizes(), resumed.sizes());
    EXPECT_TRUE(torch::equal(whole, resumed))
        << "stopped after round " << stop << ", max diff " << (whole - resumed).abs().max().item<double>();
    EXPECT_EQ(metrics_without_seconds(whole_dir), metrics_without_seconds(dir)) << "stopped after round " << stop;
    EXPECT_EQ(summary_of(whole_dir)["final"], summary_of(dir)["final"]) << "stopped after round " << stop;
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, TwoStageResume, ::testing::Values(1, 2));

// A checkpoint whose contents no longer match the checksum stored with them is never loaded: the
// resume takes the one before it, says so, and still ends where the uninterrupted run does.
TEST_F(RunState, CorruptCheckpointIsPassedOverForThePreviousOne) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-corrupt", "scaffold");
  config.fl.rounds = 4;
  config.checkpoint.every = 1;
  config.checkpoint.keep = 4;
  config.run.name = "whole";
  const torch::Tensor whole = run(config, 2);
  const fs::path whole_dir = sim::run_directory(config);

  config.run.name = "corrupt";
  const fs::path dir = sim::run_directory(config);
  copy_run(whole_dir, dir);
  stop_after(dir, 3);
  // Round 3's values changed by one ulp, its stored checksum kept: what bit rot leaves.
  const fs::path newest = sim::checkpoint_path(dir, 3);
  auto tensors = fl::load_tensor_map(newest);
  auto values = tensors.at("trained_values");
  values.view(-1)[0] = std::nextafter(values.view(-1)[0].item<float>(), 1e9f);
  fl::save_tensor_map(newest, tensors);
  try {
    sim::load_run_state(newest);
    FAIL() << "a checkpoint with a wrong checksum loaded";
  } catch (const sim::UnusableCheckpoint& e) {
    EXPECT_NE(std::string(e.what()).find("round-000003.pt is corrupt: its contents have checksum"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(sim::load_run_state(sim::checkpoint_path(dir, 2)));

  const torch::Tensor resumed = run(config, 2, {.resume = true});
  EXPECT_TRUE(torch::equal(whole, resumed)) << "max diff " << (whole - resumed).abs().max().item<double>();
  EXPECT_EQ(metrics_without_seconds(whole_dir), metrics_without_seconds(dir));

  // With every checkpoint unusable, the resume stops and lists why.
  config.run.name = "all-corrupt";
  const fs::path hopeless = sim::run_directory(config);
  copy_run(whole_dir, hopeless);
  stop_after(hopeless, 1);
  std::ofstream(sim::checkpoint_path(hopeless, 1), std::ios::trunc) << "not an archive";
  try {
    run(config, 2, {.resume = true});
    FAIL() << "resumed from nothing";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("holds no usable checkpoint to resume from"), std::string::npos) << e.what();
  }
}

// The checkpoint holds every parameter any round trained: F-2stage's connector is in it after the
// switch, with the values the run trained (not the ones it started from).
TEST_F(RunState, TwoStageCheckpointHoldsTheTrainedConnectorAndLora) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-2stage-contents", "fedavg");
  config.finetune.strategy = "F-2stage";
  config.finetune.stage1_rounds = 1;
  run(config, 1);
  const auto state = sim::load_run_state(*sim::latest_checkpoint(sim::run_directory(config)));
  sim::Workbench fresh = sim::open_workbench(config);
  const auto set = model::ever_trainable_set(*fresh.model, model::Strategy::kTwoStage);
  EXPECT_EQ(state.trained_names, set.names);
  bool has_connector = false, has_lora = false;
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < set.names.size(); ++i) {
    const auto n = set.parameters[i].numel();
    const bool moved = !torch::equal(state.trained_values.narrow(0, offset, n), set.parameters[i].flatten());
    if (set.names[i].rfind("connector.", 0) == 0) {
      has_connector = true;
      EXPECT_TRUE(moved) << set.names[i];
    }
    if (set.names[i].find("lora_b") != std::string::npos) {
      has_lora = true;
      EXPECT_TRUE(moved) << set.names[i];
    }
    offset += n;
  }
  EXPECT_TRUE(has_connector && has_lora);
}

class EvalOfCheckpoint : public RunState, public ::testing::WithParamInterface<std::string> {};

// `fedvlm eval --checkpoint` restores through the same function as a resume: evaluating the
// final checkpoint in a fresh process state gives exactly the run's final metrics.
TEST_P(EvalOfCheckpoint, ReproducesTheRunsFinalMetrics) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-eval", "fedavg");
  config.finetune.strategy = GetParam();
  config.finetune.stage1_rounds = 1;
  config.run.name = GetParam();
  run(config, 1);
  const fs::path run_dir = sim::run_directory(config);
  const auto final_metrics = summary_of(run_dir)["final"];

  sim::Workbench bench = sim::open_workbench(config);  // a fresh model: every value from the file
  sim::restore_run_state(*sim::latest_checkpoint(run_dir), *bench.model, config,
                         sim::run_fingerprint(config, *bench.model));
  bench.model->eval();
  comm::LocalCommunicator comm;
  const eval::MetricsTable table = sim::evaluate_on_test(config, bench, comm);
  ASSERT_FALSE(table.empty());
  for (const auto& [task, values] : table)
    for (const auto& [metric, value] : values)
      EXPECT_DOUBLE_EQ(value, final_metrics.at(task).at(metric).get<double>()) << GetParam() << " " << task << " " << metric;
}

INSTANTIATE_TEST_SUITE_P(Strategies, EvalOfCheckpoint, ::testing::Values("F-C", "F-L", "F-CL", "F-2stage", "full"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

std::string refusal(const fs::path& checkpoint, const Config& config) {
  sim::Workbench bench = sim::open_workbench(config);
  try {
    sim::restore_run_state(checkpoint, *bench.model, config, sim::run_fingerprint(config, *bench.model));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST_F(RunState, CheckpointOfAnotherDatasetStrategyOrShapeIsRefusedNamingWhich) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-refuse", "fedavg");
  config.fl.rounds = 1;
  run(config, 1);
  const fs::path checkpoint = *sim::latest_checkpoint(sim::run_directory(config));
  EXPECT_EQ(refusal(checkpoint, config), "");  // its own setup restores

  Config other_data = config;
  other_data.data.path = (root_ / "data1").string();
  const std::string data_message = refusal(checkpoint, other_data);
  EXPECT_NE(data_message.find("dataset:"), std::string::npos) << data_message;
  EXPECT_NE(data_message.find(other_data.data.path), std::string::npos) << data_message;

  Config other_strategy = config;
  other_strategy.finetune.strategy = "F-L";
  EXPECT_NE(refusal(checkpoint, other_strategy).find("finetune.strategy: the checkpoint has F-CL, this config F-L"),
            std::string::npos)
      << refusal(checkpoint, other_strategy);

  Config other_shape = config;
  other_shape.lora.rank = 4;
  EXPECT_NE(refusal(checkpoint, other_shape).find("lora.rank: the checkpoint has 2, this config 4"), std::string::npos)
      << refusal(checkpoint, other_shape);
}

TEST_F(RunState, CheckpointOfAnotherBaseIsRefused) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-base", "fedavg");
  config.fl.rounds = 1;
  run(config, 1);
  const fs::path checkpoint = *sim::latest_checkpoint(sim::run_directory(config));
  // A base checkpoint of this very model: same shapes, but not what the run started from.
  sim::Workbench bench = sim::open_workbench(config);
  const fs::path base = root_ / "runs-base" / "base.pt";
  model::save_base_checkpoint(base, *bench.model, bench.dataset.info().tokenizer_model);
  Config with_base = config;
  with_base.model.base = base.string();
  const std::string message = refusal(checkpoint, with_base);
  EXPECT_NE(message.find("base: the checkpoint was trained from base none"), std::string::npos) << message;
}

// Datasets are written without HDF5 object times: the same inputs give the same bytes, so a
// dataset rebuilt by the same command still resumes its runs, and another one does not.
TEST_F(RunState, RebuiltDatasetKeepsItsFingerprint) {
  test_support::write_tiny_federation(root_ / "data4-again", 4);
  EXPECT_EQ(file_fingerprint(root_ / "data4-again" / "meta.h5"), file_fingerprint(root_ / "data4" / "meta.h5"));
  EXPECT_NE(file_fingerprint(root_ / "data1" / "meta.h5"), file_fingerprint(root_ / "data4" / "meta.h5"));
}

}  // namespace
