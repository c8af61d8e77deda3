#include "fedvlm/comm/tensor_ops.hpp"

#include <torch/torch.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {
namespace {

void check_tensor(const torch::Tensor& tensor, const char* operation) {
  FEDVLM_CHECK(tensor.defined(), "comm::{}: the tensor is undefined", operation);
  FEDVLM_CHECK(tensor.is_contiguous(), "comm::{}: the tensor (shape {}) must be contiguous; call .contiguous() first",
               operation, c10::str(tensor.sizes()));
  FEDVLM_CHECK(tensor.is_cpu() || tensor.is_cuda(), "comm::{}: tensors must live on the CPU or a CUDA device, not {}",
               operation, tensor.device().str());
  to_dtype(tensor.scalar_type());  // fails early, even where a single rank skips the backend
}

Buffer buffer_of(const torch::Tensor& tensor) {
  return Buffer{.data = tensor.data_ptr(),
                .count = static_cast<std::size_t>(tensor.numel()),
                .dtype = to_dtype(tensor.scalar_type()),
                .on_device = tensor.is_cuda()};
}

// Device tensors for a backend that takes host buffers only.
bool needs_staging(const Communicator& comm, const torch::Tensor& tensor) {
  return tensor.is_cuda() && !comm.accepts_device_buffers();
}

// Runs `operation` on a host copy of a device tensor and copies the result back.
template <class Operation>
void staged(const torch::Tensor& tensor, Operation operation) {
  torch::Tensor host = tensor.to(torch::kCPU);
  operation(host);
  tensor.copy_(host);
}

void check_single_rank_root(const Communicator& comm, int root, const char* operation) {
  FEDVLM_CHECK(root == 0, "comm::{}: root {} is not a rank of a world of size 1", operation, root);
}

}  // namespace

DType to_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return DType::Float32;
    case torch::kFloat64: return DType::Float64;
    case torch::kInt32: return DType::Int32;
    case torch::kInt64: return DType::Int64;
    case torch::kUInt8: return DType::UInt8;
    default:
      throw Error(fmt::format("comm: tensors of dtype {} cannot be communicated (float32, float64, int32, int64, uint8)",
                              c10::toString(type)));
  }
}

void allreduce(Communicator& comm, torch::Tensor& tensor, ReduceOp op) {
  check_tensor(tensor, "allreduce");
  if (!needs_staging(comm, tensor)) return comm.allreduce(buffer_of(tensor), op);
  if (comm.size() == 1) return;
  staged(tensor, [&](torch::Tensor& host) { comm.allreduce(buffer_of(host), op); });
}

void reduce(Communicator& comm, torch::Tensor& tensor, ReduceOp op, int root) {
  check_tensor(tensor, "reduce");
  if (!needs_staging(comm, tensor)) return comm.reduce(buffer_of(tensor), op, root);
  if (comm.size() == 1) return check_single_rank_root(comm, root, "reduce");
  staged(tensor, [&](torch::Tensor& host) { comm.reduce(buffer_of(host), op, root); });
}

void broadcast(Communicator& comm, torch::Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast");
  if (!needs_staging(comm, tensor)) return comm.broadcast(buffer_of(tensor), root);
  if (comm.size() == 1) return check_single_rank_root(comm, root, "broadcast");
  staged(tensor, [&](torch::Tensor& host) { comm.broadcast(buffer_of(host), root); });
}

torch::Tensor allgather(Communicator& comm, const torch::Tensor& send) {
  check_tensor(send, "allgather");
  std::vector<std::int64_t> shape{comm.size()};
  shape.insert(shape.end(), send.sizes().begin(), send.sizes().end());
  if (!needs_staging(comm, send)) {
    torch::Tensor receive = torch::empty(shape, send.options());
    comm.allgather(buffer_of(send), buffer_of(receive));
    return receive;
  }
  if (comm.size() == 1) return send.unsqueeze(0).clone();
  const torch::Tensor host_send = send.to(torch::kCPU);
  torch::Tensor host_receive = torch::empty(shape, host_send.options());
  comm.allgather(buffer_of(host_send), buffer_of(host_receive));
  return host_receive.to(send.device());
}

torch::Tensor alltoallv(Communicator& comm, const torch::Tensor& send, std::span<const std::int64_t> send_rows,
                        std::span<const std::int64_t> receive_rows) {
  check_tensor(send, "alltoallv");
  FEDVLM_CHECK(send.dim() == 2, "comm::alltoallv: rows of a 2-D tensor are exchanged, got shape {}",
               c10::str(send.sizes()));
  const std::int64_t width = send.size(1);
  std::vector<std::size_t> send_counts, receive_counts;
  std::int64_t received = 0;
  for (const std::int64_t rows : send_rows) send_counts.push_back(static_cast<std::size_t>(rows * width));
  for (const std::int64_t rows : receive_rows) {
    receive_counts.push_back(static_cast<std::size_t>(rows * width));
    received += rows;
  }
  const bool stage = needs_staging(comm, send);
  const torch::Tensor source = stage ? send.to(torch::kCPU) : send;
  torch::Tensor receive = torch::empty({received, width}, source.options());
  comm.alltoallv(buffer_of(source), send_counts, buffer_of(receive), receive_counts);
  return stage ? receive.to(send.device()) : receive;
}

}  // namespace fedvlm::comm
