// MpiCommunicator: collectives over a duplicate of MPI_COMM_WORLD (so fedvlm's messages never
// mix with anyone else's), host buffers only. Errors come back as fedvlm::Error through
// FEDVLM_CHECK_MPI (MPI_ERRORS_RETURN), naming the call and the rank.
#pragma once

#include <mpi.h>

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::comm {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator();  // needs MPI initialized (comm::initialize under an MPI starter)
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce(Buffer buffer, ReduceOp op) override;
  void reduce(Buffer buffer, ReduceOp op, int root) override;
  void broadcast(Buffer buffer, int root) override;
  void allgather(Buffer send, Buffer receive) override;
  void alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                 std::span<const std::size_t> receive_counts) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;

  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

MPI_Datatype mpi_datatype(DType dtype);
MPI_Op mpi_op(ReduceOp op);

}  // namespace fedvlm::comm
