// FedYogi (Reddi et al. 2021, Algorithm 2): the Yogi second moment v ← v − (1 − β₂)·Δ²·sign(v − Δ²); see adaptive.hpp.
#include "adaptive.hpp"

namespace fedvlm::fl {
namespace {

class FedYogi final : public detail::AdaptiveAlgorithm {
 public:
  using AdaptiveAlgorithm::AdaptiveAlgorithm;
  std::string name() const override { return "fedyogi"; }

 protected:
  void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const override {
    const torch::Tensor squared = delta * delta;
    v.sub_(squared * torch::sign(v - squared), 1.0 - config_.beta2);
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_fedyogi(const FlConfig& config, std::int64_t) {
  return std::make_unique<FedYogi>(config);
}

}  // namespace fedvlm::fl
