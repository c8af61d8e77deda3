// NcclCommunicator: collectives on CUDA device buffers with NCCL, on the current CUDA stream of
// this rank's GPU (so they are ordered with the LibTorch kernels around them). An MPI
// communicator underneath carries the NCCL id at start-up, the barrier, and host buffers.
// Each rank binds to GPU cuda_device_for(node_local_rank(), GPUs it sees) (communicator.hpp), the
// GPU sim::choose_device puts its model on.
// CUDA builds with NCCL only: the factory creates it under FEDVLM_HAVE_NCCL.
#pragma once

#include <memory>

#include <nccl.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/comm/mpi_communicator.hpp"

namespace fedvlm::comm {

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(std::unique_ptr<MpiCommunicator> mpi);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  std::string backend() const override { return "nccl"; }
  bool accepts_device_buffers() const override { return true; }

  void allreduce(Buffer buffer, ReduceOp op) override;
  void reduce(Buffer buffer, ReduceOp op, int root) override;
  void broadcast(Buffer buffer, int root) override;
  void allgather(Buffer send, Buffer receive) override;
  void alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                 std::span<const std::size_t> receive_counts) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;

  int device() const { return device_; }

 private:
  void check_on_my_device(const Buffer& buffer, const char* operation) const;

  std::unique_ptr<MpiCommunicator> mpi_;
  ncclComm_t comm_ = nullptr;
  int device_ = 0;
};

}  // namespace fedvlm::comm
