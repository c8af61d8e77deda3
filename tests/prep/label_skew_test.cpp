// The two label-skew partitioners: `dirichlet` (per class, each class split over the clients by
// proportions from Dir(alpha): unequal sizes) and `dirichlet-mix` (per client, each client's
// class mix from Dir(alpha): equal sizes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedvlm/data/inspect.hpp"
#include "partition/partitioner.hpp"

namespace fedvlm::prep {
namespace {

constexpr int kClasses = 10;
constexpr std::int64_t kClients = 20;

struct Population {
  std::vector<std::int32_t> labels;
  std::vector<std::uint8_t> tasks;
};

// Balanced labels, interleaved so that a label never correlates with the sample index.
Population balanced_population(std::int64_t n) {
  Population population;
  for (std::int64_t i = 0; i < n; ++i) {
    population.labels.push_back(static_cast<std::int32_t>(i % kClasses));
    population.tasks.push_back(0);
  }
  return population;
}

// Class c holds about (c + 1) shares of the samples, every 13th sample has no label.
Population uneven_population(std::int64_t n) {
  Population population;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto position = i % 55;  // 1 + 2 + ... + 10 = 55
    std::int32_t label = 0;
    for (std::int64_t bound = 1; position >= bound * (bound + 1) / 2; ++bound) ++label;
    population.labels.push_back(i % 13 == 0 ? -1 : label);
    population.tasks.push_back(0);
  }
  return population;
}

std::vector<std::int64_t> run(const Population& population, std::int64_t clients, const std::string& method,
                              double alpha, std::uint64_t seed, std::int64_t min_samples = 1) {
  PartitionParams params{.method = method, .alpha = alpha, .min_samples = min_samples, .seed = seed};
  return partition_samples(PartitionInput{population.labels, population.tasks, {}, clients}, params);
}

std::vector<std::vector<std::int64_t>> label_counts(const Population& population, const std::vector<std::int64_t>& assignment,
                                                    std::int64_t clients) {
  std::vector<std::vector<std::int64_t>> counts(static_cast<std::size_t>(clients), std::vector<std::int64_t>(kClasses, 0));
  for (std::size_t i = 0; i < assignment.size(); ++i)
    if (population.labels[i] >= 0) ++counts[static_cast<std::size_t>(assignment[i])][static_cast<std::size_t>(population.labels[i])];
  return counts;
}

double mean_client_entropy(const Population& population, const std::string& method, double alpha) {
  double sum = 0.0;
  for (const auto& client : label_counts(population, run(population, kClients, method, alpha, 7), kClients))
    sum += data::entropy_bits(client);
  return sum / static_cast<double>(kClients);
}

// FNV-1a over the assignment: one number that changes when any sample moves.
std::uint64_t fingerprint(const std::vector<std::int64_t>& assignment) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const auto client : assignment) {
    hash ^= static_cast<std::uint64_t>(client);
    hash *= 1099511628211ull;
  }
  return hash;
}

class LabelSkew : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(BothSchemes, LabelSkew, ::testing::Values("dirichlet", "dirichlet-mix"),
                         [](const auto& info) { return info.param == "dirichlet" ? std::string("PerClass") : std::string("ClientMix"); });

TEST_P(LabelSkew, EverySampleAssignedExactlyOnce) {
  const auto population = uneven_population(5000);
  for (const double alpha : {0.05, 1.0, 100.0}) {
    const auto assignment = run(population, kClients, GetParam(), alpha, 3);
    ASSERT_EQ(assignment.size(), population.labels.size());
    for (const auto client : assignment) ASSERT_TRUE(client >= 0 && client < kClients) << "alpha " << alpha << ": client " << client;
    // Per class (unlabeled included): the clients' counts add up to the class's size.
    std::vector<std::int64_t> expected(kClasses + 1, 0), assigned(kClasses + 1, 0);
    for (const auto label : population.labels) ++expected[static_cast<std::size_t>(label < 0 ? kClasses : label)];
    for (std::size_t i = 0; i < assignment.size(); ++i)
      ++assigned[static_cast<std::size_t>(population.labels[i] < 0 ? kClasses : population.labels[i])];
    EXPECT_EQ(assigned, expected);
    const auto sizes = client_sizes(assignment, kClients);
    EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}), 5000);
    EXPECT_GE(*std::min_element(sizes.begin(), sizes.end()), 1) << "--min-samples 1 is the default";
  }
}

TEST_P(LabelSkew, MeanClientLabelEntropyRisesWithAlpha) {
  const auto population = balanced_population(20000);
  const double skewed = mean_client_entropy(population, GetParam(), 0.05);
  const double moderate = mean_client_entropy(population, GetParam(), 0.5);
  const double mild = mean_client_entropy(population, GetParam(), 5.0);
  const double near_iid = mean_client_entropy(population, GetParam(), 1000.0);
  EXPECT_LT(skewed, moderate);
  EXPECT_LT(moderate, mild);
  EXPECT_LT(mild, near_iid);
  EXPECT_LT(skewed, 0.5 * std::log2(kClasses));   // a few classes per client
  EXPECT_GT(near_iid, std::log2(kClasses) - 0.05);  // almost uniform
}

TEST_P(LabelSkew, SameSeedSamePartitionOtherSeedDifferent) {
  const auto population = uneven_population(3000);
  const auto first = run(population, kClients, GetParam(), 0.5, 11);
  EXPECT_EQ(first, run(population, kClients, GetParam(), 0.5, 11));
  EXPECT_NE(first, run(population, kClients, GetParam(), 0.5, 12));
}

TEST_P(LabelSkew, MinSamplesHonouredAtStrongSkew) {
  const auto population = balanced_population(4000);
  const auto sizes = client_sizes(run(population, 40, GetParam(), 0.05, 2, 25), 40);
  EXPECT_GE(*std::min_element(sizes.begin(), sizes.end()), 25);
}

TEST(LabelSkewSchemes, PerClassGivesUnequalSizesClientMixEqualOnes) {
  const auto population = balanced_population(10000);
  const auto per_class = client_sizes(run(population, kClients, "dirichlet", 0.5, 9), kClients);
  const auto [smallest, largest] = std::minmax_element(per_class.begin(), per_class.end());
  EXPECT_GT(*largest, 2 * *smallest);  // expected coefficient of variation ~0.4 at alpha 0.5
  const auto mix = client_sizes(run(population, kClients, "dirichlet-mix", 0.5, 9), kClients);
  const auto [mix_smallest, mix_largest] = std::minmax_element(mix.begin(), mix.end());
  EXPECT_LE(*mix_largest - *mix_smallest, 1);
}

TEST(LabelSkewSchemes, PerClassPutsEachClassOnFewClientsAtSmallAlpha) {
  // The property that defines the per-class scheme: at small alpha a class's samples land on
  // one or two clients, while the client-mix scheme spreads a popular class over every client
  // that favours it.
  const auto population = balanced_population(10000);
  const auto counts = label_counts(population, run(population, 10, "dirichlet", 0.01, 5), 10);
  int concentrated = 0;
  for (int c = 0; c < kClasses; ++c) {
    std::int64_t largest = 0;
    for (const auto& client : counts) largest = std::max(largest, client[static_cast<std::size_t>(c)]);
    concentrated += largest >= 900;  // of 1000
  }
  EXPECT_GE(concentrated, 8);
  // At large alpha every client gets close to its 1/10 of every class.
  for (const auto& client : label_counts(population, run(population, 10, "dirichlet", 1000.0, 5), 10))
    for (const auto count : client) EXPECT_NEAR(count, 100, 30);
}

// The values below were computed by the `dirichlet` partitioner of commit 850360f (the scheme
// now named `dirichlet-mix`) before the name went to the per-class scheme: datasets built then
// must be reproducible from their seed.
TEST(LabelSkewSchemes, ClientMixReproducesTheFormerDirichletPartition) {
  const auto population = uneven_population(3000);
  const auto assignment = run(population, 8, "dirichlet-mix", 0.3, 42);
  EXPECT_EQ(fingerprint(assignment), 1327152011415213473ull);
  EXPECT_EQ(label_counts(population, assignment, 8)[0], (std::vector<std::int64_t>{45, 16, 23, 57, 0, 0, 67, 9, 94, 64}));
  EXPECT_EQ(std::vector<std::int64_t>(assignment.begin(), assignment.begin() + 12),
            (std::vector<std::int64_t>{7, 4, 5, 7, 6, 0, 2, 2, 4, 4, 4, 7}));
}

}  // namespace
}  // namespace fedvlm::prep
