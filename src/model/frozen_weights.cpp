#include "fedvlm/model/frozen_weights.hpp"

#include <set>

#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

namespace {

std::int64_t bytes_of(const torch::Tensor& t) { return t.numel() * static_cast<std::int64_t>(t.element_size()); }

}  // namespace

FrozenStorage store_frozen_weights(VisionLanguageModel& model, const TrainableSet& ever_trained, torch::Dtype dtype) {
  std::set<const void*> trained;
  for (const torch::Tensor& p : ever_trained.parameters) trained.insert(p.unsafeGetTensorImpl());
  const auto is_trained = [&](const torch::Tensor& p) { return trained.count(p.unsafeGetTensorImpl()) > 0; };

  FrozenStorage storage;
  torch::NoGradGuard no_grad;
  const auto narrow = [&](torch::Tensor parameter) {
    if (parameter.scalar_type() == dtype) return;
    storage.tensors += 1;
    storage.bytes_before += bytes_of(parameter);
    parameter.set_data(parameter.to(dtype));
    storage.bytes_after += bytes_of(parameter);
  };
  const ParameterGroups groups = model.parameter_groups();
  // The tower runs in one type: all of it, or none when any part of it trains.
  bool tower_trains = false;
  for (const auto& [name, parameter] : groups.vision) tower_trains |= is_trained(parameter);
  if (!tower_trains)
    for (const auto& [name, parameter] : groups.vision) narrow(parameter);
  for (const auto& [name, parameter] : groups.decoder)
    if (parameter.dim() >= 2 && !is_trained(parameter)) narrow(parameter);
  return storage;
}

torch::Tensor linear_in_weight_type(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  namespace F = torch::nn::functional;
  if (x.scalar_type() == weight.scalar_type() && (!bias.defined() || bias.scalar_type() == weight.scalar_type()))
    return F::linear(x, weight, bias);
  const torch::Tensor b = bias.defined() ? bias.to(weight.scalar_type()) : bias;
  return F::linear(x.to(weight.scalar_type()), weight, b).to(x.scalar_type());
}

}  // namespace fedvlm::model
