#include "fedvlm/model/lora.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/client_stack.hpp"
#include "fedvlm/model/frozen_weights.hpp"

namespace fedvlm::model {

LoraLinearImpl::LoraLinearImpl(std::int64_t in_features, std::int64_t out_features, LoraSettings settings,
                               std::shared_ptr<ForwardState> state, bool bias)
    : settings_(settings), state_(std::move(state)) {
  base = register_module("base", torch::nn::Linear(torch::nn::LinearOptions(in_features, out_features).bias(bias)));
  if (has_adapter()) {
    lora_a = register_parameter("lora_a", torch::zeros({settings.rank, in_features}));
    lora_b = register_parameter("lora_b", torch::zeros({out_features, settings.rank}));
  }
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  auto y = linear_in_weight_type(x, base->weight, base->bias);  // a bf16 frozen W (model.frozen_dtype) too
  if (!has_adapter() || merged_) return y;
  auto h = dropout_from(x, settings_.dropout, is_training(), *state_);
  if (const ClientStack* clients = state_->clients) {
    if (const auto a = clients->find(lora_a); a.defined()) {  // each client's rows through its own A and B
      return y + clients->linear(clients->linear(h, a), clients->find(lora_b)) * scale();
    }
  }
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
