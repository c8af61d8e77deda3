#include "data_test_support.hpp"
#include "fedvlm/data/read_benchmark.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;

TEST(ReadBenchmark, CountsTheSamplesOfEveryClientRead) {
  TempDir tmp;
  std::vector<Samples> clients(6, make_samples(5, 3));  // equal sizes: samples = reads * 5
  write_dataset(tmp / "ds", clients, 2, {}, {});
  ReadBenchmark result = bench_read(tmp / "ds", 17, 1);
  EXPECT_EQ(result.clients_read, 17);
  EXPECT_EQ(result.samples, 17 * 5);
  EXPECT_EQ(result.image_bytes, 17 * 5 * 30);
  EXPECT_GT(result.seconds, 0);
}

// The measurement of the issue: ~20k samples of 1x48x48 over 100 clients, random client reads.
// Run: test_data --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_RandomClientThroughput*'
TEST(ReadBenchmark, DISABLED_RandomClientThroughput) {
  TempDir tmp;
  const ImageShape shape{1, 48, 48};
  DatasetInfo info = make_info(100, shape);
  {
    DatasetWriter writer(tmp / "ds", info, 4, false);
    for (std::int64_t k = 0; k < 100; ++k) writer.write_client(k, make_samples(200, static_cast<int>(k), shape));
    writer.commit();
  }
  std::int64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp / "ds")) bytes += entry.file_size();
  ReadBenchmark result = bench_read(tmp / "ds", 1000, 1);
  std::printf("dataset %.1f MB on disk; %lld client reads, %lld samples in %.3f s: %.0f samples/s, %.1f MB/s of pixels\n",
              static_cast<double>(bytes) / 1e6, static_cast<long long>(result.clients_read),
              static_cast<long long>(result.samples), result.seconds, result.samples_per_second(),
              result.megabytes_per_second());
}

}  // namespace
}  // namespace fedvlm::data
