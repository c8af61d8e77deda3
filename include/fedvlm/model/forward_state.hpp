// What one forward pass of a model shares with its modules: the dropout stream, and while
// several clients train in one pass (run.batched_clients) the ClientStack that holds their
// trainable tensors and the layout of their concatenated batch.
#pragma once

#include <torch/torch.h>

namespace fedvlm::model {

class ClientStack;

struct ForwardState {
  at::Generator dropout;                 // the stream of the one client training (seed_dropout)
  const ClientStack* clients = nullptr;  // set while a ClientStack trains several clients at once
};

// Dropout whose mask comes from the state's stream, so local training is reproducible per
// (seed, round, client) regardless of torch's global state. While a ClientStack is set, each
// client's rows take their mask from that client's own stream, drawn in the shape its batch has
// alone: every client sees exactly the masks it would see training by itself.
torch::Tensor dropout_from(const torch::Tensor& x, double p, bool training, ForwardState& state);

}  // namespace fedvlm::model
