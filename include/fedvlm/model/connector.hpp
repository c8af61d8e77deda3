// Connectors map vision features into the decoder's embedding space (LLaVA's projector types):
//   linear      Linear(vision_dim, dim)
//   mlpNx_gelu  Linear(vision_dim, dim) then (GELU, Linear(dim, dim)) x (N - 1), N = 2 or 6
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace fedvlm::model {

class ClientStack;

// The known connector names, for messages: "linear, mlp2x_gelu, mlp6x_gelu".
std::string connector_names();

// Throws InputError for an unknown name.
torch::nn::Sequential make_connector(const std::string& name, std::int64_t vision_dim, std::int64_t dim);

// connector(features), or, when `clients` stacks the connector's weights, each client's rows
// through its own copy (client_stack.hpp). Every model with a connector runs it through here.
torch::Tensor run_connector(torch::nn::Sequential& connector, torch::Tensor features, const ClientStack* clients);

}  // namespace fedvlm::model
