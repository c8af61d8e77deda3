#include "fedvlm/comm/mpi_communicator.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

#include "buffer_checks.hpp"
#include "fedvlm/comm/mpi_check.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {
namespace {

// MPI counts are int: larger buffers (a full model's parameters can pass 2^31 elements) are
// sent in chunks. Every rank cuts the same chunks because counts agree across ranks.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

template <class Call>
void for_each_chunk(const Buffer& buffer, Call call) {
  auto* bytes = static_cast<char*>(buffer.data);
  const std::size_t element = dtype_size(buffer.dtype);
  for (std::size_t offset = 0; offset < buffer.count; offset += kMaxChunk) {
    const std::size_t count = std::min(kMaxChunk, buffer.count - offset);
    call(bytes + offset * element, static_cast<int>(count));
  }
}

}  // namespace

MPI_Datatype mpi_datatype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt8: return MPI_UINT8_T;
  }
  throw Error(fmt::format("mpi: unknown dtype value {}", static_cast<int>(dtype)));
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return MPI_SUM;
    case ReduceOp::Max: return MPI_MAX;
  }
  throw Error(fmt::format("mpi: unknown reduce op value {}", static_cast<int>(op)));
}

MpiCommunicator::MpiCommunicator() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  FEDVLM_CHECK(initialized && !finalized,
               "the mpi backend needs MPI to be running: start the job with mpirun/mpiexec/srun "
               "and call comm::initialize first");
  // Errors on the world communicator (e.g. in MPI_Comm_dup) come back too, not only on ours.
  FEDVLM_CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  FEDVLM_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  FEDVLM_CHECK_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  FEDVLM_CHECK_MPI(MPI_Comm_rank(comm_, &rank_));
  FEDVLM_CHECK_MPI(MPI_Comm_size(comm_, &size_));
  if (size_ > 1) detail::note_world_joined();
  // This rank's rank among the ranks of its node: node_local_rank() answers with it from now on,
  // so the model's GPU and the nccl backend's agree (communicator.hpp).
  MPI_Comm node = MPI_COMM_NULL;
  FEDVLM_CHECK_MPI(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  int node_rank = 0;
  const int status = MPI_Comm_rank(node, &node_rank);
  MPI_Comm_free(&node);
  FEDVLM_CHECK_MPI(status);
  detail::note_node_rank(node_rank);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);  // never throws, never finalizes
}

void MpiCommunicator::allreduce(Buffer buffer, ReduceOp op) {
  detail::check_host(*this, buffer, "allreduce");
  for_each_chunk(buffer, [&](void* data, int count) {
    FEDVLM_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, data, count, mpi_datatype(buffer.dtype), mpi_op(op), comm_));
  });
}

void MpiCommunicator::reduce(Buffer buffer, ReduceOp op, int root) {
  // The root is checked by MPI itself (an invalid one comes back as MPI_ERR_ROOT).
  detail::check_host(*this, buffer, "reduce");
  for_each_chunk(buffer, [&](void* data, int count) {
    if (rank_ == root) {
      FEDVLM_CHECK_MPI(MPI_Reduce(MPI_IN_PLACE, data, count, mpi_datatype(buffer.dtype), mpi_op(op), root, comm_));
    } else {
      FEDVLM_CHECK_MPI(MPI_Reduce(data, nullptr, count, mpi_datatype(buffer.dtype), mpi_op(op), root, comm_));
    }
  });
}

void MpiCommunicator::broadcast(Buffer buffer, int root) {
  detail::check_host(*this, buffer, "broadcast");
  for_each_chunk(buffer, [&](void* data, int count) {
    FEDVLM_CHECK_MPI(MPI_Bcast(data, count, mpi_datatype(buffer.dtype), root, comm_));
  });
}

void MpiCommunicator::allgather(Buffer send, Buffer receive) {
  detail::check_host(*this, send, "allgather");
  detail::check_host(*this, receive, "allgather");
  detail::check_allgather_buffers(*this, send, receive);
  // Gathers are small (metrics, counts, predictions); the receive side must fit an int count.
  FEDVLM_CHECK(receive.count <= static_cast<std::size_t>(INT_MAX),
               "mpi allgather: {} elements in total exceed MPI's int count limit", receive.count);
  const int count = static_cast<int>(send.count);
  FEDVLM_CHECK_MPI(MPI_Allgather(send.data, count, mpi_datatype(send.dtype), receive.data, count,
                                 mpi_datatype(receive.dtype), comm_));
}

void MpiCommunicator::alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                                std::span<const std::size_t> receive_counts) {
  detail::check_host(*this, send, "alltoallv");
  detail::check_host(*this, receive, "alltoallv");
  detail::check_alltoallv_buffers(*this, send, send_counts, receive, receive_counts);
  const auto to_ints = [](std::span<const std::size_t> counts, std::vector<int>& out, std::vector<int>& offsets) {
    std::size_t offset = 0;
    for (const std::size_t count : counts) {
      FEDVLM_CHECK(offset + count <= static_cast<std::size_t>(INT_MAX),
                   "mpi alltoallv: {} elements exceed MPI's int count limit", offset + count);
      out.push_back(static_cast<int>(count));
      offsets.push_back(static_cast<int>(offset));
      offset += count;
    }
  };
  std::vector<int> sends, send_offsets, receives, receive_offsets;
  to_ints(send_counts, sends, send_offsets);
  to_ints(receive_counts, receives, receive_offsets);
  FEDVLM_CHECK_MPI(MPI_Alltoallv(send.data, sends.data(), send_offsets.data(), mpi_datatype(send.dtype), receive.data,
                                 receives.data(), receive_offsets.data(), mpi_datatype(receive.dtype), comm_));
}

void MpiCommunicator::barrier() { FEDVLM_CHECK_MPI(MPI_Barrier(comm_)); }

void MpiCommunicator::abort(int exit_code) {
  MPI_Abort(comm_ != MPI_COMM_NULL ? comm_ : MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort should not return; make sure this rank ends if it does
}

}  // namespace fedvlm::comm
