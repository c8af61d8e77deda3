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

std::unique_ptr<Algorithm> make_fedadagrad(const FlConfig& config, std::int64_t) {
  return std::make_unique<FedAdagrad>(config);
}

}  // namespace fedvlm::fl
