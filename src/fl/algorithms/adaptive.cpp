#include "adaptive.hpp"

namespace fedvlm::fl::detail {

AdaptiveAlgorithm::AdaptiveAlgorithm(const FlConfig& config) : AlgorithmBase(config) {
  check_range("fl.beta1", config.beta1, 0.0, 1.0);
  check_range("fl.beta2", config.beta2, 0.0, 1.0);
  check_range("fl.tau", config.tau, 0.0, INFINITY, /*open_low=*/true);
}

std::unique_ptr<ClientUpdate> AdaptiveAlgorithm::begin_client(const ClientContext& context) {
  check_context(context);
  return std::make_unique<PlainClientUpdate>(config_, context, length_);
}

void AdaptiveAlgorithm::server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) {
  check_global(x, "server_update");
  const torch::Tensor delta = mean_delta(reduced, round);
  first_moment_.mul_(config_.beta1).add_(delta, 1.0 - config_.beta1);
  update_second_moment(second_moment_, delta);
  x.addcdiv_(first_moment_, second_moment_.sqrt().add_(config_.tau), config_.server_lr);
}

void AdaptiveAlgorithm::reset_state() {
  const auto options = torch::TensorOptions().device(device_);
  first_moment_ = torch::zeros({length_}, options);
  second_moment_ = torch::full({length_}, config_.tau * config_.tau, options);
}

void AdaptiveAlgorithm::save_state(TensorMap& state) const {
  put_state(state, "server_first_moment", first_moment_);
  put_state(state, "server_second_moment", second_moment_);
}

void AdaptiveAlgorithm::load_state(const TensorMap& state) {
  take_state(state, "server_first_moment", first_moment_);
  take_state(state, "server_second_moment", second_moment_);
}

}  // namespace fedvlm::fl::detail
