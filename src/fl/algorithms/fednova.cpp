// FedNova (Wang et al. 2020, "Tackling the Objective Inconsistency Problem in Heterogeneous
// Federated Optimization"), normalized averaging for clients running τᵢ plain SGD steps
// (‖aᵢ‖₁ = τᵢ):
//   x ← x + η_g·τ_eff·Σ pᵢ·Δᵢ/τᵢ,   τ_eff = Σ pᵢ·τᵢ,   pᵢ = wᵢ/Σ wⱼ.
// A client with τᵢ = 0 has Δᵢ = 0 and adds nothing to the normalized sum (Δᵢ/τᵢ := 0).
#include "base.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::string_view kWeightedStepsSegment = "weighted_steps";      // [1] Σ wᵢ·τᵢ
constexpr std::string_view kNormalizedDeltaSegment = "normalized_delta";  // [n] Σ wᵢ·Δᵢ/τᵢ

class NormalizedClientUpdate final : public detail::PlainClientUpdate {
 public:
  using PlainClientUpdate::PlainClientUpdate;

  void finish(const ClientOutcome& outcome, Accumulator& accumulator) override {
    const double weight = fold_delta(outcome, accumulator);
    accumulator.add_scalar(kWeightedStepsSegment, weight * static_cast<double>(outcome.steps));
    if (outcome.steps > 0) {
      accumulator.add_difference(kNormalizedDeltaSegment, outcome.params, context_.global,
                                 weight / static_cast<double>(outcome.steps));
    }
  }
};

class FedNova final : public detail::AlgorithmBase {
 public:
  using AlgorithmBase::AlgorithmBase;
  std::string name() const override { return "fednova"; }

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    check_context(context);
    return std::make_unique<NormalizedClientUpdate>(config_, context, length_);
  }

  Accumulator make_accumulator() const override {
    FEDVLM_CHECK(length_ > 0, "fednova: reset(n) must run before make_accumulator()");
    auto layout = standard_layout(length_);
    layout.push_back({std::string(kWeightedStepsSegment), 1});
    layout.push_back({std::string(kNormalizedDeltaSegment), length_});
    return Accumulator(std::move(layout), device_);
  }

  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override {
    check_global(x, "server_update");
    check_cohort(reduced, round);
    const double weight = reduced.total_weight();
    const double effective_steps = reduced.scalar(kWeightedStepsSegment) / weight;
    const torch::Tensor normalized = reduced.segment(kNormalizedDeltaSegment) / weight;
    x.add_(normalized.to(device_, torch::kFloat32), config_.server_lr * effective_steps);
  }
};

}  // namespace

AlgorithmSpec fednova_spec() {
  return {
      .name = "fednova",
      .doc = "FedNova (Wang et al. 2020): client deltas normalized by their local step counts.",
      .make = [](const Config& config, std::int64_t) { return std::make_unique<FedNova>(config); },
  };
}

}  // namespace fedvlm::fl
