#include "fedvlm/model/decoder_layers.hpp"

#include <algorithm>
#include <numbers>

#include "fedvlm/core/error.hpp"

namespace fedvlm::model {

RMSNormImpl::RMSNormImpl(std::int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps_) * weight;
}

torch::Tensor rotary_inverse_frequencies(std::int64_t head_dim, double theta,
                                         const std::optional<Llama3RopeScaling>& scaling, torch::Device device) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  const auto exponents = torch::arange(0, head_dim, 2, options) / static_cast<double>(head_dim);
  const auto inverse_frequency = torch::pow(theta, -exponents);  // [head_dim / 2]
  if (!scaling) return inverse_frequency;
  // transformers' _compute_llama3_parameters (modeling_rope_utils.py), in float64.
  const Llama3RopeScaling& s = *scaling;
  const double low_frequency_wavelength = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_frequency_wavelength = s.original_max_position_embeddings / s.high_freq_factor;
  const auto wavelength = (2.0 * std::numbers::pi) / inverse_frequency;
  const auto scaled = torch::where(wavelength > low_frequency_wavelength, inverse_frequency / s.factor, inverse_frequency);
  const auto smooth = (s.original_max_position_embeddings / wavelength - s.low_freq_factor) /
                      (s.high_freq_factor - s.low_freq_factor);
  const auto smoothed = (1.0 - smooth) * scaled / s.factor + smooth * scaled;
  const auto medium = wavelength.ge(high_frequency_wavelength).logical_and(wavelength.le(low_frequency_wavelength));
  return torch::where(medium, smoothed, scaled);
}

RotaryTables rotary_tables(const torch::Tensor& positions, const torch::Tensor& inverse_frequencies,
                           torch::ScalarType dtype) {
  auto angles = positions.to(torch::kFloat64).unsqueeze(-1) * inverse_frequencies;  // [B, T, head_dim / 2]
  angles = torch::cat({angles, angles}, -1).unsqueeze(1);                         // [B, 1, T, head_dim]
  return {angles.cos().to(dtype), angles.sin().to(dtype)};
}

RotaryTables rotary_tables(const torch::Tensor& positions, std::int64_t head_dim, double theta,
                           torch::ScalarType dtype) {
  return rotary_tables(positions, rotary_inverse_frequencies(head_dim, theta, std::nullopt, positions.device()), dtype);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables) {
  const auto half = x.size(-1) / 2;
  const auto rotated = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return x * tables.cos + rotated * tables.sin;
}

LoraSettings lora_settings_for(const LoraConfig& lora, const std::string& projection) {
  const bool targeted = std::find(lora.targets.begin(), lora.targets.end(), projection) != lora.targets.end();
  if (!targeted || lora.rank <= 0) return {};
  return {lora.rank, lora.alpha, lora.dropout};
}

AttentionImpl::AttentionImpl(const ModelConfig& model, const LoraConfig& lora,
                             std::shared_ptr<ForwardState> state, const DecoderVariant& variant)
    : heads_(model.heads), kv_heads_(model.kv_heads), head_dim_(variant.head_dim_for(model)) {
  auto make = [&](const char* name, std::int64_t in, std::int64_t out, bool bias) {
    return register_module(name, LoraLinear(in, out, lora_settings_for(lora, name), state, bias));
  };
  q = make("q", model.dim, heads_ * head_dim_, variant.qkv_bias);
  k = make("k", model.dim, kv_heads_ * head_dim_, variant.qkv_bias);
  v = make("v", model.dim, kv_heads_ * head_dim_, variant.qkv_bias);
  o = make("o", heads_ * head_dim_, model.dim, variant.output_bias);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionContext& context,
                                     torch::Tensor* cached_keys, torch::Tensor* cached_values) {
  const auto batch = x.size(0), length = x.size(1);
  auto query = q->forward(x).view({batch, length, heads_, head_dim_}).transpose(1, 2);
  auto key = k->forward(x).view({batch, length, kv_heads_, head_dim_}).transpose(1, 2);
  auto value = v->forward(x).view({batch, length, kv_heads_, head_dim_}).transpose(1, 2);
  query = apply_rotary(query, context.rotary);
  key = apply_rotary(key, context.rotary);
  if (cached_keys != nullptr) {
    if (cached_keys->defined()) {
      key = torch::cat({*cached_keys, key}, 2);
      value = torch::cat({*cached_values, value}, 2);
    }
    *cached_keys = key;
    *cached_values = value;
  }
  if (kv_heads_ != heads_) {  // grouped-query attention: each key/value head serves heads/kv_heads queries
    key = key.repeat_interleave(heads_ / kv_heads_, 1);
    value = value.repeat_interleave(heads_ / kv_heads_, 1);
  }
  auto scores = torch::matmul(query, key.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  // A large finite value instead of -inf: identical weights whenever a row has one allowed key,
  // and no NaN for fully masked (padding) query rows.
  scores = scores.masked_fill(context.allowed.logical_not(), -1e30);
  auto attended = torch::matmul(torch::softmax(scores, -1), value);  // [B, H, T, head_dim]
  return o->forward(attended.transpose(1, 2).reshape({batch, length, heads_ * head_dim_}));
}

FeedForwardImpl::FeedForwardImpl(const ModelConfig& model, const LoraConfig& lora,
                                 std::shared_ptr<ForwardState> state, const DecoderVariant& variant) {
  auto make = [&](const char* name, std::int64_t in, std::int64_t out) {
    return register_module(name, LoraLinear(in, out, lora_settings_for(lora, name), state, variant.mlp_bias));
  };
  gate = make("gate", model.dim, model.ffn_dim);
  up = make("up", model.dim, model.ffn_dim);
  down = make("down", model.ffn_dim, model.dim);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return down->forward(torch::silu(gate->forward(x)) * up->forward(x));
}

DecoderBlockImpl::DecoderBlockImpl(const ModelConfig& model, const LoraConfig& lora,
                                   std::shared_ptr<ForwardState> state, const DecoderVariant& variant)
    : dropout_(model.dropout), state_(state) {
  attention_norm = register_module("attention_norm", RMSNorm(model.dim, model.norm_eps));
  attention = register_module("attention", Attention(model, lora, state, variant));
  ffn_norm = register_module("ffn_norm", RMSNorm(model.dim, model.norm_eps));
  ffn = register_module("ffn", FeedForward(model, lora, state, variant));
}

torch::Tensor DecoderBlockImpl::forward(const torch::Tensor& x, const AttentionContext& context,
                                        torch::Tensor* cached_keys, torch::Tensor* cached_values) {
  auto h = x + dropout_from(attention->forward(attention_norm->forward(x), context, cached_keys, cached_values),
                            dropout_, is_training(), *state_);
  return h + dropout_from(ffn->forward(ffn_norm->forward(h)), dropout_, is_training(), *state_);
}

}  // namespace fedvlm::model
