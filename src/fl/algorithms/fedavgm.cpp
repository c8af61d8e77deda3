// FedAvgM (Hsu et al. 2019): server momentum on the averaged update. v ← β·v + Δ; x ← x + η_g·v,
// with v₀ = 0 and β = fl.server_momentum.
#include "base.hpp"

namespace fedvlm::fl {
namespace {

class FedAvgM final : public detail::AlgorithmBase {
 public:
  explicit FedAvgM(const Config& config)
      : AlgorithmBase(config), momentum_(config.get<double>("fl.server_momentum")) {}
  std::string name() const override { return "fedavgm"; }

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    check_context(context);
    return std::make_unique<detail::PlainClientUpdate>(config_, context, length_);
  }

  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override {
    check_global(x, "server_update");
    velocity_.mul_(momentum_).add_(mean_delta(reduced, round));
    x.add_(velocity_, config_.server_lr);
  }

 private:
  void reset_state() override { velocity_ = torch::zeros({length_}, torch::TensorOptions().device(device_)); }
  void save_state(TensorMap& state) const override { detail::put_state(state, "server_velocity", velocity_); }
  void load_state(const TensorMap& state) override { detail::take_state(state, "server_velocity", velocity_); }

  double momentum_;  // β
  torch::Tensor velocity_;
};

}  // namespace

AlgorithmSpec fedavgm_spec() {
  return {
      .name = "fedavgm",
      .doc = "FedAvgM (Hsu et al. 2019): server momentum, v <- beta v + delta; x <- x + fl.server_lr * v.",
      .parameters = {{.key = "fl.server_momentum",
                      .default_value = 0.9,
                      .doc = "Server momentum beta.",
                      .limits = {.min = 0, .max = 1}}},
      .make = [](const Config& config, std::int64_t) { return std::make_unique<FedAvgM>(config); },
  };
}

}  // namespace fedvlm::fl
