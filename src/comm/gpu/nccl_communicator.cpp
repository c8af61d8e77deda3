#include "nccl_communicator.hpp"

#include <c10/cuda/CUDAStream.h>

#include "../buffer_checks.hpp"
#include "fedvlm/comm/mpi_check.hpp"
#include "gpu_check.hpp"

namespace fedvlm::comm {
namespace {

ncclDataType_t nccl_datatype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    case DType::Int32: return ncclInt32;
    case DType::Int64: return ncclInt64;
    case DType::UInt8: return ncclUint8;
  }
  throw Error(fmt::format("nccl: unknown dtype value {}", static_cast<int>(dtype)));
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::Sum ? ncclSum : ncclMax; }

cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi) : mpi_(std::move(mpi)) {
  FEDVLM_CHECK(mpi_ != nullptr, "the nccl backend needs an MPI communicator underneath");
  int devices = 0;
  FEDVLM_CHECK_CUDA(cudaGetDeviceCount(&devices));
  FEDVLM_CHECK(devices > 0, "the nccl backend needs a CUDA device, but rank {} sees none", rank());
  // The same GPU sim::choose_device gives this rank's model (communicator.hpp): the MPI
  // communicator underneath has just recorded this rank's rank on its node.
  device_ = cuda_device_for(node_local_rank(), devices);
  FEDVLM_CHECK_CUDA(cudaSetDevice(device_));

  ncclUniqueId id{};
  if (rank() == 0) FEDVLM_CHECK_NCCL(ncclGetUniqueId(&id));
  mpi_->broadcast(Buffer{.data = &id, .count = sizeof(id), .dtype = DType::UInt8, .on_device = false}, 0);
  FEDVLM_CHECK_NCCL(ncclCommInitRank(&comm_, size(), id, rank()));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr) ncclCommDestroy(comm_);  // never throws
}

void NcclCommunicator::check_on_my_device(const Buffer& buffer, const char* operation) const {
  cudaPointerAttributes attributes{};
  FEDVLM_CHECK_CUDA(cudaPointerGetAttributes(&attributes, buffer.data));
  FEDVLM_CHECK(attributes.type == cudaMemoryTypeDevice && attributes.device == device_,
               "nccl {}: the buffer must be memory of this rank's GPU {} (it is on device {})", operation, device_,
               attributes.device);
}

void NcclCommunicator::allreduce(Buffer buffer, ReduceOp op) {
  if (!buffer.on_device) return mpi_->allreduce(buffer, op);
  if (buffer.count == 0) return;
  check_on_my_device(buffer, "allreduce");
  FEDVLM_CHECK_NCCL(ncclAllReduce(buffer.data, buffer.data, buffer.count, nccl_datatype(buffer.dtype), nccl_op(op),
                                  comm_, current_stream()));
}

void NcclCommunicator::reduce(Buffer buffer, ReduceOp op, int root) {
  if (!buffer.on_device) return mpi_->reduce(buffer, op, root);
  detail::check_root(*this, root, "reduce");
  if (buffer.count == 0) return;
  check_on_my_device(buffer, "reduce");
  FEDVLM_CHECK_NCCL(ncclReduce(buffer.data, buffer.data, buffer.count, nccl_datatype(buffer.dtype), nccl_op(op), root,
                               comm_, current_stream()));
}

void NcclCommunicator::broadcast(Buffer buffer, int root) {
  if (!buffer.on_device) return mpi_->broadcast(buffer, root);
  detail::check_root(*this, root, "broadcast");
  if (buffer.count == 0) return;
  check_on_my_device(buffer, "broadcast");
  FEDVLM_CHECK_NCCL(ncclBroadcast(buffer.data, buffer.data, buffer.count, nccl_datatype(buffer.dtype), root, comm_,
                                  current_stream()));
}

void NcclCommunicator::allgather(Buffer send, Buffer receive) {
  FEDVLM_CHECK(send.on_device == receive.on_device,
               "nccl allgather: send and receive must both be device or both host buffers");
  if (!send.on_device) return mpi_->allgather(send, receive);
  detail::check_allgather_buffers(*this, send, receive);
  if (send.count == 0) return;
  check_on_my_device(send, "allgather");
  check_on_my_device(receive, "allgather");
  FEDVLM_CHECK_NCCL(ncclAllGather(send.data, receive.data, send.count, nccl_datatype(send.dtype), comm_,
                                  current_stream()));
}

void NcclCommunicator::alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                                 std::span<const std::size_t> receive_counts) {
  FEDVLM_CHECK(send.on_device == receive.on_device,
               "nccl alltoallv: send and receive must both be device or both host buffers");
  if (!send.on_device) return mpi_->alltoallv(send, send_counts, receive, receive_counts);
  detail::check_alltoallv_buffers(*this, send, send_counts, receive, receive_counts);
  check_on_my_device(send, "alltoallv");
  check_on_my_device(receive, "alltoallv");
  // One group of point-to-point calls: NCCL pairs each send with the peer's matching receive.
  const std::size_t element = dtype_size(send.dtype);
  std::size_t sent = 0, received = 0;
  FEDVLM_CHECK_NCCL(ncclGroupStart());
  for (int peer = 0; peer < size(); ++peer) {
    const auto p = static_cast<std::size_t>(peer);
    if (send_counts[p] > 0)
      FEDVLM_CHECK_NCCL(ncclSend(static_cast<const char*>(send.data) + sent * element, send_counts[p],
                                 nccl_datatype(send.dtype), peer, comm_, current_stream()));
    if (receive_counts[p] > 0)
      FEDVLM_CHECK_NCCL(ncclRecv(static_cast<char*>(receive.data) + received * element, receive_counts[p],
                                 nccl_datatype(receive.dtype), peer, comm_, current_stream()));
    sent += send_counts[p];
    received += receive_counts[p];
  }
  FEDVLM_CHECK_NCCL(ncclGroupEnd());
}

void NcclCommunicator::barrier() {
  // Work queued before the barrier is finished when it returns, as with the host backends.
  FEDVLM_CHECK_CUDA(cudaStreamSynchronize(current_stream()));
  mpi_->barrier();
}

void NcclCommunicator::abort(int exit_code) {
  if (comm_ != nullptr) ncclCommAbort(comm_);  // unblocks kernels waiting on peers that are gone
  comm_ = nullptr;
  mpi_->abort(exit_code);
}

}  // namespace fedvlm::comm
