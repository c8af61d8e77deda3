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

}  // namespace fedvlm::comm
