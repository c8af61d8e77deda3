// FedProx (Li et al. 2020): each client minimizes loss + (μ/2)‖y − x‖², i.e. its gradient gains
// μ(y − x); the server aggregates as FedAvg.
#include "base.hpp"

namespace fedvlm::fl {
namespace {

class ProximalClientUpdate final : public detail::PlainClientUpdate {
 public:
  ProximalClientUpdate(const FlConfig& config, ClientContext context, std::int64_t length, double mu)
      : PlainClientUpdate(config, std::move(context), length), mu_(mu) {}

  bool adjusts_gradient() const override { return true; }
  void adjust_gradient(torch::Tensor& flat_grad, const torch::Tensor& flat_params) override {
    flat_grad.add_(flat_params - context_.global, mu_);
  }

 private:
  double mu_;
};

class FedProx final : public detail::AlgorithmBase {
 public:
  explicit FedProx(const Config& config) : AlgorithmBase(config), mu_(config.get<double>("fl.prox_mu")) {}
  std::string name() const override { return "fedprox"; }

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    check_context(context);
    return std::make_unique<ProximalClientUpdate>(config_, context, length_, mu_);
  }

  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override {
    check_global(x, "server_update");
    x.add_(mean_delta(reduced, round), config_.server_lr);
  }

 private:
  double mu_;
};

}  // namespace

AlgorithmSpec fedprox_spec() {
  return {
      .name = "fedprox",
      .doc = "FedProx (Li et al. 2020): clients add (mu/2) ‖y − x‖² to their loss; the server step is FedAvg's.",
      .parameters = {{.key = "fl.prox_mu",
                      .default_value = 0.01,
                      .doc = "Proximal coefficient mu.",
                      .limits = {.min = 0}}},
      .make = [](const Config& config, std::int64_t) { return std::make_unique<FedProx>(config); },
  };
}

}  // namespace fedvlm::fl
