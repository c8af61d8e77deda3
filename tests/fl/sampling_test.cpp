// Cohort sampling, placement over ranks and the local learning-rate schedule.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numbers>
#include <set>

#include <gtest/gtest.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/fl/client_sampler.hpp"
#include "fedvlm/fl/lr_schedule.hpp"
#include "fedvlm/fl/placement.hpp"

namespace fedvlm::fl {
namespace {

TEST(ClientSampler, SameSeedAndRoundGiveSameCohort) {
  const ClientSampler a(100, 10, 42), b(100, 10, 42);
  for (std::int64_t round = 0; round < 5; ++round) EXPECT_EQ(a.cohort(round), b.cohort(round));
  EXPECT_NE(a.cohort(0), a.cohort(1));
  EXPECT_NE(a.cohort(0), ClientSampler(100, 10, 43).cohort(0));
}

TEST(ClientSampler, CohortIsSortedDistinctAndInRange) {
  const ClientSampler sampler(50, 20, 7);
  for (std::int64_t round = 0; round < 20; ++round) {
    const auto cohort = sampler.cohort(round);
    ASSERT_EQ(cohort.size(), 20u);
    EXPECT_TRUE(std::is_sorted(cohort.begin(), cohort.end()));
    EXPECT_EQ(std::set<std::int64_t>(cohort.begin(), cohort.end()).size(), 20u);
    EXPECT_GE(cohort.front(), 0);
    EXPECT_LT(cohort.back(), 50);
  }
}

TEST(ClientSampler, EveryCohortIsEquallyLikely) {
  // 10 choose 3 = 120 cohorts, 24,000 rounds: 200 expected each. Pearson's chi-square with 119
  // degrees of freedom exceeds 180 with probability < 1e-4; each client's rate is 3/10.
  const ClientSampler sampler(10, 3, 11);
  std::map<std::vector<std::int64_t>, int> seen;
  std::vector<int> picked(10, 0);
  const int rounds = 24'000;
  for (std::int64_t round = 0; round < rounds; ++round) {
    const auto cohort = sampler.cohort(round);
    ++seen[cohort];
    for (const auto client : cohort) ++picked[static_cast<std::size_t>(client)];
  }
  ASSERT_EQ(seen.size(), 120u);
  double chi_square = 0.0;
  for (const auto& [cohort, count] : seen) chi_square += (count - 200.0) * (count - 200.0) / 200.0;
  EXPECT_LT(chi_square, 180.0);
  for (const int count : picked) EXPECT_NEAR(count / static_cast<double>(rounds), 0.3, 0.015);
}

TEST(ClientSampler, CostIndependentOfThePopulation) {
  // An index of 10^12 clients would need 8 TB: the cohort is drawn in O(cohort) memory.
  const std::int64_t population = 1'000'000'000'000;
  const ClientSampler sampler(population, 200, 9);
  const auto cohort = sampler.cohort(4);
  ASSERT_EQ(cohort.size(), 200u);
  EXPECT_TRUE(std::is_sorted(cohort.begin(), cohort.end()));
  EXPECT_EQ(std::set<std::int64_t>(cohort.begin(), cohort.end()).size(), 200u);
  EXPECT_GE(cohort.front(), 0);
  EXPECT_LT(cohort.back(), population);
  EXPECT_GT(cohort.back() - cohort.front(), population / 2);  // spread over the population, not a corner of it
  EXPECT_EQ(cohort, ClientSampler(population, 200, 9).cohort(4));
}

TEST(ClientSampler, EveryClientIsDrawnEventually) {
  const ClientSampler sampler(12, 3, 1);
  std::set<std::int64_t> seen;
  for (std::int64_t round = 0; round < 60; ++round)
    for (const auto client : sampler.cohort(round)) seen.insert(client);
  EXPECT_EQ(seen.size(), 12u);
}

TEST(ClientSampler, ZeroMeansFullParticipation) {
  const ClientSampler sampler(6, 0, 3);
  EXPECT_EQ(sampler.cohort(4), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(sampler.cohort_size(), 6);
}

TEST(ClientSampler, RejectsMoreClientsThanTheFederation) {
  EXPECT_THROW(ClientSampler(5, 6, 1), InputError);
  EXPECT_THROW(ClientSampler(5, -1, 1), InputError);
  EXPECT_THROW(ClientSampler(0, 0, 1), InputError);
}

std::int64_t makespan(const std::vector<std::vector<std::int64_t>>& placement, const std::vector<std::int64_t>& work) {
  std::int64_t worst = 0;
  for (const auto& clients : placement) {
    std::int64_t load = 0;
    for (const auto client : clients) load += work[client];
    worst = std::max(worst, load);
  }
  return worst;
}

// The optimal makespan by exhaustive search (small instances only).
std::int64_t optimal_makespan(const std::vector<std::int64_t>& jobs, int machines) {
  std::int64_t best = INT64_MAX;
  std::vector<std::int64_t> load(machines, 0);
  std::function<void(std::size_t)> assign = [&](std::size_t i) {
    if (i == jobs.size()) {
      best = std::min(best, *std::max_element(load.begin(), load.end()));
      return;
    }
    for (int m = 0; m < machines; ++m) {
      load[m] += jobs[i];
      if (load[m] < best) assign(i + 1);
      load[m] -= jobs[i];
    }
  };
  assign(0);
  return best;
}

TEST(Placement, WithinTheLptBoundOfTheOptimum) {
  Rng rng(StreamKey{3, "placement-test", 0, 0});
  for (int trial = 0; trial < 30; ++trial) {
    const int ranks = 2 + trial % 3;
    std::vector<std::int64_t> work(9);
    for (auto& w : work) w = rng.range(1, 100);
    std::vector<std::int64_t> cohort(work.size());
    for (std::size_t i = 0; i < cohort.size(); ++i) cohort[i] = static_cast<std::int64_t>(i);
    const auto placement = place_clients(cohort, work, ranks);
    const double bound = (4.0 / 3.0 - 1.0 / (3.0 * ranks)) * static_cast<double>(optimal_makespan(work, ranks));
    EXPECT_LE(static_cast<double>(makespan(placement, work)), bound + 1e-9) << "trial " << trial;
  }
}

TEST(Placement, EveryClientPlacedOnceSortedWithinRank) {
  std::vector<std::int64_t> work(40);
  for (std::size_t i = 0; i < work.size(); ++i) work[i] = static_cast<std::int64_t>((i * 37) % 23);
  const std::vector<std::int64_t> cohort = {1, 4, 5, 9, 12, 17, 22, 23, 30, 38, 39};
  const auto placement = place_clients(cohort, work, 4);
  ASSERT_EQ(placement.size(), 4u);
  std::vector<std::int64_t> all;
  for (const auto& clients : placement) {
    EXPECT_TRUE(std::is_sorted(clients.begin(), clients.end()));
    all.insert(all.end(), clients.begin(), clients.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, cohort);
  // Graham's list-scheduling bound: makespan ≤ total/ranks + max job.
  std::int64_t total = 0, largest = 0;
  for (const auto client : cohort) total += work[client], largest = std::max(largest, work[client]);
  EXPECT_LE(makespan(placement, work), total / 4 + largest);
}

TEST(Placement, DeterministicWithTiesBrokenByClientId) {
  const std::vector<std::int64_t> work = {5, 5, 5, 5, 9};
  const std::vector<std::int64_t> cohort = {0, 1, 2, 3, 4};
  // LPT order: 4 (9), then 0, 1, 2, 3 (5 each, by id). Rank 0 takes 4; rank 1 takes 0 then 1;
  // rank 0 (9) vs rank 1 (10): 2 goes to rank 0; then 3 to rank 1 (14 vs 10 → rank 1 has 10).
  const auto placement = place_clients(cohort, work, 2);
  EXPECT_EQ(placement[0], (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(placement[1], (std::vector<std::int64_t>{0, 1, 3}));
  EXPECT_EQ(place_clients(cohort, work, 2), placement);
}

TEST(Placement, MoreRanksThanClientsLeavesRanksEmpty) {
  const std::vector<std::int64_t> work = {3, 1};
  const auto placement = place_clients(std::vector<std::int64_t>{0, 1}, work, 4);
  EXPECT_EQ(placement[0], (std::vector<std::int64_t>{0}));
  EXPECT_EQ(placement[1], (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(placement[2].empty() && placement[3].empty());
}

TEST(Placement, RejectsUnknownOrRepeatedClients) {
  const std::vector<std::int64_t> work = {1, 2, 3};
  EXPECT_THROW(place_clients(std::vector<std::int64_t>{0, 3}, work, 2), Error);
  EXPECT_THROW(place_clients(std::vector<std::int64_t>{1, 1}, work, 2), Error);
  EXPECT_THROW(place_clients(std::vector<std::int64_t>{0}, work, 0), Error);
}

TEST(Ownership, BlocksOfWholeShards) {
  // 10 clients in 4 shards (sizes 3, 2, 3, 2), 2 ranks: shards {0, 1} and {2, 3}.
  const std::vector<std::int32_t> shard = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3};
  const auto ownership = ClientOwnership::aligned_with_shards(shard, 2);
  EXPECT_EQ(ownership.first(0), 0);
  EXPECT_EQ(ownership.end(0), 5);
  EXPECT_EQ(ownership.first(1), 5);
  EXPECT_EQ(ownership.end(1), 10);
  for (std::int64_t client = 0; client < 10; ++client) EXPECT_EQ(ownership.home(client), client < 5 ? 0 : 1);
  // Three ranks over four shards: 0 | 1 | 2, 3.
  const auto three = ClientOwnership::aligned_with_shards(shard, 3);
  EXPECT_EQ(three.home(2), 0);
  EXPECT_EQ(three.home(3), 1);
  EXPECT_EQ(three.home(5), 2);
  EXPECT_EQ(three.home(9), 2);
  EXPECT_THROW(three.home(10), Error);
}

TEST(Ownership, FewerShardsThanRanksSplitsClients) {
  const std::vector<std::int32_t> shard(9, 0);
  const auto ownership = ClientOwnership::aligned_with_shards(shard, 3);
  for (std::int64_t client = 0; client < 9; ++client) EXPECT_EQ(ownership.home(client), client / 3);
  // More ranks than clients: some ranks own nothing, every client still has one home.
  const auto sparse = ClientOwnership::aligned_with_shards(std::vector<std::int32_t>{0, 0}, 4);
  // Blocks [r·2/4, (r+1)·2/4): ranks 0 and 2 own nothing, rank 1 owns client 0, rank 3 client 1.
  EXPECT_EQ(sparse.home(0), 1);
  EXPECT_EQ(sparse.home(1), 3);
  EXPECT_TRUE(sparse.owns(1, 0) && !sparse.owns(0, 0) && !sparse.owns(2, 1));
}

TEST(Placement, BalancedCohortStaysAtHome) {
  // Equal work, the cohort split evenly between the two homes: nobody moves (plain LPT would
  // interleave the clients over the ranks).
  const std::vector<std::int64_t> work(100, 4);
  const ClientOwnership ownership = ClientOwnership::aligned_with_shards(std::vector<std::int32_t>(100, 0), 2);
  const std::vector<std::int64_t> cohort = {3, 10, 20, 49, 50, 61, 77, 99};
  const auto placement = place_clients(cohort, work, 2, &ownership);
  EXPECT_EQ(placement[0], (std::vector<std::int64_t>{3, 10, 20, 49}));
  EXPECT_EQ(placement[1], (std::vector<std::int64_t>{50, 61, 77, 99}));
  EXPECT_NE(place_clients(cohort, work, 2), placement);
}

TEST(Placement, HomeFirstNeverSlowerThanLpt) {
  Rng rng(StreamKey{5, "placement-test", 1, 0});
  const std::int64_t clients = 200;
  std::int64_t at_home = 0, lpt_at_home = 0;  // over all trials
  for (int trial = 0; trial < 50; ++trial) {
    const int ranks = 2 + trial % 3;
    std::vector<std::int64_t> work(clients);
    for (auto& w : work) w = rng.range(1, trial % 2 == 0 ? 3 : 50);
    const auto ownership = ClientOwnership::aligned_with_shards(std::vector<std::int32_t>(clients, 0), ranks);
    // Skewed cohorts too: most clients from rank 0's block.
    std::set<std::int64_t> picked;
    while (picked.size() < 24) picked.insert(rng.range(0, trial % 4 == 0 ? clients / ranks - 1 : clients - 1));
    const std::vector<std::int64_t> cohort(picked.begin(), picked.end());
    const auto home_first = place_clients(cohort, work, ranks, &ownership);
    const auto lpt = place_clients(cohort, work, ranks);
    EXPECT_LE(makespan(home_first, work), makespan(lpt, work)) << "trial " << trial;
    std::vector<std::int64_t> all;
    for (int rank = 0; rank < ranks; ++rank) {
      for (const auto client : home_first[rank]) at_home += ownership.home(client) == rank, all.push_back(client);
      for (const auto client : lpt[rank]) lpt_at_home += ownership.home(client) == rank;
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, cohort);
  }
  EXPECT_GT(at_home, lpt_at_home + lpt_at_home / 4);
}

TEST(LrSchedule, CosineDecaysFromLrTowardsMinLr) {
  LocalConfig local;
  local.lr = 0.01;
  local.min_lr_ratio = 0.1;
  local.lr_schedule = "cosine";
  const std::int64_t rounds = 10;
  EXPECT_DOUBLE_EQ(local_lr_for_round(local, 0, rounds), 0.01);
  EXPECT_NEAR(local_lr_for_round(local, 5, rounds), 0.001 + 0.009 * 0.5, 1e-15);
  for (std::int64_t round = 0; round < rounds; ++round) {
    const double expected = 0.001 + 0.009 * 0.5 * (1.0 + std::cos(std::numbers::pi * round / 10.0));
    EXPECT_NEAR(local_lr_for_round(local, round, rounds), expected, 1e-15);
    if (round > 0) {
      EXPECT_LT(local_lr_for_round(local, round, rounds), local_lr_for_round(local, round - 1, rounds));
    }
  }
  EXPECT_GT(local_lr_for_round(local, rounds - 1, rounds), 0.001);
}

TEST(LrSchedule, ConstantAndErrors) {
  LocalConfig local;
  local.lr = 0.2;
  local.lr_schedule = "constant";
  EXPECT_DOUBLE_EQ(local_lr_for_round(local, 7, 8), 0.2);
  EXPECT_THROW(local_lr_for_round(local, 8, 8), InputError);
  local.lr_schedule = "linear";
  EXPECT_THROW(local_lr_for_round(local, 0, 8), InputError);
}

}  // namespace
}  // namespace fedvlm::fl
