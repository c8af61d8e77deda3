// An FL algorithm registered from a test file (tests/fl/toy_algorithm.hpp) runs in the real
// round loop: loaded from the config by name, trained, checkpointed with its own state.
#include <gtest/gtest.h>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/sim/algorithms.hpp"
#include "fedvlm/sim/checkpoint.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fl/toy_algorithm.hpp"
#include "tiny_federation.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

sim::RunState run(const Config& config, int ranks) {
  comm::run_in_process(
      ranks,
      [&](comm::Communicator& comm) {
        sim::run_federation(config, comm, {.overwrite = true, .rank_log_files = false});
      },
      std::chrono::seconds(240));
  return sim::load_run_state(*sim::latest_checkpoint(sim::run_directory(config)));
}

}  // namespace

// toy-avg with fl.toy_scale = 1 takes FedAvg's server step: same global vector, bit for bit.
TEST(ToyAlgorithm, RegisteredFromATestRunsTheRoundLoopLikeFedAvg) {
  sim::register_algorithms();
  fl::register_algorithm(fl::testing::toy_spec());
  const fs::path root = fs::temp_directory_path() / ("fedvlm-toy-" + std::to_string(::getpid()));
  test_support::write_tiny_federation(root / "data", 3);

  const Config fedavg = test_support::tiny_config(root / "data", root / "runs", "fedavg");
  Config toy = test_support::tiny_config(root / "data", root / "runs", "toy-avg");
  EXPECT_DOUBLE_EQ(toy.get<double>("fl.toy_scale"), 1.0);
  EXPECT_DOUBLE_EQ(toy.fl.server_lr, 1.0);  // tiny_config sets it
  const sim::RunState expected = run(fedavg, 2);
  const sim::RunState state = run(toy, 2);
  EXPECT_TRUE(torch::equal(state.trained_values, expected.trained_values))
      << "max diff " << (state.trained_values - expected.trained_values).abs().max().item<double>();
  EXPECT_EQ(state.algorithm_state.at("toy_rounds").item<std::int64_t>(), toy.fl.rounds);

  // Its hyperparameter acts: half the server step ends elsewhere.
  toy.set("fl.toy_scale", 0.5);
  toy.run.name = "toy-half";
  EXPECT_FALSE(torch::allclose(run(toy, 1).trained_values, expected.trained_values, 1e-6, 1e-7));
  fedvlm::remove_tree(root);
}
