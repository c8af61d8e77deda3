// Building blocks of the LLaMA-style decoder: RMSNorm, rotary position embedding, causal
// multi-head attention with grouped key/value heads, SwiGLU feed-forward, the pre-norm block.
#pragma once

#include <cstdint>
#include <memory>
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

// cos/sin tables for the given positions: each [B, 1, T, head_dim] (the "rotate half" layout).
struct RotaryTables {
  torch::Tensor cos, sin;
};
RotaryTables rotary_tables(const torch::Tensor& positions, std::int64_t head_dim, double theta,
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
  AttentionImpl(const ModelConfig& model, const LoraConfig& lora, std::shared_ptr<ForwardState> state);
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
  FeedForwardImpl(const ModelConfig& model, const LoraConfig& lora, std::shared_ptr<ForwardState> state);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  LoraLinear gate{nullptr}, up{nullptr}, down{nullptr};
};
TORCH_MODULE(FeedForward);

class DecoderBlockImpl : public torch::nn::Module {
 public:
  DecoderBlockImpl(const ModelConfig& model, const LoraConfig& lora, std::shared_ptr<ForwardState> state);
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
