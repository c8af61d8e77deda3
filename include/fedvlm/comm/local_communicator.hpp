// LocalCommunicator: a world of one rank. Reductions and broadcasts are the identity, allgather
// is a copy; argument checks are the same as every other backend's.
#pragma once

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::comm {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }

  void allreduce(Buffer buffer, ReduceOp op) override;
  void reduce(Buffer buffer, ReduceOp op, int root) override;
  void broadcast(Buffer buffer, int root) override;
  void allgather(Buffer send, Buffer receive) override;
  void alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                 std::span<const std::size_t> receive_counts) override;
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override;
};

}  // namespace fedvlm::comm
