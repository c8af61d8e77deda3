#include "fedvlm/comm/communicator.hpp"

#include "buffer_checks.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  throw Error(fmt::format("comm: unknown dtype value {}", static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "unknown";
}

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::Auto;
  if (name == "local") return Backend::Local;
  if (name == "mpi") return Backend::Mpi;
  if (name == "nccl") return Backend::Nccl;
  throw InputError(fmt::format("unknown communication backend '{}' (expected auto, local, mpi or nccl)", name));
}

namespace detail {

void check_root(const Communicator& comm, int root, const char* operation) {
  FEDVLM_CHECK(0 <= root && root < comm.size(), "{} {}: root {} is not a rank of a world of size {}",
               comm.backend(), operation, root, comm.size());
}

void check_host(const Communicator& comm, const Buffer& buffer, const char* operation) {
  FEDVLM_CHECK(!buffer.on_device,
               "{} {}: the {} backend works on host buffers only (comm::tensor_ops stages device tensors)",
               comm.backend(), operation, comm.backend());
}

void check_allgather_buffers(const Communicator& comm, const Buffer& send, const Buffer& receive) {
  FEDVLM_CHECK(send.dtype == receive.dtype, "{} allgather: send is {} but receive is {}", comm.backend(),
               dtype_name(send.dtype), dtype_name(receive.dtype));
  const std::size_t expected = send.count * static_cast<std::size_t>(comm.size());
  FEDVLM_CHECK(receive.count == expected,
               "{} allgather: receive holds {} elements, needs {} ({} per rank x {} ranks)", comm.backend(),
               receive.count, expected, send.count, comm.size());
}

void check_alltoallv_buffers(const Communicator& comm, const Buffer& send, std::span<const std::size_t> send_counts,
                             const Buffer& receive, std::span<const std::size_t> receive_counts) {
  FEDVLM_CHECK(send.dtype == receive.dtype, "{} alltoallv: send is {} but receive is {}", comm.backend(),
               dtype_name(send.dtype), dtype_name(receive.dtype));
  const auto ranks = static_cast<std::size_t>(comm.size());
  FEDVLM_CHECK(send_counts.size() == ranks && receive_counts.size() == ranks,
               "{} alltoallv: {} send and {} receive counts for {} ranks", comm.backend(), send_counts.size(),
               receive_counts.size(), ranks);
  std::size_t sent = 0, received = 0;
  for (std::size_t p = 0; p < ranks; ++p) sent += send_counts[p], received += receive_counts[p];
  FEDVLM_CHECK(sent <= send.count && received <= receive.count,
               "{} alltoallv: counts add up to {} sent and {} received, the buffers hold {} and {}", comm.backend(),
               sent, received, send.count, receive.count);
}

}  // namespace detail
}  // namespace fedvlm::comm
