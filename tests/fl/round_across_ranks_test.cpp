// The round's sums do not depend on how clients are split over ranks: 1, 2 and 3 InProcess
// ranks (threads) run the same rounds and must agree up to floating-point reduction order.
#include <mutex>

#include <gtest/gtest.h>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/fl/client_sampler.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fedvlm/fl/placement.hpp"
#include "fl_test_support.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::int64_t kClients = 7;
constexpr std::int64_t kLength = 3;
constexpr std::int64_t kRounds = 3;
constexpr double kLr = 0.05;

struct WorldResult {
  std::vector<std::vector<double>> reduced;  // rank 0's reduced accumulator, per round
  std::vector<torch::Tensor> x_of_rank;      // final x on each rank
  std::vector<std::map<std::string, torch::Tensor>> state_of_rank;  // final algorithm state per rank
  std::vector<std::map<std::int64_t, torch::Tensor>> clients_of_rank;  // client states each rank keeps
};

WorldResult run_world(const std::string& name, int world_size) {
  WorldResult result;
  result.x_of_rank.resize(world_size);
  result.state_of_rank.resize(world_size);
  result.clients_of_rank.resize(world_size);
  std::mutex mutex;
  std::vector<std::int64_t> samples(kClients);
  for (std::int64_t client = 0; client < kClients; ++client) samples[client] = testing::hand_samples(client);

  comm::run_in_process(world_size, [&](comm::Communicator& comm) {
    auto algorithm = make_algorithm(testing::fl_config(name), kClients);
    // Homes: clients split evenly over the ranks; placement below ignores them, so states move.
    const auto ownership = ClientOwnership::aligned_with_shards(std::vector<std::int32_t>(kClients, 0), comm.size());
    if (auto* states = algorithm->client_states()) states->configure({.ownership = ownership, .rank = comm.rank()});
    algorithm->reset(kLength);
    const ClientSampler sampler(kClients, 5, /*seed=*/11);
    torch::Tensor x = torch::tensor({0.5f, -1.0f, 2.0f});
    for (std::int64_t round = 0; round < kRounds; ++round) {
      const auto placement = place_clients(sampler.cohort(round), samples, comm.size());
      if (auto* states = algorithm->client_states()) states->begin_round(placement, comm);
      Accumulator accumulator = algorithm->make_accumulator();
      for (const std::int64_t client : placement[comm.rank()]) {
        auto update = algorithm->begin_client({client, round, x, kLr});
        update->finish(testing::train_least_squares(*update, x, client, testing::hand_steps(client), kLr), accumulator);
      }
      reduce_to_root(accumulator, comm);
      if (comm.is_root()) {
        result.reduced.push_back(testing::to_vector(accumulator.buffer()));
        algorithm->server_update(x, accumulator, round);
      }
      torch::Tensor buffer = comm.is_root() ? algorithm->pack_global(x) : torch::empty({algorithm->broadcast_size()});
      comm::broadcast(comm, buffer, 0);
      algorithm->unpack_global(buffer, x);
      if (auto* states = algorithm->client_states()) states->end_round(comm);
    }
    std::lock_guard lock(mutex);
    result.x_of_rank[comm.rank()] = x.clone();
    result.state_of_rank[comm.rank()] = algorithm->state_dict();
    if (auto* states = algorithm->client_states())
      for (std::int64_t client = ownership.first(comm.rank()); client < ownership.end(comm.rank()); ++client)
        if (states->contains(client)) result.clients_of_rank[comm.rank()][client] = states->get(client);
  });
  return result;
}

class RoundAcrossRanks : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundAcrossRanks, TwoAndThreeRanksMatchOneRank) {
  const WorldResult one = run_world(GetParam(), 1);
  for (const int world_size : {2, 3}) {
    const WorldResult many = run_world(GetParam(), world_size);
    ASSERT_EQ(many.reduced.size(), one.reduced.size());
    for (std::size_t round = 0; round < one.reduced.size(); ++round) {
      // Round 0 starts from the same x everywhere: only the float64 summation order differs.
      // Later rounds start from an x that may differ in the last float32 bit.
      const double tolerance = round == 0 ? 1e-12 : 1e-5;
      for (std::size_t i = 0; i < one.reduced[round].size(); ++i)
        EXPECT_NEAR(many.reduced[round][i], one.reduced[round][i], tolerance * (1.0 + std::abs(one.reduced[round][i])))
            << world_size << " ranks, round " << round << ", accumulator element " << i;
    }
    EXPECT_TRUE(torch::allclose(many.x_of_rank[0], one.x_of_rank[0], 1e-6, 1e-7)) << world_size << " ranks";
    // Every rank holds the same global state, bit for bit (the broadcast).
    for (int rank = 1; rank < world_size; ++rank) {
      EXPECT_TRUE(testing::bit_equal(many.x_of_rank[rank], many.x_of_rank[0])) << "rank " << rank;
      ASSERT_EQ(many.state_of_rank[rank].size(), many.state_of_rank[0].size());
      for (const auto& [key, tensor] : many.state_of_rank[0]) {
        if (key.starts_with("server_") && key != "server_control") continue;  // rank 0's own server state
        EXPECT_TRUE(testing::bit_equal(many.state_of_rank[rank].at(key), tensor)) << "rank " << rank << " " << key;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RoundAcrossRanks, ::testing::Values("fedavg", "fedadam", "scaffold", "fednova"));

TEST(RoundAcrossRanksScaffold, ClientControlsLiveAtHomeAndMatchOneRank) {
  const WorldResult one = run_world("scaffold", 1);
  const WorldResult three = run_world("scaffold", 3);
  ASSERT_GE(one.clients_of_rank[0].size(), 5u);  // at least the first cohort trained and left a cᵢ
  std::size_t kept = 0;
  for (int rank = 0; rank < 3; ++rank)
    for (const auto& [client, state] : three.clients_of_rank[rank]) {
      ++kept;
      // Rank r is home to clients [r·7/3, (r+1)·7/3): 0-1, 2-3, 4-6.
      EXPECT_TRUE(rank * kClients / 3 <= client && client < (rank + 1) * kClients / 3)
          << "client " << client << " kept on rank " << rank << ", away from home";
      ASSERT_TRUE(one.clients_of_rank[0].contains(client)) << client;
      EXPECT_TRUE(torch::allclose(state, one.clients_of_rank[0].at(client), 1e-5, 1e-6)) << "client " << client;
    }
  EXPECT_EQ(kept, one.clients_of_rank[0].size());  // each state on exactly one rank
}

}  // namespace
}  // namespace fedvlm::fl
