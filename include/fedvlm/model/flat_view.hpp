// The flat view of a trainable set: its parameters (or gradients) copied to and from one
// contiguous 1-D tensor, in the set's order. This vector is what clients send and the server
// updates; the round trip is bit-exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/model/strategy.hpp"

namespace fedvlm::model {

class VisionLanguageModel;

std::int64_t flat_numel(const std::vector<torch::Tensor>& parameters);

// A new 1-D tensor (the parameters' dtype and device) holding every value, in order.
torch::Tensor flatten_values(const std::vector<torch::Tensor>& parameters);
// Copies `flat` into the parameters (outside autograd). Throws if the size differs.
void assign_values(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat);

// Gradients likewise; a parameter without a gradient contributes zeros.
torch::Tensor flatten_grads(const std::vector<torch::Tensor>& parameters);
void assign_grads(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat);

// "parameters: total 1.23M, trainable 45.6K (3.7%), communicated per round 45.6K (182 KB fp32)"
// plus one line per group.
std::string describe_parameters(VisionLanguageModel& model, const TrainableSet& trainable);

}  // namespace fedvlm::model
