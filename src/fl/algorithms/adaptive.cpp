#include "adaptive.hpp"

namespace fedvlm::fl::detail {

AdaptiveAlgorithm::AdaptiveAlgorithm(const Config& config)
    : AlgorithmBase(config), beta1_(config.get<double>("fl.beta1")), tau_(config.get<double>("fl.tau")) {}

std::unique_ptr<ClientUpdate> AdaptiveAlgorithm::begin_client(const ClientContext& context) {
  check_context(context);
  return std::make_unique<PlainClientUpdate>(config_, context, length_);
}

void AdaptiveAlgorithm::server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) {
  check_global(x, "server_update");
  const torch::Tensor delta = mean_delta(reduced, round);
  first_moment_.mul_(beta1_).add_(delta, 1.0 - beta1_);
  update_second_moment(second_moment_, delta);
  x.addcdiv_(first_moment_, second_moment_.sqrt().add_(tau_), config_.server_lr);
}

void AdaptiveAlgorithm::reset_state() {
  const auto options = torch::TensorOptions().device(device_);
  first_moment_ = torch::zeros({length_}, options);
  second_moment_ = torch::full({length_}, tau_ * tau_, options);
}

void AdaptiveAlgorithm::save_state(TensorMap& state) const {
  put_state(state, "server_first_moment", first_moment_);
  put_state(state, "server_second_moment", second_moment_);
}

void AdaptiveAlgorithm::load_state(const TensorMap& state) {
  take_state(state, "server_first_moment", first_moment_);
  take_state(state, "server_second_moment", second_moment_);
}

AlgorithmSpec adaptive_spec(std::string name, std::string doc, bool second_moment_decay,
                            std::function<std::unique_ptr<Algorithm>(const Config&)> make) {
  std::vector<ConfigParameter> parameters = {
      {.key = "fl.beta1", .default_value = 0.9, .doc = "First-moment decay beta1.", .limits = {.min = 0, .max = 1}},
      {.key = "fl.tau",
       .default_value = 1e-3,
       .doc = "Adaptivity tau (v starts at tau^2).",
       .limits = {.min = 0, .min_exclusive = true}},
  };
  if (second_moment_decay)
    parameters.push_back(
        {.key = "fl.beta2", .default_value = 0.99, .doc = "Second-moment decay beta2.", .limits = {.min = 0, .max = 1}});
  return {
      .name = std::move(name),
      .doc = std::move(doc),
      .parameters = std::move(parameters),
      .shared_defaults = {{"fl.server_lr", 0.01}},
      .make = [make = std::move(make)](const Config& config, std::int64_t) { return make(config); },
  };
}

}  // namespace fedvlm::fl::detail
