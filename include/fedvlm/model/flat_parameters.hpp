// FlatParameters: a trainable set whose parameters are views of one flat tensor, and whose
// gradients are views of one flat gradient tensor (the flat-buffer layout DDP and FSDP use).
// Loading x into the model and reading y back are one copy each; the gradient is zeroed,
// adjusted by the algorithm and clipped as one vector; the optimizer steps one tensor. The
// values are the model's parameters (the same memory), so evaluation, assign_values and
// checkpoints see them as before. The layout is flatten_values' order.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace fedvlm::model {

class FlatParameters {
 public:
  // Makes `parameters` views of this object's buffers, their current values copied in, unless
  // they are bound already: the same tensors, none of whose storage or gradient was replaced
  // since (anything that set_data's a parameter or resets its gradient is noticed here).
  // Returns true when it (re)bound: the buffers are new tensors then.
  bool bind(const std::vector<torch::Tensor>& parameters);

  // The flat values (a leaf; its grad() is grads()) and the flat gradient. Undefined until bind.
  const torch::Tensor& values() const { return values_; }
  const torch::Tensor& grads() const { return grads_; }

 private:
  bool bound_to(const std::vector<torch::Tensor>& parameters) const;

  std::vector<torch::Tensor> parameters_;
  torch::Tensor values_, grads_;
};

}  // namespace fedvlm::model
