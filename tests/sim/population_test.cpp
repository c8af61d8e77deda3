// Client ownership end to end: SCAFFOLD over a population of many small clients whose control
// variates spill to disk. Spilling changes no bit; a run stopped and resumed (on the same or
// another number of ranks) continues exactly from its per-rank client-state shards; a
// checkpoint missing a shard is refused; each rank keeps only its home clients' states.
#include <gtest/gtest.h>

#include <csignal>

#include "fedvlm/sim/checkpoint.hpp"
#include "federation_fixture.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

class Population : public test_support::FederationTest {
 protected:
  static void SetUpTestSuite() {
    FederationTest::SetUpTestSuite();
    std::vector<int> sizes;
    for (int client = 0; client < kClients; ++client) sizes.push_back(2 + client % 3);
    test_support::write_tiny_federation(root_ / "population", sizes);  // two shards: one per rank at 2 ranks
  }

  static Config config(const std::string& name, double state_mb) {
    Config config = test_support::tiny_config(root_ / "population", root_ / "runs-population", "scaffold");
    config.fl.rounds = 4;
    config.fl.clients_per_round = 6;
    config.run.client_state_mb = state_mb;
    config.run.client_cache_mb = 0.001;  // smaller than one client: every read is a miss
    config.run.name = name;
    return config;
  }

  static fs::path dir(const std::string& name) { return root_ / "runs-population" / name; }

  static constexpr int kClients = 24;
  static constexpr double kSpill = 0.01;  // MB: less than one client's state, so nearly all spill
};

TEST_F(Population, SpillingChangesNoBitAndEachRankKeepsItsHomeClients) {
  const torch::Tensor in_memory = run(config("in-memory", 1024), 2);
  const torch::Tensor spilled = run(config("spilled", kSpill), 2);
  EXPECT_TRUE(torch::equal(in_memory, spilled)) << "max diff " << (in_memory - spilled).abs().max().item<double>();
  EXPECT_EQ(metrics_without_seconds(dir("in-memory")), metrics_without_seconds(dir("spilled")));

  const auto memory = summary_of(dir("spilled"))["memory"];
  const auto kept = memory["client_states_per_rank"].get<std::vector<std::int64_t>>();
  const auto out = memory["client_states_spilled_per_rank"].get<std::vector<std::int64_t>>();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_GT(kept[0], 0);
  EXPECT_GT(kept[1], 0);
  EXPECT_GT(out[0] + out[1], 0);
  for (const double resident : memory["client_state_resident_mb_per_rank"].get<std::vector<double>>())
    EXPECT_LE(resident, kSpill);
  const auto in_memory_kept = summary_of(dir("in-memory"))["memory"]["client_states_per_rank"].get<std::vector<std::int64_t>>();
  EXPECT_EQ(in_memory_kept, kept);  // the states are partitioned, not replicated
  EXPECT_EQ(summary_of(dir("in-memory"))["memory"]["client_states_spilled_per_rank"].get<std::vector<std::int64_t>>(),
            (std::vector<std::int64_t>{0, 0}));

  // The final checkpoint holds one shard per rank, whose clients are that rank's home clients.
  const fs::path checkpoint = *sim::latest_checkpoint(dir("spilled"));
  EXPECT_EQ(sim::load_run_state(checkpoint).client_state_shards, 2);
  for (int rank = 0; rank < 2; ++rank) EXPECT_TRUE(fs::exists(sim::client_state_shard_path(checkpoint, rank))) << rank;
  EXPECT_FALSE(fs::exists(dir("spilled") / "client-states" / "rank-00000.spill"));  // scratch, gone after the run
}

TEST_F(Population, OldCheckpointsGoWithTheirShards) {
  Config keep_two = config("keep-two", kSpill);
  keep_two.checkpoint.keep = 2;
  run(keep_two, 2);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir("keep-two") / "checkpoints"))
    files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"round-000003.clients-00000.bin", "round-000003.clients-00001.bin",
                                             "round-000003.pt", "round-000004.clients-00000.bin",
                                             "round-000004.clients-00001.bin", "round-000004.pt"}));
}

TEST_F(Population, SpilledStatesResumeBitExactlyOnAnyNumberOfRanks) {
  const torch::Tensor whole = run(config("whole", kSpill), 2);

  const auto stop_after_first_round = [&](const std::string& name) {
    sim::install_stop_signal_handlers();
    std::raise(SIGUSR1);  // as Slurm would: checkpoint after the current round and stop
    run(config(name, kSpill), 2);
    sim::clear_stop_signal();
    ASSERT_EQ(sim::load_run_state(*sim::latest_checkpoint(dir(name))).rounds_done, 1);
  };
  stop_after_first_round("stopped");
  const torch::Tensor resumed = run(config("stopped", kSpill), 2, {.resume = true});
  EXPECT_TRUE(torch::equal(whole, resumed)) << "max diff " << (whole - resumed).abs().max().item<double>();
  EXPECT_EQ(metrics_without_seconds(dir("whole")), metrics_without_seconds(dir("stopped")));

  // Two ranks' shards, read back by one rank: the same run up to the reduction order of the sums.
  stop_after_first_round("one-rank");
  const torch::Tensor on_one = run(config("one-rank", kSpill), 1, {.resume = true});
  EXPECT_TRUE(torch::allclose(whole, on_one, 1e-4, 1e-5)) << "max diff " << (whole - on_one).abs().max().item<double>();

  // A checkpoint whose shard is missing is incomplete: refused, with the missing file named.
  stop_after_first_round("damaged");
  const fs::path checkpoint = *sim::latest_checkpoint(dir("damaged"));
  fs::remove(sim::client_state_shard_path(checkpoint, 1));
  try {
    run(config("damaged", kSpill), 2, {.resume = true});
    FAIL() << "resumed from a checkpoint without its shard";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("clients-00001.bin is missing"), std::string::npos) << error.what();
  }
}

}  // namespace
