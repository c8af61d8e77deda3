// The adaptive server optimizers of Reddi et al. 2021, "Adaptive Federated Optimization",
// Algorithm 2 (no bias correction):
//   m ← β₁·m + (1 − β₁)·Δ
//   v ← second-moment rule of the subclass (Adagrad, Adam or Yogi)
//   x ← x + η·m / (√v + τ)
// with m₀ = 0 and v₀ = τ² (the paper requires v₋₁ ≥ τ²). η = fl.server_lr, β₁ = fl.beta1,
// β₂ = fl.beta2, τ = fl.tau.
#pragma once

#include "base.hpp"

namespace fedvlm::fl::detail {

class AdaptiveAlgorithm : public AlgorithmBase {
 public:
  explicit AdaptiveAlgorithm(const FlConfig& config);

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override;
  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override;

 protected:
  // v ← the new second moment, given the aggregate Δ.
  virtual void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const = 0;

 private:
  void reset_state() override;
  void save_state(TensorMap& state) const override;
  void load_state(const TensorMap& state) override;

  torch::Tensor first_moment_;   // m
  torch::Tensor second_moment_;  // v
};

}  // namespace fedvlm::fl::detail
