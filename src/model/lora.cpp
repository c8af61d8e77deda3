#include "fedvlm/model/lora.hpp"

#include "fedvlm/core/error.hpp"

namespace fedvlm::model {

torch::Tensor dropout_from(const torch::Tensor& x, double p, bool training, at::Generator& generator) {
  if (!training || p <= 0.0) return x;
  const double keep = 1.0 - p;
  auto mask = torch::empty_like(x, x.options().requires_grad(false)).bernoulli_(keep, generator);
  return x * mask / keep;
}

LoraLinearImpl::LoraLinearImpl(std::int64_t in_features, std::int64_t out_features, LoraSettings settings,
                               std::shared_ptr<at::Generator> dropout_generator)
    : settings_(settings), dropout_generator_(std::move(dropout_generator)) {
  base = register_module("base", torch::nn::Linear(torch::nn::LinearOptions(in_features, out_features).bias(false)));
  if (has_adapter()) {
    lora_a = register_parameter("lora_a", torch::zeros({settings.rank, in_features}));
    lora_b = register_parameter("lora_b", torch::zeros({out_features, settings.rank}));
  }
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  auto y = base->forward(x);
  if (!has_adapter() || merged_) return y;
  auto h = dropout_from(x, settings_.dropout, is_training(), *dropout_generator_);
  // x A^T B^T: two thin matmuls instead of materializing B A.
  return y + torch::matmul(torch::matmul(h, lora_a.t()), lora_b.t()) * scale();
}

void LoraLinearImpl::merge() {
  if (!has_adapter() || merged_) return;
  torch::NoGradGuard no_grad;
  base->weight.add_(torch::matmul(lora_b, lora_a) * scale());
  merged_ = true;
}

void LoraLinearImpl::unmerge() {
  if (!has_adapter() || !merged_) return;
  torch::NoGradGuard no_grad;
  base->weight.sub_(torch::matmul(lora_b, lora_a) * scale());
  merged_ = false;
}

}  // namespace fedvlm::model
