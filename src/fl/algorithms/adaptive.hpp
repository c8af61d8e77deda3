// The adaptive server optimizers of Reddi et al. 2021, "Adaptive Federated Optimization",
// Algorithm 2 (no bias correction):
//   m ← β₁·m + (1 − β₁)·Δ
//   v ← second-moment rule of the subclass (Adagrad, Adam or Yogi)
//   x ← x + η·m / (√v + τ)
// with m₀ = 0 and v₀ = τ² (the paper requires v₋₁ ≥ τ²). η = fl.server_lr, β₁ = fl.beta1,
// β₂ = fl.beta2 (FedAdam, FedYogi), τ = fl.tau: the family's keys, declared once here.
#pragma once

#include "base.hpp"

namespace fedvlm::fl::detail {

class AdaptiveAlgorithm : public AlgorithmBase {
 public:
  explicit AdaptiveAlgorithm(const Config& config);

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override;
  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override;

 protected:
  // v ← the new second moment, given the aggregate Δ.
  virtual void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const = 0;

  double beta1_;  // β₁
  double tau_;    // τ

 private:
  void reset_state() override;
  void save_state(TensorMap& state) const override;
  void load_state(const TensorMap& state) override;

  torch::Tensor first_moment_;   // m
  torch::Tensor second_moment_;  // v
};

// The spec of a member of the family: β₁ and τ (and β₂ when it has a second-moment decay), and
// fl.server_lr = 0.01 when set nowhere: the adaptive steps are about η per coordinate, and
// Reddi et al. 2021 tune η around 10⁻².
AlgorithmSpec adaptive_spec(std::string name, std::string doc, bool second_moment_decay,
                            std::function<std::unique_ptr<Algorithm>(const Config&)> make);

}  // namespace fedvlm::fl::detail
