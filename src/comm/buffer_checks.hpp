// Argument checks shared by the backends, so that every backend rejects a bad call with the
// same message (what, which backend, the values).
#pragma once

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::comm::detail {

void check_root(const Communicator& comm, int root, const char* operation);
void check_host(const Communicator& comm, const Buffer& buffer, const char* operation);
// receive must hold size() * send.count elements of send's dtype.
void check_allgather_buffers(const Communicator& comm, const Buffer& send, const Buffer& receive);
// Spans of size() counts whose sums fit the buffers, equal dtypes.
void check_alltoallv_buffers(const Communicator& comm, const Buffer& send, std::span<const std::size_t> send_counts,
                             const Buffer& receive, std::span<const std::size_t> receive_counts);
// Records that this process joined a job of several MPI ranks (what abort_world needs to know).
void note_world_joined();
// Records this process's rank among the ranks of its node (what node_local_rank() returns).
void note_node_rank(int rank);

}  // namespace fedvlm::comm::detail
