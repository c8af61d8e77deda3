// ClientStateStore: states live at their home rank, move to the rank that trains them and back,
// spill beyond the memory budget without changing a bit, and checkpoint as per-rank shards that
// any number of ranks can read back.
#include <filesystem>
#include <fstream>
#include <mutex>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fl_test_support.hpp"

namespace fedvlm::fl {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kLength = 4;
constexpr std::int64_t kStateBytes = kLength * 4;

torch::Tensor state_of(std::int64_t client, std::int64_t round) {
  return torch::arange(kLength, torch::kFloat32) * 0.5 + static_cast<float>(client) + 100.0f * round;
}

class ClientStates : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("fedvlm-client-states-{}", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fedvlm::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fedvlm::remove_tree(dir_); }

  // Rank `rank` of `ranks`, homes split evenly over `clients` clients.
  ClientStateOptions options(std::int64_t clients, int ranks, int rank, std::int64_t budget = -1) const {
    return {.ownership = ClientOwnership::aligned_with_shards(std::vector<std::int32_t>(clients, 0), ranks),
            .rank = rank,
            .memory_budget_bytes = budget,
            .spill_file = dir_ / fmt::format("rank-{}.spill", rank)};
  }

  fs::path dir_;
};

TEST_F(ClientStates, SpillsBeyondTheBudgetAndReadsBackExactly) {
  ClientStateStore store(options(100, 1, 0, 2 * kStateBytes));
  store.reset(kLength);
  for (std::int64_t client = 0; client < 50; ++client) store.put(client, state_of(client, 0));
  EXPECT_EQ(store.size(), 50);
  EXPECT_LE(store.memory_bytes(), 2 * kStateBytes);
  EXPECT_EQ(store.spilled(), 48);
  EXPECT_EQ(store.spill_file_bytes(), 48 * kStateBytes);
  for (std::int64_t client = 0; client < 50; ++client)
    EXPECT_TRUE(testing::bit_equal(store.get(client), state_of(client, 0))) << client;
  EXPECT_LE(store.memory_bytes(), 2 * kStateBytes);  // reading keeps the budget too
  // Overwriting a spilled state reuses its slot; the new value wins.
  store.put(3, state_of(3, 1));
  EXPECT_TRUE(testing::bit_equal(store.get(3), state_of(3, 1)));
  for (std::int64_t client = 40; client < 50; ++client) store.put(client, state_of(client, 2));  // evicts 3 again
  EXPECT_TRUE(testing::bit_equal(store.get(3), state_of(3, 1)));
  EXPECT_EQ(store.spill_file_bytes(), 50 * kStateBytes);  // one slot per client, never more
  EXPECT_TRUE(fs::exists(dir_ / "rank-0.spill"));
  store.reset(kLength);
  EXPECT_EQ(store.size(), 0);
  EXPECT_FALSE(fs::exists(dir_ / "rank-0.spill"));
  EXPECT_TRUE(testing::bit_equal(store.get(3), torch::zeros({kLength})));
}

TEST_F(ClientStates, ZeroBudgetKeepsNothingResident) {
  ClientStateStore store(options(10, 1, 0, 0));
  store.reset(kLength);
  for (std::int64_t client = 0; client < 10; ++client) store.put(client, state_of(client, 0));
  EXPECT_EQ(store.memory_bytes(), 0);
  for (std::int64_t client = 0; client < 10; ++client)
    EXPECT_TRUE(testing::bit_equal(store.get(client), state_of(client, 0))) << client;
}

TEST_F(ClientStates, StatesVisitTheirTrainerAndGoHome) {
  // 10 clients: rank 0 home to 0-4, rank 1 to 5-9. Round: rank 1 trains 1 and 2 (home 0; only 1
  // has a state), rank 0 trains 7 (home 1) and 4 (at home).
  std::vector<std::vector<std::int64_t>> kept(2);
  std::mutex mutex;
  comm::run_in_process(2, [&](comm::Communicator& comm) {
    ClientStateStore store(options(10, 2, comm.rank(), kStateBytes));  // spills too
    store.reset(kLength);
    if (comm.rank() == 0) store.put(1, state_of(1, 0)), store.put(4, state_of(4, 0));
    if (comm.rank() == 1) store.put(7, state_of(7, 0)), store.put(9, state_of(9, 0));
    const std::vector<std::vector<std::int64_t>> placement = {{4, 7}, {1, 2}};
    store.begin_round(placement, comm);
    if (comm.rank() == 1) {
      EXPECT_TRUE(testing::bit_equal(store.get(1), state_of(1, 0)));
      EXPECT_TRUE(testing::bit_equal(store.get(2), torch::zeros({kLength})));
      EXPECT_THROW(store.get(3), Error);  // neither at home here nor trained here
      store.put(1, state_of(1, 1));
      store.put(2, state_of(2, 1));
    } else {
      EXPECT_TRUE(testing::bit_equal(store.get(7), state_of(7, 0)));
      store.put(4, state_of(4, 1));  // 7 takes no step: its state stays as it was
    }
    store.end_round(comm);
    std::lock_guard lock(mutex);
    for (std::int64_t client = 0; client < 10; ++client)
      if (store.contains(client)) kept[comm.rank()].push_back(client);
    if (comm.rank() == 0) {
      EXPECT_TRUE(testing::bit_equal(store.get(1), state_of(1, 1)));
      EXPECT_TRUE(testing::bit_equal(store.get(2), state_of(2, 1)));
      EXPECT_TRUE(testing::bit_equal(store.get(4), state_of(4, 1)));
    } else {
      EXPECT_TRUE(testing::bit_equal(store.get(7), state_of(7, 0)));
      EXPECT_THROW(store.get(1), Error);  // the visit is over
    }
  });
  EXPECT_EQ(kept[0], (std::vector<std::int64_t>{1, 2, 4}));
  EXPECT_EQ(kept[1], (std::vector<std::int64_t>{7, 9}));
}

TEST_F(ClientStates, RefusesAPlacementForAnotherWorld) {
  ClientStateStore store(options(10, 2, 0));
  store.reset(kLength);
  comm::LocalCommunicator local;
  EXPECT_THROW(store.begin_round({{1, 2}}, local), Error);
}

TEST_F(ClientStates, ShardsReloadOnAnotherNumberOfRanks) {
  // Two ranks (spilling) save their shards; three ranks each keep exactly their own clients.
  std::vector<fs::path> shards;
  for (int rank = 0; rank < 2; ++rank) {
    ClientStateStore store(options(30, 2, rank, 3 * kStateBytes));
    store.reset(kLength);
    for (std::int64_t client = rank * 15; client < rank * 15 + 15; client += 2) store.put(client, state_of(client, 5));
    shards.push_back(dir_ / fmt::format("shard-{}.bin", rank));
    store.save_shard(shards.back());
  }
  std::int64_t total = 0;
  for (int rank = 0; rank < 3; ++rank) {
    ClientStateStore store(options(30, 3, rank, 2 * kStateBytes));
    store.reset(kLength);
    store.load_shards(shards);
    total += store.size();
    for (std::int64_t client = rank * 10; client < rank * 10 + 10; ++client) {
      const bool trained = (client < 15 ? client : client - 15) % 2 == 0;
      EXPECT_EQ(store.contains(client), trained) << client;
      EXPECT_TRUE(testing::bit_equal(store.get(client), trained ? state_of(client, 5) : torch::zeros({kLength})))
          << client;
    }
  }
  EXPECT_EQ(total, 16);  // 8 states from each old rank, each kept by exactly one new rank
}

TEST_F(ClientStates, RefusesDamagedOrForeignShards) {
  ClientStateStore store(options(10, 1, 0));
  store.reset(kLength);
  for (std::int64_t client = 0; client < 4; ++client) store.put(client, state_of(client, 0));
  const fs::path shard = dir_ / "shard.bin";
  store.save_shard(shard);
  ClientStateStore other(options(10, 1, 0));

  other.reset(kLength + 1);
  EXPECT_THROW(other.load_shards(std::vector<fs::path>{shard}), InputError);  // another length
  other.reset(kLength);
  EXPECT_THROW(other.load_shards(std::vector<fs::path>{dir_ / "absent.bin"}), InputError);
  const fs::path cut = dir_ / "cut.bin";
  fs::copy_file(shard, cut);
  fs::resize_file(cut, fs::file_size(shard) - 3);
  EXPECT_THROW(other.load_shards(std::vector<fs::path>{cut}), InputError);
  std::ofstream(dir_ / "foreign.bin") << "not a shard at all, just text";
  EXPECT_THROW(other.load_shards(std::vector<fs::path>{dir_ / "foreign.bin"}), InputError);
  other.load_shards(std::vector<fs::path>{shard});
  EXPECT_EQ(other.size(), 4);
}

TEST(TensorMaps, SaveThenLoadRoundTripsBitExactly) {
  const fs::path path = fs::temp_directory_path() / "fedvlm-tensor-map-test.pt";
  const std::map<std::string, torch::Tensor> saved = {{"a", state_of(2, 1)}, {"b", torch::tensor({7}, torch::kInt64)}};
  save_tensor_map(path, saved);
  const auto loaded = load_tensor_map(path);
  fs::remove(path);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_TRUE(testing::bit_equal(loaded.at("a"), saved.at("a")));
  EXPECT_EQ(loaded.at("b").item<std::int64_t>(), 7);
  EXPECT_THROW(load_tensor_map(path), InputError);
}

}  // namespace
}  // namespace fedvlm::fl
