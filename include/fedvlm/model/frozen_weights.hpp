// model.frozen_dtype: the weights a fine-tuning strategy never trains, stored in bf16.
//
// Real bases are mostly frozen: under F-CL a 3B decoder keeps 3.2 billion fixed weights beside a
// few million trained ones, and storing those in fp32 spends 12.8 GB where bf16 needs 6.4
// (tools/memory_model.py). store_frozen_weights narrows exactly what never trains, in a way every
// forward path keeps working in:
//
//   vision tower   every parameter (it runs wholly in its own type: images go in cast to it, and
//                  run_connector casts its features to the connector's type)
//   decoder        the matrices (projections, embedding, LM head); norm gains and biases stay
//                  fp32, so the residual stream stays fp32 and only the products narrow
//   connector, LoRA, anything the strategy trains: untouched (fp32 master weights)
//
// A product with a narrowed weight (linear_in_weight_type) casts its input to the weight's type
// and its output back: bf16 products with fp32 accumulation, what CUDA autocast (run.precision =
// bf16) computes anyway; on the CPU it is how a bf16 weight can meet fp32 activations at all.
// Gradients still reach every trained parameter (LoRA's A and B, the connector) in fp32.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace fedvlm::model {

class VisionLanguageModel;
struct TrainableSet;

struct FrozenStorage {
  std::int64_t tensors = 0;       // parameters narrowed
  std::int64_t bytes_before = 0;  // their storage before and after
  std::int64_t bytes_after = 0;
};

// Narrows the parameters of `model` that are not in `ever_trained` (ever_trainable_set of the
// run's strategy) to `dtype`, as described above. Nothing when `dtype` is the parameters' own.
FrozenStorage store_frozen_weights(VisionLanguageModel& model, const TrainableSet& ever_trained, torch::Dtype dtype);

// x W^T + b computed in W's type, returned in x's: F::linear itself when the types agree.
torch::Tensor linear_in_weight_type(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {});

}  // namespace fedvlm::model
