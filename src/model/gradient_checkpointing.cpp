#include "fedvlm/model/gradient_checkpointing.hpp"

#include <cstdint>
#include <vector>

#include "fedvlm/model/autocast_scope.hpp"
#include "fedvlm/model/client_stack.hpp"
#include "fedvlm/model/forward_state.hpp"

namespace fedvlm::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Every dropout stream a block's forward may draw from: the one client's, or each stacked client's.
std::vector<at::Generator*> dropout_streams(ForwardState& state) {
  std::vector<at::Generator*> streams{&state.dropout};
  if (state.clients != nullptr)
    for (auto& generator : state.clients->generators()) streams.push_back(&generator);
  return streams;
}

std::vector<torch::Tensor> snapshot(const std::vector<at::Generator*>& streams) {
  std::vector<torch::Tensor> states;
  for (auto* stream : streams) states.push_back(stream->get_state());
  return states;
}

void restore(const std::vector<at::Generator*>& streams, const std::vector<torch::Tensor>& states) {
  for (std::size_t i = 0; i < streams.size(); ++i) streams[i]->set_state(states[i]);
}

// The block and forward state live as long as the model, which outlives its backward pass;
// autograd's context holds IValues only, hence the addresses as integers.
template <typename T>
std::int64_t address_of(T& object) {
  return static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(&object));
}
template <typename T>
T& object_at(const c10::IValue& address) {
  return *reinterpret_cast<T*>(static_cast<std::intptr_t>(address.toInt()));
}

class RecomputedBlock : public torch::autograd::Function<RecomputedBlock> {
 public:
  // `anchor` requires grad, so the node is recorded even when x does not (the first block's
  // input under F-L): the block's own adapters must still get their gradients.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, const torch::Tensor& allowed, const torch::Tensor& anchor,
                               DecoderBlockImpl* block, ForwardState* state) {
    (void)anchor;
    ctx->saved_data["block"] = address_of(*block);
    ctx->saved_data["state"] = address_of(*state);
    ctx->saved_data["bf16"] = AutocastScope::bf16_active();
    ctx->saved_data["x_requires_grad"] = x.requires_grad();
    ctx->saved_data["streams"] = c10::List<torch::Tensor>(snapshot(dropout_streams(*state)));
    ctx->save_for_backward({x, cos, sin, allowed});
    const AttentionContext context{{cos, sin}, allowed};
    return block->forward(x, context, nullptr, nullptr);  // grad mode is off here
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto& block = object_at<DecoderBlockImpl>(ctx->saved_data["block"]);
    auto& state = object_at<ForwardState>(ctx->saved_data["state"]);
    const auto saved = ctx->get_saved_variables();
    const AttentionContext context{{saved[1], saved[2]}, saved[3]};
    auto x = saved[0].detach().requires_grad_(true);

    const auto streams = dropout_streams(state);
    const auto now = snapshot(streams);
    const auto forward_states = ctx->saved_data["streams"].toTensorList().vec();
    restore(streams, forward_states);
    torch::Tensor y;
    {
      const torch::AutoGradMode enable_grad(true);
      const AutocastScope autocast(ctx->saved_data["bf16"].toBool());
      y = block.forward(x, context, nullptr, nullptr);
    }
    restore(streams, now);
    torch::autograd::backward({y}, {grads[0]});  // accumulates into the block's leaves
    const bool x_requires_grad = ctx->saved_data["x_requires_grad"].toBool();
    return {x_requires_grad ? x.grad() : torch::Tensor(), {}, {}, {}, {}, {}, {}};
  }
};

}  // namespace

torch::Tensor checkpointed_block_forward(DecoderBlockImpl& block, const torch::Tensor& x, const AttentionContext& context,
                                         ForwardState& state) {
  static thread_local const torch::Tensor anchor = torch::zeros({}, torch::requires_grad());
  return RecomputedBlock::apply(x, context.rotary.cos, context.rotary.sin, context.allowed, anchor, &block, &state);
}

}  // namespace fedvlm::model
