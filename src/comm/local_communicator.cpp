#include "fedvlm/comm/local_communicator.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "buffer_checks.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {

void LocalCommunicator::allreduce(Buffer buffer, ReduceOp) { detail::check_host(*this, buffer, "allreduce"); }

void LocalCommunicator::reduce(Buffer buffer, ReduceOp, int root) {
  detail::check_host(*this, buffer, "reduce");
  detail::check_root(*this, root, "reduce");
}

void LocalCommunicator::broadcast(Buffer buffer, int root) {
  detail::check_host(*this, buffer, "broadcast");
  detail::check_root(*this, root, "broadcast");
}

void LocalCommunicator::allgather(Buffer send, Buffer receive) {
  detail::check_host(*this, send, "allgather");
  detail::check_host(*this, receive, "allgather");
  detail::check_allgather_buffers(*this, send, receive);
  if (send.bytes() > 0 && send.data != receive.data) std::memmove(receive.data, send.data, send.bytes());
}

void LocalCommunicator::alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                                  std::span<const std::size_t> receive_counts) {
  detail::check_host(*this, send, "alltoallv");
  detail::check_host(*this, receive, "alltoallv");
  detail::check_alltoallv_buffers(*this, send, send_counts, receive, receive_counts);
  FEDVLM_CHECK(send_counts[0] == receive_counts[0], "local alltoallv: sends {} elements to itself but expects {}",
               send_counts[0], receive_counts[0]);
  const std::size_t bytes = send_counts[0] * dtype_size(send.dtype);
  if (bytes > 0 && send.data != receive.data) std::memmove(receive.data, send.data, bytes);
}

void LocalCommunicator::abort(int exit_code) {
  // The only rank is this one: ending the process ends the job. Like MPI_Abort, skip static
  // destructors (other threads may still run), but keep what was already logged.
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

}  // namespace fedvlm::comm
