// Two clients trained in one stacked pass (ClientStack) against each client alone: what the
// batched-trainer checks of several model kinds share.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/client_stack.hpp"
#include "fedvlm/model/strategy.hpp"
#include "model/model_test_support.hpp"

namespace fedvlm::model::testing {

struct StackedAndAlone {
  std::vector<double> stacked;  // each client's loss from the one stacked pass
  std::vector<double> alone;    // the same client's loss with its values in the model itself
};

// Client 0 holds the model's F-CL trainable values, client 1 those moved by N(0, 0.05); their
// batches are rows {0, 1} and {2, 3, 4} of make_samples(5, 6, shape). Leaves client 1's values in
// the model.
inline StackedAndAlone stacked_and_alone_losses(VisionLanguageModel& model, const data::ImageShape& shape) {
  const TrainableSet trainable = apply_strategy(model, Strategy::kConnectorLora, 0, 0);
  std::vector<torch::Tensor> flat;
  for (const auto& p : trainable.parameters) flat.push_back(p.detach().flatten());
  const torch::Tensor x = torch::cat(flat);
  torch::manual_seed(10);
  const torch::Tensor values = torch::stack({x, x + 0.05 * torch::randn_like(x)}).set_requires_grad(true);
  const data::Samples samples = make_samples(5, 6, shape);
  const std::vector<std::vector<std::int64_t>> client_rows = {{0, 1}, {2, 3, 4}};
  std::vector<Batch> batches;
  std::vector<std::int64_t> rows, lengths;
  for (const auto& r : client_rows) {
    batches.push_back(collate_training(samples, r, {}));
    rows.push_back(static_cast<std::int64_t>(r.size()));
    lengths.push_back(model.num_image_tokens() + batches.back().length());
  }
  std::vector<at::Generator> generators = {torch_generator({1, "dropout", 0, 0}), torch_generator({1, "dropout", 0, 1})};
  StackedAndAlone result;
  {
    ClientStack stack(trainable, 2);
    stack.bind(values);
    model.set_client_stack(&stack);
    stack.set_layout(rows, lengths, generators, torch::kCPU);
    const torch::Tensor stacked = model.client_losses(concat_training(batches, {})).detach();
    model.set_client_stack(nullptr);
    for (std::int64_t k = 0; k < 2; ++k) result.stacked.push_back(stacked[k].item<double>());
  }
  for (std::int64_t k = 0; k < 2; ++k) {
    {
      torch::NoGradGuard no_grad;
      std::int64_t offset = 0;
      for (const auto& p : trainable.parameters) {
        p.copy_(values[k].slice(0, offset, offset + p.numel()).view_as(p));
        offset += p.numel();
      }
    }
    result.alone.push_back(model.loss(batches[static_cast<std::size_t>(k)]).item<double>());
  }
  return result;
}

}  // namespace fedvlm::model::testing
