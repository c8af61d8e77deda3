// FedAvg (McMahan et al. 2017), with a server learning rate: x ← x + η_g·Δ, Δ = Σ pᵢ(yᵢ − x).
#include "base.hpp"

namespace fedvlm::fl {
namespace {

class FedAvg final : public detail::AlgorithmBase {
 public:
  using AlgorithmBase::AlgorithmBase;
  std::string name() const override { return "fedavg"; }

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    check_context(context);
    return std::make_unique<detail::PlainClientUpdate>(config_, context, length_);
  }

  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override {
    check_global(x, "server_update");
    x.add_(mean_delta(reduced, round), config_.server_lr);
  }
};

}  // namespace

AlgorithmSpec fedavg_spec() {
  return {
      .name = "fedavg",
      .doc = "FedAvg (McMahan et al. 2017): plain local steps; x <- x + fl.server_lr * mean client delta.",
      .make = [](const Config& config, std::int64_t) { return std::make_unique<FedAvg>(config); },
  };
}

}  // namespace fedvlm::fl
