// Gradient checkpointing (model.gradient_checkpointing): a decoder block run this way keeps only
// its input for the backward pass, and runs its forward again there to rebuild what autograd
// needs. Memory for activations drops from every layer's to one layer's plus the layer inputs
// (tools/memory_model.py, docs/models.md) at the cost of a second forward pass.
//
// Gradients equal those of the plain forward: the recomputation replays the same dropout masks
// (the dropout streams are rewound to where the forward drew them, then put back) under the
// same autocast state. Parameters, and a ClientStack's stacked leaves, get their gradients by
// accumulation during the recomputation's own backward (as torch.utils.checkpoint's reentrant
// variant does), so the trainer's `loss.backward()` is all it takes.
#pragma once

#include <torch/torch.h>

#include "fedvlm/model/decoder_layers.hpp"

namespace fedvlm::model {

// block(x, context) for training (no KV cache), checkpointed. `state` is the forward state the
// block draws its dropout from.
torch::Tensor checkpointed_block_forward(DecoderBlockImpl& block, const torch::Tensor& x, const AttentionContext& context,
                                         ForwardState& state);

}  // namespace fedvlm::model
