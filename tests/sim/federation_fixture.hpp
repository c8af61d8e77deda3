// A GoogleTest fixture for round-loop tests: tiny federations on disk (sim/tiny_federation.hpp),
// runs on InProcess ranks, and readers of what a run leaves behind.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/sim/checkpoint.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "tiny_federation.hpp"

namespace fedvlm::test_support {

class FederationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = std::filesystem::temp_directory_path() / ("fedvlm-sim-" + std::to_string(::getpid()));
    write_tiny_federation(root_ / "data4", 4);
    write_tiny_federation(root_ / "data1", 1);
  }
  static void TearDownTestSuite() { fedvlm::remove_tree(root_); }

  // Runs `config` on `ranks` InProcess ranks; returns the final trained values.
  static torch::Tensor run(const Config& config, int ranks, sim::RunOptions options = {.overwrite = true}) {
    options.rank_log_files = false;
    comm::run_in_process(
        ranks, [&](comm::Communicator& comm) { sim::run_federation(config, comm, options); }, std::chrono::seconds(240));
    return final_values(sim::run_directory(config));
  }

  // The trained values of a run's latest checkpoint.
  static torch::Tensor final_values(const std::filesystem::path& run_dir) {
    const auto latest = sim::latest_checkpoint(run_dir);
    EXPECT_TRUE(latest.has_value()) << run_dir;
    return latest ? sim::load_run_state(*latest).trained_values : torch::Tensor();
  }

  static nlohmann::json summary_of(const std::filesystem::path& run_dir) {
    std::ifstream in(run_dir / "summary.json");
    return nlohmann::json::parse(in);
  }

  static std::string metrics_without_seconds(const std::filesystem::path& run_dir) {
    std::ifstream in(run_dir / "metrics.jsonl");
    std::string out;
    for (std::string line; std::getline(in, line);) out += line.substr(0, line.find("\"seconds\"")) + "\n";
    return out;
  }

  static inline std::filesystem::path root_;
};

}  // namespace fedvlm::test_support
