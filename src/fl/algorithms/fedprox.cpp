// FedProx (Li et al. 2020): each client minimizes loss + (μ/2)‖y − x‖², i.e. its gradient gains
// μ(y − x); the server aggregates as FedAvg.
#include "base.hpp"

namespace fedvlm::fl {
namespace {

class ProximalClientUpdate final : public detail::PlainClientUpdate {
 public:
  using PlainClientUpdate::PlainClientUpdate;

  bool adjusts_gradient() const override { return true; }
  void adjust_gradient(torch::Tensor& flat_grad, const torch::Tensor& flat_params) override {
    flat_grad.add_(flat_params - context_.global, config_.prox_mu);
  }
};

class FedProx final : public detail::AlgorithmBase {
 public:
  explicit FedProx(const FlConfig& config) : AlgorithmBase(config) {
    detail::check_range("fl.prox_mu", config.prox_mu, 0.0, INFINITY);
  }
  std::string name() const override { return "fedprox"; }

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    check_context(context);
    return std::make_unique<ProximalClientUpdate>(config_, context, length_);
  }

  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override {
    check_global(x, "server_update");
    x.add_(mean_delta(reduced, round), config_.server_lr);
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_fedprox(const FlConfig& config, std::int64_t) {
  return std::make_unique<FedProx>(config);
}

}  // namespace fedvlm::fl
