// FedAdam (Reddi et al. 2021, Algorithm 2): the Adam second moment v ← β₂·v + (1 − β₂)·Δ²; see adaptive.hpp.
#include "adaptive.hpp"

namespace fedvlm::fl {
namespace {

class FedAdam final : public detail::AdaptiveAlgorithm {
 public:
  using AdaptiveAlgorithm::AdaptiveAlgorithm;
  std::string name() const override { return "fedadam"; }

 protected:
  void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const override {
    v.mul_(config_.beta2).addcmul_(delta, delta, 1.0 - config_.beta2);
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_fedadam(const FlConfig& config, std::int64_t) {
  return std::make_unique<FedAdam>(config);
}

}  // namespace fedvlm::fl
