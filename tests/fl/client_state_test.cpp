// ClientStateStore: states put on different ranks reach every rank; checkpoints round-trip.
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/client_state.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::int64_t kLength = 4;

torch::Tensor state_of(std::int64_t client, std::int64_t round) {
  return torch::arange(kLength, torch::kFloat32) * 0.5 + static_cast<float>(client) + 100.0f * round;
}

// Rank r updates these clients in round 0: different counts per rank, rank 1 none.
std::vector<std::int64_t> clients_of_rank(int rank) {
  switch (rank) {
    case 0: return {3};
    case 1: return {};
    default: return {0, 7, 5};
  }
}

TEST(ClientStateStore, SyncGivesEveryRankTheStatesOfAllRanks) {
  std::mutex mutex;
  std::vector<std::map<std::string, torch::Tensor>> final_states(3);
  comm::run_in_process(3, [&](comm::Communicator& comm) {
    ClientStateStore store(kLength);
    for (const std::int64_t client : clients_of_rank(comm.rank())) store.put(client, state_of(client, 0));
    store.sync(comm);
    EXPECT_TRUE(store.pending().empty());
    EXPECT_EQ(store.size(), 4);
    for (const std::int64_t client : {0, 3, 5, 7}) EXPECT_TRUE(torch::equal(store.get(client), state_of(client, 0)));
    EXPECT_FALSE(store.contains(1));
    EXPECT_TRUE(torch::equal(store.get(1), torch::zeros({kLength})));  // absent: zeros

    // Round 1: clients move (client 5 now trains on rank 0); nothing pending elsewhere.
    if (comm.rank() == 0) store.put(5, state_of(5, 1));
    store.sync(comm);
    EXPECT_TRUE(torch::equal(store.get(5), state_of(5, 1)));
    EXPECT_TRUE(torch::equal(store.get(7), state_of(7, 0)));
    store.sync(comm);  // nothing pending anywhere: a no-op
    std::lock_guard lock(mutex);
    final_states[comm.rank()] = store.state_dict();
  });
  for (int rank = 1; rank < 3; ++rank) {
    ASSERT_EQ(final_states[rank].size(), final_states[0].size());
    for (const auto& [name, tensor] : final_states[0]) EXPECT_TRUE(torch::equal(final_states[rank].at(name), tensor));
  }
}

TEST(ClientStateStore, ClientUpdatedOnTwoRanksIsAnError) {
  EXPECT_THROW(comm::run_in_process(2,
                                    [](comm::Communicator& comm) {
                                      ClientStateStore store(kLength);
                                      store.put(4, state_of(4, comm.rank()));
                                      store.sync(comm);
                                    }),
               Error);
}

TEST(ClientStateStore, SaveThenLoadRoundTripsBitExactly) {
  const auto directory = std::filesystem::temp_directory_path() / "fedvlm-fl-client-state-test";
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  ClientStateStore store(kLength);
  store.put(2, torch::randn({kLength}));
  store.put(9, torch::randn({kLength}) * 1e-30);  // tiny values must survive exactly
  comm::LocalCommunicator local;
  store.save(directory / "states.pt", local);

  ClientStateStore loaded;
  loaded.load(directory / "states.pt");
  EXPECT_EQ(loaded.state_length(), kLength);
  EXPECT_EQ(loaded.size(), 2);
  for (const std::int64_t client : {2, 9}) EXPECT_TRUE(torch::equal(loaded.get(client), store.get(client)));
  std::filesystem::remove_all(directory);
}

TEST(ClientStateStore, OnlyRankZeroWrites) {
  const auto directory = std::filesystem::temp_directory_path() / "fedvlm-fl-client-state-ranks";
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  comm::run_in_process(3, [&](comm::Communicator& comm) {
    ClientStateStore store(kLength);
    store.put(comm.rank(), state_of(comm.rank(), 0));
    store.sync(comm);
    store.save(directory / fmt::format("rank-{}.pt", comm.rank()), comm);
  });
  EXPECT_TRUE(std::filesystem::exists(directory / "rank-0.pt"));
  EXPECT_FALSE(std::filesystem::exists(directory / "rank-1.pt"));
  EXPECT_FALSE(std::filesystem::exists(directory / "rank-2.pt"));
  ClientStateStore loaded;
  loaded.load(directory / "rank-0.pt");
  EXPECT_EQ(loaded.size(), 3);
  std::filesystem::remove_all(directory);
}

TEST(ClientStateStore, RejectsWrongLengthAndMissingFile) {
  ClientStateStore store(kLength);
  EXPECT_THROW(store.put(0, torch::zeros({kLength + 1})), Error);
  EXPECT_THROW(store.load("/nonexistent/states.pt"), InputError);
  store.put(1, torch::ones({kLength}));
  store.reset(2);
  EXPECT_EQ(store.size(), 0);
  EXPECT_EQ(store.get(1).numel(), 2);
}

}  // namespace
}  // namespace fedvlm::fl
