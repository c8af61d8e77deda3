// Argument checks shared by the backends, so that every backend rejects a bad call with the
// same message (what, which backend, the values).
#pragma once

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::comm::detail {

void check_root(const Communicator& comm, int root, const char* operation);
void check_host(const Communicator& comm, const Buffer& buffer, const char* operation);
// receive must hold size() * send.count elements of send's dtype.
void check_allgather_buffers(const Communicator& comm, const Buffer& send, const Buffer& receive);
// Records that this process joined a job of several MPI ranks (what abort_world needs to know).
void note_world_joined();

}  // namespace fedvlm::comm::detail
