// Every collective through the factory's Auto backend: MPI under mpiexec, Local when run alone.
// Expected values are functions of size(), so the same assertions hold for any number of ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/comm/mpi_check.hpp"
#include "fedvlm/comm/mpi_communicator.hpp"
#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {
namespace {

Buffer view(std::vector<float>& v) { return {v.data(), v.size(), DType::Float32, false}; }
Buffer view(std::vector<double>& v) { return {v.data(), v.size(), DType::Float64, false}; }
Buffer view(std::vector<std::int32_t>& v) { return {v.data(), v.size(), DType::Int32, false}; }
Buffer view(std::vector<std::int64_t>& v) { return {v.data(), v.size(), DType::Int64, false}; }
Buffer view(std::vector<std::uint8_t>& v) { return {v.data(), v.size(), DType::UInt8, false}; }

int mpi_world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override { comm = make_communicator(Backend::Auto); }
  int n() const { return comm->size(); }
  int rank() const { return comm->rank(); }

  std::unique_ptr<Communicator> comm;
};

TEST_F(Collectives, AutoIsMpiExactlyWhenLaunchedByAStarter) {
  if (launched_under_mpi()) {
    EXPECT_EQ(comm->backend(), "mpi");
    EXPECT_EQ(n(), mpi_world_size());
  } else {
    EXPECT_EQ(comm->backend(), "local");
    EXPECT_EQ(n(), 1);
  }
  EXPECT_EQ(current_rank(), rank());
}

TEST_F(Collectives, ExplicitMpiNeedsAStarter) {
  if (launched_under_mpi()) {
    auto mpi = make_communicator(Backend::Mpi);
    EXPECT_EQ(mpi->backend(), "mpi");
    EXPECT_EQ(mpi->size(), n());
    EXPECT_EQ(mpi->rank(), rank());
  } else {
    EXPECT_THROW(make_communicator(Backend::Mpi), Error);
  }
}

TEST_F(Collectives, LocalRefusesToBeOneOfSeveralRanks) {
  if (n() > 1) {
    EXPECT_THROW(make_communicator(Backend::Local), Error);
  } else {
    EXPECT_EQ(make_communicator(Backend::Local)->size(), 1);
  }
}

TEST_F(Collectives, AllreduceSumOfRankPlusOneIsTriangularNumber) {
  std::vector<double> values{static_cast<double>(rank() + 1), 0.5};
  comm->allreduce(view(values), ReduceOp::Sum);
  EXPECT_EQ(values[0], n() * (n() + 1) / 2.0);
  EXPECT_EQ(values[1], 0.5 * n());
}

TEST_F(Collectives, AllreduceMaxIsWorldSize) {
  std::vector<std::int32_t> values{rank() + 1, -rank()};
  comm->allreduce(view(values), ReduceOp::Max);
  EXPECT_EQ(values[0], n());
  EXPECT_EQ(values[1], 0);
}

TEST_F(Collectives, AllreduceEveryDtype) {
  std::vector<float> f32{1.0f};
  std::vector<std::int64_t> i64{std::int64_t{1} << 40};
  std::vector<std::uint8_t> u8{static_cast<std::uint8_t>(rank() + 1)};
  comm->allreduce(view(f32), ReduceOp::Sum);
  comm->allreduce(view(i64), ReduceOp::Sum);
  comm->allreduce(view(u8), ReduceOp::Max);
  EXPECT_EQ(f32[0], static_cast<float>(n()));
  EXPECT_EQ(i64[0], n() * (std::int64_t{1} << 40));
  EXPECT_EQ(u8[0], n());
}

TEST_F(Collectives, ReduceToLastRankSumsThere) {
  const int root = n() - 1;
  std::vector<std::int64_t> values{rank() + 1, 7};
  comm->reduce(view(values), ReduceOp::Sum, root);
  if (rank() == root) {
    EXPECT_EQ(values[0], n() * (n() + 1) / 2);
    EXPECT_EQ(values[1], 7 * n());
  }
}

TEST_F(Collectives, AlltoallvDeliversEachBlockToItsRank) {
  // Rank r sends (r + p) % 3 values to rank p: r·1000 + p·10 + i. Some blocks are empty.
  const auto blocks = [&](int from, int to) { return static_cast<std::size_t>((from + to) % 3); };
  std::vector<std::int64_t> send;
  std::vector<std::size_t> send_counts, receive_counts;
  std::size_t expected = 0;
  for (int p = 0; p < n(); ++p) {
    send_counts.push_back(blocks(rank(), p));
    receive_counts.push_back(blocks(p, rank()));
    expected += blocks(p, rank());
    for (std::size_t i = 0; i < blocks(rank(), p); ++i) send.push_back(rank() * 1000 + p * 10 + static_cast<std::int64_t>(i));
  }
  std::vector<std::int64_t> receive(expected + 1, -1);  // one spare element stays untouched
  comm->alltoallv(view(send), send_counts, view(receive), receive_counts);
  std::size_t k = 0;
  for (int p = 0; p < n(); ++p)
    for (std::size_t i = 0; i < blocks(p, rank()); ++i)
      EXPECT_EQ(receive[k++], p * 1000 + rank() * 10 + static_cast<std::int64_t>(i)) << "from rank " << p;
  EXPECT_EQ(receive.back(), -1);
}

TEST_F(Collectives, BroadcastFromLastRankCopiesItsValues) {
  const int root = n() - 1;
  std::vector<float> values(3, -1.0f);
  if (rank() == root) values = {1.0f * root, 2.0f, 3.0f};
  comm->broadcast(view(values), root);
  EXPECT_EQ(values, (std::vector<float>{1.0f * (n() - 1), 2.0f, 3.0f}));
}

TEST_F(Collectives, AllgatherStacksInRankOrder) {
  std::vector<std::int32_t> send{rank() * 10, rank() * 10 + 1};
  std::vector<std::int32_t> receive(2 * static_cast<std::size_t>(n()), -1);
  comm->allgather(view(send), view(receive));
  for (int r = 0; r < n(); ++r) {
    EXPECT_EQ(receive[static_cast<std::size_t>(2 * r)], r * 10);
    EXPECT_EQ(receive[static_cast<std::size_t>(2 * r + 1)], r * 10 + 1);
  }
}

TEST_F(Collectives, RepeatedCollectivesStayCorrect) {
  for (int iteration = 0; iteration < 25; ++iteration) {
    std::vector<std::int64_t> sum(static_cast<std::size_t>(1 + iteration % 5), rank() + iteration);
    comm->allreduce(view(sum), ReduceOp::Sum);
    for (auto value : sum) EXPECT_EQ(value, n() * iteration + n() * (n() - 1) / 2);
    const int root = iteration % n();
    std::vector<double> shared{rank() == root ? iteration * 3.0 : -1.0};
    comm->broadcast(view(shared), root);
    EXPECT_EQ(shared[0], iteration * 3.0);
    comm->barrier();
  }
}

TEST_F(Collectives, TensorAdapters) {
  torch::Tensor sum = torch::full({3, 2}, rank() + 1, torch::kFloat64);
  allreduce(*comm, sum);
  EXPECT_TRUE(torch::equal(sum, torch::full({3, 2}, n() * (n() + 1) / 2.0, torch::kFloat64)));

  torch::Tensor weights = rank() == 0 ? torch::arange(5, torch::kFloat32) : torch::zeros({5}, torch::kFloat32);
  broadcast(*comm, weights, 0);
  EXPECT_TRUE(torch::equal(weights, torch::arange(5, torch::kFloat32)));

  torch::Tensor count = torch::tensor({rank() + 1}, torch::kInt64);
  reduce(*comm, count, ReduceOp::Sum, 0);
  if (rank() == 0) {
    EXPECT_EQ(count.item<std::int64_t>(), n() * (n() + 1) / 2);
  }

  const torch::Tensor gathered = allgather(*comm, torch::full({2}, rank(), torch::kInt32));
  ASSERT_EQ(gathered.sizes(), (std::vector<std::int64_t>{n(), 2}));
  for (int r = 0; r < n(); ++r) EXPECT_TRUE(torch::equal(gathered[r], torch::full({2}, r, torch::kInt32)));
}

TEST_F(Collectives, InvalidRootIsReportedWithTheCallAndRank) {
  std::vector<double> values{1.0};
  try {
    comm->broadcast(view(values), n());
    FAIL() << "a broadcast from root " << n() << " must fail";
  } catch (const Error& error) {
    const std::string message = error.what();
    if (comm->backend() == "mpi") {
      // Reported by MPI itself and carried back by FEDVLM_CHECK_MPI.
      EXPECT_NE(message.find(fmt::format("MPI call failed on rank {}", rank())), std::string::npos) << message;
      EXPECT_NE(message.find("MPI_Bcast("), std::string::npos) << message;
      EXPECT_NE(message.find("MPI_ERR_ROOT"), std::string::npos) << message;  // MPI_Error_string's text
    } else {
      EXPECT_NE(message.find(fmt::format("root {} is not a rank", n())), std::string::npos) << message;
    }
  }
}

TEST_F(Collectives, CheckMacroCarriesTheErrorStringAndTheCallText) {
  if (comm->backend() != "mpi") GTEST_SKIP() << "needs MPI (run under mpiexec)";
  auto* mpi = dynamic_cast<MpiCommunicator*>(comm.get());
  ASSERT_NE(mpi, nullptr);
  std::int32_t value = 0;
  const int bad_count = -1;  // rejected by MPI's argument checks on every rank
  try {
    FEDVLM_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &value, bad_count, MPI_INT32_T, MPI_SUM, mpi->handle()));
    FAIL() << "a negative count must fail";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("MPI_Allreduce(MPI_IN_PLACE, &value, bad_count"), std::string::npos) << message;
    EXPECT_NE(message.find("MPI_ERR_COUNT"), std::string::npos) << message;
  }
}

// Under mpiexec: this rank's rank among the ranks of its node (MPI_COMM_TYPE_SHARED), recorded
// by the MPI communicator, wins over the launcher's variables. Alone: the variables, else 0.
TEST_F(Collectives, NodeLocalRankComesFromTheCommunicator) {
  if (comm->backend() != "mpi") GTEST_SKIP() << "needs MPI (run under mpiexec)";
  MPI_Comm node = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &node), MPI_SUCCESS);
  int expected = -1;
  MPI_Comm_rank(node, &expected);
  MPI_Comm_free(&node);
  EXPECT_EQ(node_local_rank(), expected);
  if (const char* launcher = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) {
    EXPECT_EQ(node_local_rank(), std::atoi(launcher));
  }
  const std::string saved = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK") ? std::getenv("OMPI_COMM_WORLD_LOCAL_RANK") : "";
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "17", 1);
  EXPECT_EQ(node_local_rank(), expected);
  if (saved.empty()) {
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  } else {
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", saved.c_str(), 1);
  }
}

// The nccl backend on this rank's GPU, where it can run: a CUDA build with NCCL, under mpiexec,
// no more ranks on the node than GPUs (NCCL refuses two ranks on one GPU). Skipped elsewhere,
// the same way on every rank.
TEST(NcclOnTheGpu, CollectivesOnDeviceTensorsOfTheRanksGpu) {
  if (!launched_under_mpi()) GTEST_SKIP() << "needs mpiexec (the nccl backend runs over MPI)";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch or machine";
  MPI_Comm node = MPI_COMM_NULL;
  ASSERT_EQ(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), MPI_SUCCESS);
  int on_node = 1;
  MPI_Comm_size(node, &on_node);
  MPI_Comm_free(&node);
  int short_of_gpus = on_node > static_cast<int>(torch::cuda::device_count()) ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &short_of_gpus, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (short_of_gpus) GTEST_SKIP() << on_node << " ranks on a node with " << torch::cuda::device_count() << " GPU(s)";
  std::unique_ptr<Communicator> nccl;
  try {
    nccl = make_communicator(Backend::Nccl);
  } catch (const Error& error) {
    if (std::string(error.what()).find("not compiled") == std::string::npos) throw;
    GTEST_SKIP() << error.what();
  }
  ASSERT_TRUE(nccl->accepts_device_buffers());
  const int n = nccl->size();
  const int r = nccl->rank();
  // The GPU the model of this rank is put on (sim::choose_device) is the one NCCL is bound to:
  // the backend refuses buffers of any other GPU.
  const torch::Device gpu(torch::kCUDA,
                          static_cast<c10::DeviceIndex>(cuda_device_for(node_local_rank(), static_cast<int>(torch::cuda::device_count()))));
  torch::Tensor sum = torch::full({1 << 20}, static_cast<float>(r + 1), torch::TensorOptions().device(gpu));
  allreduce(*nccl, sum);
  EXPECT_TRUE(sum.is_cuda());
  EXPECT_TRUE(torch::all(sum.cpu() == static_cast<float>(n * (n + 1) / 2)).item<bool>());
  torch::Tensor max = torch::tensor({static_cast<std::int64_t>(r), std::int64_t{-1}}, torch::TensorOptions().device(gpu));
  allreduce(*nccl, max, ReduceOp::Max);
  EXPECT_EQ(max.cpu()[0].item<std::int64_t>(), n - 1);
  torch::Tensor root = torch::full({3}, static_cast<double>(r), torch::TensorOptions().dtype(torch::kFloat64).device(gpu));
  broadcast(*nccl, root, n - 1);
  EXPECT_TRUE(torch::all(root.cpu() == static_cast<double>(n - 1)).item<bool>());
  nccl->barrier();
}

}  // namespace
}  // namespace fedvlm::comm
