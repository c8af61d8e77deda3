#include "data_test_support.hpp"
#include "fedvlm/data/inspect.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;

Samples labeled(const std::vector<std::int32_t>& labels, const std::vector<std::uint8_t>& tasks) {
  Samples s;
  s.image_shape = {1, 2, 2};
  std::vector<std::uint8_t> image(4, 0);
  std::vector<std::int32_t> answer{5};
  for (std::size_t i = 0; i < labels.size(); ++i) s.add(image, tasks[i], {}, answer, labels[i], {kNaN, kNaN, kNaN, kNaN});
  return s;
}

// Hand-computed values (3 classes; global counts q = (3, 2, 3)/8):
//   client 0: labels 0 0 1 1 -> p = (1/2, 1/2, 0): H = 1 bit, TV = (1/8 + 1/4 + 3/8)/2 = 3/8,
//             EMD = |1/2 - 3/8| + |1 - 5/8| = 1/2
//   client 1: labels 0 2 2 2 -> p = (1/4, 0, 3/4): H = 2/4 + (3/4) log2(4/3) = 0.811278, TV = 3/8,
//             EMD = |1/4 - 3/8| + |1/4 - 5/8| = 1/2
//   client 2: labels -1 -1 (no labels, not averaged); client 3: empty.
TEST(Statistics, HandBuiltDatasetGivesHandComputedMeasures) {
  TempDir tmp;
  DatasetInfo info = make_info(4, {1, 2, 2});
  {
    DatasetWriter writer(tmp / "ds", info, 2, false);
    writer.write_split("public", labeled({0, 1}, {1, 1}));
    writer.write_client(0, labeled({0, 0, 1, 1}, {0, 0, 0, 1}));
    writer.write_client(1, labeled({0, 2, 2, 2}, {0, 0, 0, 0}));
    writer.write_client(2, labeled({-1, -1}, {1, 1}));
    writer.write_client(3, Samples{});
    writer.commit();
  }
  DatasetReader reader(tmp / "ds");
  DatasetStatistics s = dataset_statistics(reader);
  EXPECT_EQ(s.clients, 4);
  EXPECT_EQ(s.train_samples, 10);
  EXPECT_EQ(s.min_client_samples, 0);
  EXPECT_EQ(s.max_client_samples, 4);
  EXPECT_DOUBLE_EQ(s.median_client_samples, 3.0);
  EXPECT_EQ(s.empty_clients, 1);
  // Sizes 4, 4, 2, 0: mean 2.5, population variance (1.5^2 + 1.5^2 + 0.5^2 + 2.5^2) / 4 = 2.75.
  EXPECT_DOUBLE_EQ(s.mean_client_samples, 2.5);
  EXPECT_NEAR(s.client_samples_cv, std::sqrt(2.75) / 2.5, 1e-12);
  EXPECT_EQ(s.train.per_task, (std::vector<std::int64_t>{7, 3}));
  EXPECT_EQ(s.public_split.per_task, (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(s.test.samples, 0);
  EXPECT_EQ(s.client_label_counts[0], (std::vector<std::int64_t>{2, 2, 0}));
  EXPECT_EQ(s.client_label_counts[1], (std::vector<std::int64_t>{1, 0, 3}));
  EXPECT_EQ(s.client_label_counts[2], (std::vector<std::int64_t>{0, 0, 0}));
  EXPECT_EQ(s.global_label_counts, (std::vector<std::int64_t>{3, 2, 3}));
  EXPECT_EQ(s.labeled_clients, 2);
  const double h1 = 0.5 + 0.75 * std::log2(4.0 / 3.0);
  EXPECT_NEAR(s.mean_label_entropy_bits, (1.0 + h1) / 2, 1e-12);
  EXPECT_NEAR(s.mean_total_variation, 0.375, 1e-12);
  EXPECT_NEAR(s.mean_earth_movers, 0.5, 1e-12);
  EXPECT_NEAR(s.global_label_entropy_bits, 2 * 0.375 * std::log2(8.0 / 3.0) + 0.25 * 2, 1e-12);

  std::string report = format_statistics(reader.info(), s);
  EXPECT_NE(report.find("mean client label entropy     0.906 bits"), std::string::npos) << report;
  EXPECT_NE(report.find("client     1: 1 0 3"), std::string::npos) << report;
  EXPECT_NE(report.find("per client   min 0  median 3  max 4  mean 2.5  cv 0.663"), std::string::npos) << report;
}

TEST(Statistics, IdenticalDistributionsHaveZeroDistance) {
  std::vector<std::int64_t> p{2, 4, 6}, q{1, 2, 3}, disjoint{0, 0, 5};
  EXPECT_DOUBLE_EQ(total_variation(p, q), 0.0);
  EXPECT_DOUBLE_EQ(earth_movers_1d(p, q), 0.0);
  EXPECT_NEAR(total_variation(std::vector<std::int64_t>{5, 0, 0}, disjoint), 1.0, 1e-12);
  EXPECT_NEAR(earth_movers_1d(std::vector<std::int64_t>{5, 0, 0}, disjoint), 2.0, 1e-12);  // mass moves 2 classes
  EXPECT_NEAR(entropy_bits(std::vector<std::int64_t>{1, 1, 1, 1}), 2.0, 1e-12);
}

}  // namespace
}  // namespace fedvlm::data
