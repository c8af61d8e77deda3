// LocalCommunicator: a world of one, where every collective is the identity and allgather a copy.
#include <gtest/gtest.h>

#include <vector>

#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {
namespace {

Buffer view(std::vector<double>& v) { return {v.data(), v.size(), DType::Float64, false}; }

TEST(LocalCommunicator, IsRankZeroOfOne) {
  LocalCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_TRUE(comm.is_root());
  EXPECT_EQ(comm.backend(), "local");
  EXPECT_FALSE(comm.accepts_device_buffers());
}

TEST(LocalCommunicator, ReductionsAndBroadcastLeaveValuesUnchanged) {
  LocalCommunicator comm;
  std::vector<double> values{1.5, -2.0, 3.25};
  const auto original = values;
  comm.allreduce(view(values), ReduceOp::Sum);
  comm.allreduce(view(values), ReduceOp::Max);
  comm.reduce(view(values), ReduceOp::Sum, 0);
  comm.broadcast(view(values), 0);
  comm.barrier();
  EXPECT_EQ(values, original);
}

TEST(LocalCommunicator, AllgatherCopiesTheSendBuffer) {
  LocalCommunicator comm;
  std::vector<double> send{4.0, 5.0};
  std::vector<double> receive(2, 0.0);
  comm.allgather(view(send), view(receive));
  EXPECT_EQ(receive, send);
}

TEST(LocalCommunicator, RejectsRootsOutsideTheWorld) {
  LocalCommunicator comm;
  std::vector<double> values{1.0};
  EXPECT_THROW(comm.broadcast(view(values), 1), Error);
  EXPECT_THROW(comm.reduce(view(values), ReduceOp::Sum, -1), Error);
}

TEST(LocalCommunicator, RejectsMismatchedAllgatherBuffers) {
  LocalCommunicator comm;
  std::vector<double> send{1.0, 2.0};
  std::vector<double> receive(3);
  EXPECT_THROW(comm.allgather(view(send), view(receive)), Error);
  std::vector<float> floats(2);
  EXPECT_THROW(comm.allgather(view(send), Buffer{floats.data(), floats.size(), DType::Float32, false}), Error);
}

TEST(LocalCommunicator, RejectsDeviceBuffers) {
  LocalCommunicator comm;
  std::vector<double> values{1.0};
  Buffer device = view(values);
  device.on_device = true;
  EXPECT_THROW(comm.allreduce(device, ReduceOp::Sum), Error);
}

TEST(LocalCommunicator, TensorAdaptersAreIdentityOnOneRank) {
  LocalCommunicator comm;
  torch::Tensor values = torch::arange(6, torch::kFloat32).reshape({2, 3});
  const torch::Tensor original = values.clone();
  allreduce(comm, values);
  broadcast(comm, values, 0);
  EXPECT_TRUE(torch::equal(values, original));
  const torch::Tensor gathered = allgather(comm, values);
  ASSERT_EQ(gathered.sizes(), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_TRUE(torch::equal(gathered[0], original));
  EXPECT_EQ(to_dtype(torch::kInt32), DType::Int32);
  EXPECT_THROW(to_dtype(torch::kBool), Error);
}

}  // namespace
}  // namespace fedvlm::comm
