// FedYogi (Reddi et al. 2021, Algorithm 2): the Yogi second moment v ← v − (1 − β₂)·Δ²·sign(v − Δ²); see adaptive.hpp.
#include "adaptive.hpp"

namespace fedvlm::fl {
namespace {

class FedYogi final : public detail::AdaptiveAlgorithm {
 public:
  explicit FedYogi(const Config& config) : AdaptiveAlgorithm(config), beta2_(config.get<double>("fl.beta2")) {}
  std::string name() const override { return "fedyogi"; }

 protected:
  void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const override {
    const torch::Tensor squared = delta * delta;
    v.sub_(squared * torch::sign(v - squared), 1.0 - beta2_);
  }

 private:
  double beta2_;
};

}  // namespace

AlgorithmSpec fedyogi_spec() {
  return detail::adaptive_spec("fedyogi", "FedYogi (Reddi et al. 2021): server Yogi on the mean client delta.",
                               /*second_moment_decay=*/true,
                               [](const Config& config) { return std::make_unique<FedYogi>(config); });
}

}  // namespace fedvlm::fl
