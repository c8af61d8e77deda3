#include "fedvlm/model/connector.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/client_stack.hpp"

namespace fedvlm::model {

std::string connector_names() { return "linear, mlp2x_gelu, mlp6x_gelu"; }

torch::nn::Sequential make_connector(const std::string& name, std::int64_t vision_dim, std::int64_t dim) {
  std::int64_t depth = 0;
  if (name == "linear") depth = 1;
  if (name == "mlp2x_gelu") depth = 2;
  if (name == "mlp6x_gelu") depth = 6;
  if (depth == 0) throw InputError(fmt::format("model.connector=\"{}\" is unknown; choose one of {}", name, connector_names()));
  torch::nn::Sequential connector;
  connector->push_back(torch::nn::Linear(vision_dim, dim));
  for (std::int64_t i = 1; i < depth; ++i) {
    connector->push_back(torch::nn::GELU());
    connector->push_back(torch::nn::Linear(dim, dim));
  }
  return connector;
}

torch::Tensor run_connector(torch::nn::Sequential& connector, torch::Tensor features, const ClientStack* clients) {
  auto* first = connector->ptr(0)->as<torch::nn::Linear>();
  // A tower stored in bf16 (model.frozen_dtype) hands over bf16 features: the connector trains in its own type.
  if (first != nullptr && features.scalar_type() != first->weight.scalar_type()) features = features.to(first->weight.scalar_type());
  if (clients == nullptr || first == nullptr || !clients->find(first->weight).defined()) return connector->forward(features);
  for (const auto& layer : connector->children()) {
    if (auto* linear = layer->as<torch::nn::Linear>()) {
      features = clients->linear(features, clients->find(linear->weight), clients->find(linear->bias));
    } else if (auto* gelu = layer->as<torch::nn::GELU>()) {
      features = gelu->forward(features);
    } else {
      FEDVLM_CHECK(false, "batched clients: connector layer {} has no per-client form", layer->name());
    }
  }
  return features;
}

}  // namespace fedvlm::model
