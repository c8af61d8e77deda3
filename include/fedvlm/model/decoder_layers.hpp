// Building blocks of the LLaMA-style decoder: RMSNorm, rotary position embedding, causal
// multi-head attention with grouped key/value heads, SwiGLU feed-forward, the pre-norm block.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/model/lora.hpp"

namespace fedvlm::model {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Llama 3.1's rotary frequency scaling (transformers' rope_type "llama3"): wavelengths longer than
// original_max_position_embeddings / low_freq_factor are stretched by `factor`, those shorter
// than original_max_position_embeddings / high_freq_factor are kept, those between interpolated.
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

// What pretrained (Hugging Face) decoders need beyond ModelConfig. The defaults are fedvlm's own
// decoder, so every preset builds and computes exactly as before.
struct DecoderVariant {
  std::int64_t head_dim = 0;  // 0: dim / heads
  bool qkv_bias = false;      // biases on q, k, v (Qwen2; Llama's attention_bias)
  bool output_bias = false;   // bias on o (Llama's attention_bias)
  bool mlp_bias = false;      // biases on gate, up, down (Llama's mlp_bias)
  std::optional<Llama3RopeScaling> rope_scaling;

  std::int64_t head_dim_for(const ModelConfig& model) const { return head_dim > 0 ? head_dim : model.dim / model.heads; }
};

// Rotary inverse frequencies theta^(-2i/head_dim), i < head_dim / 2, float64, optionally scaled.
torch::Tensor rotary_inverse_frequencies(std::int64_t head_dim, double theta,
                                         const std::optional<Llama3RopeScaling>& scaling, torch::Device device);

// cos/sin tables for the given positions: each [B, 1, T, head_dim] (the "rotate half" layout:
// dimension i pairs with i + head_dim / 2, as Hugging Face's rotate_half, so Llama/Qwen2 q/k
// weights load as they are stored).
struct RotaryTables {
  torch::Tensor cos, sin;
};
RotaryTables rotary_tables(const torch::Tensor& positions, std::int64_t head_dim, double theta,
                           torch::ScalarType dtype);
RotaryTables rotary_tables(const torch::Tensor& positions, const torch::Tensor& inverse_frequencies,
                           torch::ScalarType dtype);
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables);  // x [B, H, T, head_dim]

// Attention inputs shared by every layer of one forward pass.
struct AttentionContext {
  RotaryTables rotary;
  torch::Tensor allowed;  // bool [B or 1, 1, T, S]: query t may attend key s (causal & not padding)
};

// Per-layer key/value tensors of the tokens seen so far ([B, kv_heads, S, head_dim] each).
struct KvCache {
  std::vector<torch::Tensor> keys, values;
  std::int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

// Which decoder projections get LoRA adapters (lora.targets) and their settings.
LoraSettings lora_settings_for(const LoraConfig& lora, const std::string& projection);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& model, const LoraConfig& lora, std::shared_ptr<ForwardState> state,
                const DecoderVariant& variant = {});
  // x [B, T, D]; `cache_slot` (optional) is this layer's (keys, values), extended in place.
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context, torch::Tensor* cached_keys,
                        torch::Tensor* cached_values);
  LoraLinear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};

 private:
  std::int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(const ModelConfig& model, const LoraConfig& lora, std::shared_ptr<ForwardState> state,
                  const DecoderVariant& variant = {});
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  LoraLinear gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(FeedForward);

class DecoderBlockImpl : public torch::nn::Module {
 public:
  DecoderBlockImpl(const ModelConfig& model, const LoraConfig& lora, std::shared_ptr<ForwardState> state,
                   const DecoderVariant& variant = {});
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context, torch::Tensor* cached_keys,
                        torch::Tensor* cached_values);
  RMSNorm attention_norm{nullptr}, ffn_norm{nullptr};
  Attention attention{nullptr};
  FeedForward ffn{nullptr};

 private:
  double dropout_;
  std::shared_ptr<ForwardState> state_;
};
TORCH_MODULE(DecoderBlock);

}  // namespace fedvlm::model
