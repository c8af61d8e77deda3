#include "base.hpp"

#include <sstream>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::fl::detail {

std::string describe(const torch::Tensor& tensor) {
  if (!tensor.defined()) return "an undefined tensor";
  std::ostringstream text;
  text << c10::toString(tensor.scalar_type()) << " " << tensor.sizes();
  return text.str();
}

PlainClientUpdate::PlainClientUpdate(const FlConfig& config, ClientContext context, std::int64_t length)
    : config_(config), context_(std::move(context)), length_(length) {}

void PlainClientUpdate::finish(const ClientOutcome& outcome, Accumulator& accumulator) {
  fold_delta(outcome, accumulator);
}

double PlainClientUpdate::fold_delta(const ClientOutcome& outcome, Accumulator& accumulator) const {
  FEDVLM_CHECK(outcome.params.defined() && outcome.params.dim() == 1 && outcome.params.numel() == length_,
               "client {} round {}: final parameters must be a flat vector of length {}, got shape {}",
               context_.client, context_.round, length_,
               describe(outcome.params));
  FEDVLM_CHECK(outcome.steps >= 0 && outcome.samples >= 0,
               "client {} round {}: negative steps ({}) or samples ({})", context_.client, context_.round,
               outcome.steps, outcome.samples);
  FEDVLM_CHECK(outcome.scale > 0.0 && outcome.scale <= 1.0, "client {} round {}: update scale {} is outside (0, 1]",
               context_.client, context_.round, outcome.scale);
  const double weight = client_weight(config_, outcome.samples);
  accumulator.add_difference(kDeltaSegment, outcome.params, context_.global, weight * outcome.scale);
  accumulator.add_scalar(kWeightSegment, weight);
  accumulator.add_scalar(kClientsSegment, 1.0);
  return weight;
}

torch::Tensor PlainClientUpdate::difference(const ClientOutcome& outcome, torch::Device device) const {
  // Both operands are float32, so their difference is exact in float64 (sub_ promotes x).
  return outcome.params.to(device, torch::kFloat64, /*non_blocking=*/false, /*copy=*/true)
      .sub_(context_.global.to(device));
}

AlgorithmBase::AlgorithmBase(const Config& config) : config_(config.fl) {}

void AlgorithmBase::reset(std::int64_t n, torch::Device device) {
  FEDVLM_CHECK(n > 0, "{}: the trainable vector must have a positive length, got {}", name(), n);
  length_ = n;
  device_ = device;
  reset_state();
}

Accumulator AlgorithmBase::make_accumulator() const {
  FEDVLM_CHECK(length_ > 0, "{}: reset(n) must run before make_accumulator()", name());
  return Accumulator(standard_layout(length_), device_);
}

TensorMap AlgorithmBase::state_dict() const {
  TensorMap state;
  state["length"] = torch::tensor({length_}, torch::kInt64);
  save_state(state);
  return state;
}

void AlgorithmBase::load_state_dict(const TensorMap& state) {
  const auto length = state.find("length");
  FEDVLM_CHECK(length != state.end(), "{} checkpoint state has no 'length' entry", name());
  const std::int64_t saved = length->second.item<std::int64_t>();
  FEDVLM_CHECK(saved == length_, "{} checkpoint state is for a trainable vector of length {}, this run has {}",
               name(), saved, length_);
  load_state(state);
}

void AlgorithmBase::check_global(const torch::Tensor& x, const char* where) const {
  FEDVLM_CHECK(length_ > 0, "{}: reset(n) must run before {}", name(), where);
  FEDVLM_CHECK(x.defined() && x.dim() == 1 && x.numel() == length_ && x.scalar_type() == torch::kFloat32,
               "{}: {} needs a flat float32 vector of length {}, got {}", name(), where, length_,
               describe(x));
}

void AlgorithmBase::check_context(const ClientContext& context) const {
  check_global(context.global, "begin_client");
  FEDVLM_CHECK(context.client >= 0 && context.round >= 0, "{}: bad client {} or round {}", name(), context.client,
               context.round);
}

void AlgorithmBase::check_cohort(const Accumulator& reduced, std::int64_t round) const {
  FEDVLM_CHECK(reduced.clients() > 0, "{} round {}: the reduced accumulator holds no clients", name(), round);
  const double weight = reduced.total_weight();
  FEDVLM_CHECK(weight > 0.0,
               "{} round {}: the cohort's total weight is {} (fl.weighting = \"{}\": every client has 0 samples?)",
               name(), round, weight, config_.weighting);
}

torch::Tensor AlgorithmBase::mean_delta(const Accumulator& reduced, std::int64_t round) const {
  check_cohort(reduced, round);
  const double weight = reduced.total_weight();
  return (reduced.segment(kDeltaSegment) / weight).to(device_, torch::kFloat32);
}

void put_state(TensorMap& state, const std::string& name, const torch::Tensor& tensor) {
  state[name] = tensor.detach().to(torch::kCPU).clone();
}

void take_state(const TensorMap& state, const std::string& name, torch::Tensor& target) {
  const auto found = state.find(name);
  FEDVLM_CHECK(found != state.end(), "checkpoint state has no '{}' entry", name);
  FEDVLM_CHECK(found->second.sizes() == target.sizes() && found->second.scalar_type() == target.scalar_type(),
               "checkpoint state '{}' is {}, expected {}", name, describe(found->second), describe(target));
  target.copy_(found->second);
}

}  // namespace fedvlm::fl::detail
