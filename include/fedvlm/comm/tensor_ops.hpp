// Collectives on torch tensors, over any Communicator. Tensors must be contiguous and of a
// supported dtype (float32, float64, int32, int64, uint8); a clear fedvlm::Error says otherwise.
// CUDA tensors go to the backend as device buffers when it accepts them (NCCL); otherwise they
// are staged through host memory (and not at all on a single rank, where every op is the identity).
#pragma once

#include <torch/types.h>

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::comm {

DType to_dtype(torch::ScalarType type);  // throws for unsupported types

// In place: every rank's tensor becomes the elementwise reduction over ranks.
void allreduce(Communicator& comm, torch::Tensor& tensor, ReduceOp op = ReduceOp::Sum);
// In place on `root`; the other ranks' tensors are left unspecified.
void reduce(Communicator& comm, torch::Tensor& tensor, ReduceOp op, int root);
// In place: every rank's tensor becomes `root`'s (same shape and dtype on every rank).
void broadcast(Communicator& comm, torch::Tensor& tensor, int root);
// Every rank's `send` (same shape on all ranks), stacked in rank order: shape [size, *send.shape].
torch::Tensor allgather(Communicator& comm, const torch::Tensor& send);
// Rows of a 2-D tensor [n, width] exchanged between ranks: the first send_rows[0] rows go to
// rank 0, the next send_rows[1] to rank 1, ...; returns [Σ receive_rows, width], the rows from
// rank 0 first. Every pair of ranks must agree on how many rows pass between them.
torch::Tensor alltoallv(Communicator& comm, const torch::Tensor& send, std::span<const std::int64_t> send_rows,
                        std::span<const std::int64_t> receive_rows);

}  // namespace fedvlm::comm
