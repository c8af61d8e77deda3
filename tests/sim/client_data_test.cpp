// ClientData: a byte-bounded LRU cache of the clients a rank is home to.
#include <gtest/gtest.h>

#include <unistd.h>

#include "fedvlm/core/fs.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "tiny_federation.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

class ClientDataCache : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("fedvlm-client-data-" + std::to_string(::getpid()));
    test_support::write_tiny_federation(dir_, std::vector<int>{4, 4, 4, 4, 4, 4});  // equal sizes
  }
  static void TearDownTestSuite() { fedvlm::remove_tree(dir_); }
  static inline fs::path dir_;
};

TEST_F(ClientDataCache, EvictsTheLeastRecentlyUsedBeyondItsBudget) {
  data::DatasetReader reader(dir_);
  // Room for any two clients, not for three (text lengths make clients differ a little).
  std::int64_t smallest = INT64_MAX, largest = 0;
  for (std::int64_t client = 0; client < 6; ++client) {
    const std::int64_t bytes = sim::memory_bytes(reader.read_client(client));
    smallest = std::min(smallest, bytes), largest = std::max(largest, bytes);
  }
  ASSERT_GT(3 * smallest, 2 * largest);
  const std::int64_t client_bytes = largest;
  sim::ClientData data(reader, 2 * client_bytes);
  const auto zero = data.samples(0);
  data.samples(1);
  EXPECT_EQ(data.cached_clients(), 2);
  EXPECT_EQ(data.samples(0).get(), zero.get());  // a hit hands out the cached samples, and makes 0 the most recent
  data.samples(2);                   // evicts 1, the least recently used
  EXPECT_EQ(data.cached_clients(), 2);
  EXPECT_LE(data.cached_bytes(), 2 * client_bytes);
  EXPECT_EQ(data.samples(0).get(), zero.get());
  const auto one = data.samples(1);  // read again: a new object
  EXPECT_EQ(one->images, reader.read_client(1).images);
  EXPECT_EQ(data.cached_clients(), 2);  // 2 went out this time
  // Samples handed out outlive their eviction.
  for (std::int64_t client = 3; client < 6; ++client) data.samples(client);
  EXPECT_EQ(zero->images, reader.read_client(0).images);
  EXPECT_EQ(one->label, reader.read_client(1).label);
}

TEST_F(ClientDataCache, CachesOnlyTheClientsItIsHomeTo) {
  data::DatasetReader reader(dir_);
  sim::ClientData data(reader, -1, [](std::int64_t client) { return client < 3; });
  for (std::int64_t client = 0; client < 6; ++client) data.samples(client);
  EXPECT_EQ(data.cached_clients(), 3);
  EXPECT_NE(data.samples(4).get(), data.samples(4).get());  // read each time
  EXPECT_EQ(data.samples(2).get(), data.samples(2).get());
}

}  // namespace
