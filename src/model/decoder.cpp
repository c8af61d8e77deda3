#include "fedvlm/model/decoder.hpp"

#include "fedvlm/model/frozen_weights.hpp"
#include "fedvlm/model/gradient_checkpointing.hpp"

namespace fedvlm::model {

DecoderImpl::DecoderImpl(const ModelConfig& model, const LoraConfig& lora, std::int64_t vocab_size,
                         std::shared_ptr<ForwardState> state, const DecoderVariant& variant)
    : config_(model), variant_(variant), vocab_size_(vocab_size), state_(state),
      gradient_checkpointing_(model.gradient_checkpointing) {
  embedding = register_module("embedding", torch::nn::Embedding(vocab_size, model.dim));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < model.layers; ++i) layers->push_back(DecoderBlock(model, lora, state, variant));
  norm = register_module("norm", RMSNorm(model.dim, model.norm_eps));
  if (!model.tie_embeddings) {
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(model.dim, vocab_size).bias(false)));
  }
}

torch::Tensor DecoderImpl::embed(const torch::Tensor& tokens) {
  // A bf16 table (model.frozen_dtype) feeds the residual stream in the norms' type.
  const torch::Tensor embedded = embedding->forward(tokens);
  const auto stream = norm->weight.scalar_type();
  return embedded.scalar_type() == stream ? embedded : embedded.to(stream);
}

torch::Tensor DecoderImpl::hidden(const torch::Tensor& inputs, const torch::Tensor& positions,
                                  const torch::Tensor& key_mask, KvCache* cache) {
  const auto length = inputs.size(1);
  const auto past = cache != nullptr ? cache->length() : 0;
  const auto total = past + length;
  AttentionContext context;
  context.rotary = rotary_tables(positions,
                                 rotary_inverse_frequencies(variant_.head_dim_for(config_), config_.rope_theta,
                                                            variant_.rope_scaling, positions.device()),
                                 inputs.scalar_type());
  // Query t sits at absolute index past + t and sees keys 0..past + t.
  const auto options = torch::TensorOptions().dtype(torch::kInt64).device(inputs.device());
  const auto query_index = torch::arange(past, total, options).unsqueeze(1);
  const auto key_index = torch::arange(total, options).unsqueeze(0);
  context.allowed = key_index.le(query_index).view({1, 1, length, total});
  if (key_mask.defined()) context.allowed = context.allowed.logical_and(key_mask.view({-1, 1, 1, total}));

  if (cache != nullptr && cache->keys.empty()) {
    cache->keys.resize(layers->size());
    cache->values.resize(layers->size());
  }
  const bool recompute = gradient_checkpointing_ && is_training() && cache == nullptr &&
                         torch::GradMode::is_enabled();
  auto x = inputs;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    auto* block = layers[i]->as<DecoderBlock>();
    x = recompute ? checkpointed_block_forward(*block, x, context, *state_)
                  : block->forward(x, context, cache ? &cache->keys[i] : nullptr, cache ? &cache->values[i] : nullptr);
  }
  return norm->forward(x);
}

torch::Tensor DecoderImpl::head(const torch::Tensor& hidden) {
  return linear_in_weight_type(hidden, lm_head ? lm_head->weight : embedding->weight);
}

}  // namespace fedvlm::model
