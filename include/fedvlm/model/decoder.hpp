// The LLaMA-style decoder language model: token embedding, pre-norm blocks (RMSNorm, rotary
// causal attention with grouped KV heads, SwiGLU), final RMSNorm, LM head tied to the
// embedding or separate. It consumes embeddings, so image tokens can be prepended to text.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/model/decoder_layers.hpp"

namespace fedvlm::model {

class DecoderImpl : public torch::nn::Module {
 public:
  // `variant` adds what pretrained decoders need (biases, head_dim, rope scaling); its
  // defaults build fedvlm's own decoder.
  DecoderImpl(const ModelConfig& model, const LoraConfig& lora, std::int64_t vocab_size,
              std::shared_ptr<ForwardState> state, const DecoderVariant& variant = {});

  torch::Tensor embed(const torch::Tensor& tokens);  // int64 [B, T] -> [B, T, D]

  // Final-normed hidden states [B, T, D] of `inputs` [B, T, D] at `positions` int64 [B, T].
  // `key_mask` bool [B, S] (S = cached + T) marks real tokens, or is undefined (all real).
  // With a cache, the new keys/values are appended and T may be 1 (incremental decoding).
  // Training with model.gradient_checkpointing recomputes each block in the backward pass
  // (gradient_checkpointing.hpp).
  torch::Tensor hidden(const torch::Tensor& inputs, const torch::Tensor& positions, const torch::Tensor& key_mask,
                       KvCache* cache = nullptr);

  torch::Tensor head(const torch::Tensor& hidden);  // [..., D] -> [..., vocab]

  // model.gradient_checkpointing, which a model built from a Hugging Face config.json gets here.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }

  std::int64_t vocab_size() const { return vocab_size_; }
  const ModelConfig& model_config() const { return config_; }
  const DecoderVariant& variant() const { return variant_; }

  torch::nn::Embedding embedding{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied to the embedding

 private:
  ModelConfig config_;
  DecoderVariant variant_;
  std::int64_t vocab_size_;
  std::shared_ptr<ForwardState> state_;  // what the blocks draw dropout from (for recomputation)
  bool gradient_checkpointing_;
};
TORCH_MODULE(Decoder);

}  // namespace fedvlm::model
