// ClientStack: K clients training in one forward and backward pass (run.batched_clients).
//
// The clients' batches are concatenated along the batch dimension, client 0's rows first. The
// frozen parts of the model (vision encoder, decoder base) run once over all rows. Each trained
// tensor of shape S is read from a [K, S] view of the clients' flat vectors Y [K, n] (row k:
// client k's copy of the trainable set, in the set's order), and applied per client as a
// batched matrix product over that client's rows. Since client k's tensors touch only its own
// rows and the loss is the sum of the clients' mean losses, the gradient Y.grad[k] is client
// k's gradient training alone.
//
// Use: stack.bind(Y); model.set_client_stack(&stack); per step: stack.set_layout(...),
// stack.zero_grads(), model.client_losses(batch) and backward, stack.gather_grads(G) gives
// G [K, n], then step Y. The stack holds no model state and is not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/model/strategy.hpp"

namespace fedvlm::model {

// Dropout masks, the same on every device and for a client alone or in a stack. Each dropout
// call takes one 64-bit key from the client's stream (its at::Generator); element i of the
// client's own [rows, length, features] mask (row-major) is kept when the top 24 bits of
// splitmix64(key + (i + 1) * golden ratio) fall below keep * 2^24. Kept elements hold 1 / keep,
// dropped ones 0, so the dropout is x * mask.
//
// One call for a stack: row block c (rows[c] rows, client c's, keyed keys[c]) is masked as its
// client's [rows[c], lengths[c], features] mask; positions from lengths[c] to `length` are 1.
// On the CPU a loop fills the mask; elsewhere tensor operations compute the same values
// (`tensor_ops` forces them, so that tests can compare the two).
torch::Tensor dropout_mask(std::span<const std::uint64_t> keys, std::span<const std::int64_t> rows,
                           std::span<const std::int64_t> lengths, std::int64_t length, std::int64_t features,
                           double keep, const torch::TensorOptions& options, bool tensor_ops = false);
// The next key of a client's dropout stream.
std::uint64_t next_dropout_key(at::Generator& generator);

class ClientStack {
 public:
  // Stacks every tensor of `trainable` for `clients` clients.
  ClientStack(const TrainableSet& trainable, std::int64_t clients);

  std::int64_t clients() const { return clients_; }

  // The concatenated batch of one step: client k has rows[k] rows (at least one), its own
  // sequence length lengths[k] (image + text tokens of its batch alone; the concatenated batch
  // pads to the longest) and its dropout stream generators[k].
  void set_layout(std::span<const std::int64_t> rows, std::span<const std::int64_t> lengths,
                  std::span<at::Generator> generators, torch::Device device);
  // Reads the stacked tensors from `values` [K, n]: each is a leaf sharing that memory (a step
  // of `values` moves it) with a gradient of its own. (Not differentiable views of one leaf:
  // each view's backward would write a whole [K, n] gradient, one per tensor.)
  void bind(const torch::Tensor& values);
  void zero_grads();
  // Writes every stacked tensor's gradient (zero where none flowed) into `grads` [K, n].
  void gather_grads(torch::Tensor& grads) const;

  // The dropout streams of the current layout, one per client (empty before set_layout).
  std::span<at::Generator> generators() const {
    return {generators_, generators_ != nullptr ? static_cast<std::size_t>(clients_) : 0};
  }

  // The [K, S] view that stands for `parameter`, or an undefined tensor when it is not stacked
  // (frozen: shared by every client).
  torch::Tensor find(const torch::Tensor& parameter) const;

  // x [B, ..., in] (the concatenated batch) times each client's weight [K, out, in] transposed,
  // plus its bias [K, out] when defined: [B, ..., out].
  torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {}) const;
  // Dropout of x [B, L, features] with each client's rows masked from its own stream (see
  // dropout_mask); positions past a client's own length are left as they are.
  torch::Tensor dropout(const torch::Tensor& x, double p) const;
  // Per-client means of `values` [M], value m belonging to row rows[m]: [K].
  torch::Tensor client_means(const torch::Tensor& values, const torch::Tensor& rows) const;

 private:
  struct Slot {
    std::int64_t offset = 0, numel = 0;
    std::vector<std::int64_t> shape;  // [K, S...]
  };
  std::int64_t clients_;
  std::int64_t length_ = 0;                              // n
  std::unordered_map<const void*, Slot> slots_;          // by the parameter's TensorImpl
  std::unordered_map<const void*, torch::Tensor> views_;  // [K, S] leaves over the bound values
  std::vector<std::int64_t> rows_, lengths_;
  std::int64_t equal_rows_ = 0;   // every client's row count when they are equal, else 0
  torch::Tensor row_client_;      // int64 [B]: the client of each row
  at::Generator* generators_ = nullptr;
};

}  // namespace fedvlm::model
