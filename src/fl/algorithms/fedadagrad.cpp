// FedAdagrad (Reddi et al. 2021, Algorithm 2): the Adagrad second moment v ← v + Δ²; see adaptive.hpp.
#include "adaptive.hpp"

namespace fedvlm::fl {
namespace {

class FedAdagrad final : public detail::AdaptiveAlgorithm {
 public:
  using AdaptiveAlgorithm::AdaptiveAlgorithm;
  std::string name() const override { return "fedadagrad"; }

 protected:
  void update_second_moment(torch::Tensor& v, const torch::Tensor& delta) const override {
    v.addcmul_(delta, delta);
  }
};

}  // namespace

AlgorithmSpec fedadagrad_spec() {
  return detail::adaptive_spec("fedadagrad", "FedAdagrad (Reddi et al. 2021): server Adagrad on the mean client delta.",
                               /*second_moment_decay=*/false,
                               [](const Config& config) { return std::make_unique<FedAdagrad>(config); });
}

}  // namespace fedvlm::fl
