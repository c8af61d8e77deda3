#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedvlm/core/error.hpp"
#include "partition/partitioner.hpp"

namespace fedvlm::prep {
namespace {

constexpr int kClasses = 10;

struct Population {
  std::vector<std::int32_t> labels;
  std::vector<std::uint8_t> tasks;
};

// Balanced labels and tasks, interleaved so neither correlates with the sample index.
Population make_population(std::int64_t n, int num_tasks = 1) {
  Population population;
  for (std::int64_t i = 0; i < n; ++i) {
    population.labels.push_back(static_cast<std::int32_t>(i % kClasses));
    population.tasks.push_back(static_cast<std::uint8_t>((i / kClasses) % num_tasks));
  }
  return population;
}

std::vector<std::int64_t> run(const Population& population, std::int64_t clients, PartitionParams params) {
  return partition_samples(PartitionInput{population.labels, population.tasks, {}, clients}, params);
}

std::vector<std::vector<std::int64_t>> label_counts(const Population& population, const std::vector<std::int64_t>& assignment,
                                                    std::int64_t clients) {
  std::vector<std::vector<std::int64_t>> counts(static_cast<std::size_t>(clients), std::vector<std::int64_t>(kClasses, 0));
  for (std::size_t i = 0; i < assignment.size(); ++i) ++counts[static_cast<std::size_t>(assignment[i])][static_cast<std::size_t>(population.labels[i])];
  return counts;
}

TEST(Partitioners, EverySampleAssignedExactlyOnceToAValidClient) {
  const auto population = make_population(5000, 4);
  for (const std::string method : {"iid", "dirichlet", "dirichlet-mix", "quantity", "task"}) {
    PartitionParams params;
    params.method = method;
    params.seed = 3;
    const auto assignment = run(population, 20, params);
    ASSERT_EQ(assignment.size(), population.labels.size()) << method;
    for (const auto client : assignment) ASSERT_TRUE(client >= 0 && client < 20) << method << " gave client " << client;
    const auto sizes = client_sizes(assignment, 20);
    EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}), 5000) << method;
  }
}

TEST(Partitioners, SameSeedSameAssignmentOtherSeedDifferent) {
  const auto population = make_population(2000);
  PartitionParams params;
  params.method = "dirichlet";
  params.seed = 11;
  const auto first = run(population, 10, params);
  EXPECT_EQ(first, run(population, 10, params));
  params.seed = 12;
  EXPECT_NE(first, run(population, 10, params));
}

TEST(Partitioners, IidClientLabelDistributionsAreNearGlobal) {
  const auto population = make_population(20000);
  const auto assignment = run(population, 20, PartitionParams{.method = "iid", .seed = 5});
  const auto sizes = client_sizes(assignment, 20);
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()) - *std::min_element(sizes.begin(), sizes.end()), 0);
  for (const auto& client : label_counts(population, assignment, 20)) {
    const double total = static_cast<double>(std::accumulate(client.begin(), client.end(), std::int64_t{0}));
    double variation = 0.0;
    for (const auto count : client) variation += 0.5 * std::abs(count / total - 1.0 / kClasses);
    EXPECT_LT(variation, 0.08);  // 1000 samples per client: sampling noise is about 0.03
  }
}

// Label-skew properties (dirichlet, dirichlet-mix): label_skew_test.cpp.

TEST(Partitioners, QuantitySkewGivesUnequalSizes) {
  const auto population = make_population(10000);
  for (const std::string dist : {"dirichlet", "lognormal"}) {
    PartitionParams params{.method = "quantity", .alpha = 0.5, .quantity_dist = dist, .sigma = 1.0, .min_samples = 1, .seed = 9};
    const auto sizes = client_sizes(run(population, 20, params), 20);
    const auto [smallest, largest] = std::minmax_element(sizes.begin(), sizes.end());
    EXPECT_GT(*largest, 3 * *smallest) << dist;
    EXPECT_GE(*smallest, 1) << dist;
  }
}

TEST(Partitioners, TaskPartitionGivesEachClientOneTask) {
  const auto population = make_population(4000, 4);
  const auto assignment = run(population, 10, PartitionParams{.method = "task", .seed = 1});
  std::vector<std::vector<bool>> has_task(10, std::vector<bool>(4, false));
  for (std::size_t i = 0; i < assignment.size(); ++i) has_task[static_cast<std::size_t>(assignment[i])][population.tasks[i]] = true;
  std::vector<int> clients_per_task(4, 0);
  for (const auto& client : has_task) {
    EXPECT_EQ(std::count(client.begin(), client.end(), true), 1);
    for (int t = 0; t < 4; ++t) clients_per_task[static_cast<std::size_t>(t)] += client[static_cast<std::size_t>(t)];
  }
  for (const auto count : clients_per_task) EXPECT_GE(count, 2);  // 10 clients over 4 equal tasks: 2 or 3 each
}

TEST(Partitioners, TaskAlphaGivesClientsTaskMixes) {
  const auto population = make_population(4000, 4);
  const auto assignment = run(population, 10, PartitionParams{.method = "task", .task_alpha = 100.0, .seed = 1});
  std::vector<std::vector<bool>> has_task(10, std::vector<bool>(4, false));
  for (std::size_t i = 0; i < assignment.size(); ++i) has_task[static_cast<std::size_t>(assignment[i])][population.tasks[i]] = true;
  for (const auto& client : has_task) EXPECT_EQ(std::count(client.begin(), client.end(), true), 4);
}

TEST(Partitioners, MinSamplesHonouredBySkewedPartitions) {
  const auto population = make_population(3000);
  PartitionParams params{.method = "quantity", .alpha = 0.1, .min_samples = 40, .seed = 2};
  const auto sizes = client_sizes(run(population, 30, params), 30);
  EXPECT_GE(*std::min_element(sizes.begin(), sizes.end()), 40);
}

TEST(Partitioners, ImpossibleMinSamplesFailsWithTheNumbers) {
  const auto population = make_population(1000);
  PartitionParams params{.method = "iid", .min_samples = 101, .seed = 2};
  try {
    run(population, 10, params);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("10 clients --min-samples 101: only 1000"), std::string::npos) << error.what();
  }
}

TEST(Partitioners, StructuralPartitionNamesTheShortClient) {
  const auto population = make_population(30);
  const std::vector<std::int64_t> natural = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             1, 1, 1, 1, 1, 1, 1, 1, 1, 2};
  PartitionParams params{.method = "natural", .min_samples = 5};
  try {
    partition_samples(PartitionInput{population.labels, population.tasks, natural, 3}, params);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("client 2 with 1 samples"), std::string::npos) << error.what();
  }
  params.min_samples = 1;
  const auto assignment = partition_samples(PartitionInput{population.labels, population.tasks, natural, 3}, params);
  EXPECT_EQ(assignment, natural);
}

TEST(Partitioners, UnknownMethodListsTheValidOnes) {
  try {
    make_partitioner("pathological");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("iid, dirichlet, dirichlet-mix, quantity, task, natural"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace fedvlm::prep
