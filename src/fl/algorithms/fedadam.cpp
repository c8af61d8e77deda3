// FedAdam (Reddi et al. 2021, Algorithm 2): the Adam second moment v ← β₂·v + (1 − β₂)·Δ²; see adaptive.hpp.
#include "adaptive.hpp"

namespace fedvlm::fl {
namespace {

class FedAdam final : public detail::AdaptiveAlgorithm {
 public:
  explicit FedAdam(const Config& config) : AdaptiveAlgorithm(config), beta2_(config.get<double>("fl.beta2")) {}
  std::string name() const override { return "fedadam"; }

 protected:
  void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const override {
    v.mul_(beta2_).addcmul_(delta, delta, 1.0 - beta2_);
  }

 private:
  double beta2_;
};

}  // namespace

AlgorithmSpec fedadam_spec() {
  return detail::adaptive_spec("fedadam", "FedAdam (Reddi et al. 2021): server Adam (no bias correction) on the mean "
                               "client delta.",
                               /*second_moment_decay=*/true,
                               [](const Config& config) { return std::make_unique<FedAdam>(config); });
}

}  // namespace fedvlm::fl
