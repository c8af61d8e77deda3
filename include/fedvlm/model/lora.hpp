// LoRA (Hu et al. 2021): a frozen linear map W plus a trainable low-rank update
// (alpha / rank) * B A, with A [rank, in] random and B [out, rank] zero, so a fresh adapter
// changes nothing. Every decoder projection is a LoraLinear; those not named in
// lora.targets (or with rank 0) carry no adapter and behave as a plain Linear (bias-free unless
// asked: some pretrained decoders have biases on q/k/v; the adapter adds to W x + b).
// While a ClientStack stacks this adapter, each client's rows go through that client's A and B.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/torch.h>

#include "fedvlm/model/forward_state.hpp"

namespace fedvlm::model {

struct LoraSettings {
  std::int64_t rank = 0;  // 0: no adapter
  double alpha = 0.0;
  double dropout = 0.0;
};

class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(std::int64_t in_features, std::int64_t out_features, LoraSettings settings,
                 std::shared_ptr<ForwardState> state, bool bias = false);

  torch::Tensor forward(const torch::Tensor& x);

  bool has_adapter() const { return settings_.rank > 0; }
  bool merged() const { return merged_; }
  // W += scale * B A (and back). While merged, forward uses W alone.
  void merge();
  void unmerge();
  double scale() const { return settings_.alpha / static_cast<double>(settings_.rank); }

  torch::nn::Linear base{nullptr};
  torch::Tensor lora_a;  // [rank, in]
  torch::Tensor lora_b;  // [out, rank]

 private:
  LoraSettings settings_;
  std::shared_ptr<ForwardState> state_;
  bool merged_ = false;
};
TORCH_MODULE(LoraLinear);

}  // namespace fedvlm::model
