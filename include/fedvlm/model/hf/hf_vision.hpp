// CLIP and SigLIP vision transformers as transformers defines them (CLIPVisionTransformer,
// SiglipVisionTransformer), with transformers' module names, so a parameter's name is its
// checkpoint name without the "…vision_model." prefix:
//
//   embeddings.patch_embedding.weight   conv p x p stride p (SigLIP: + .bias)
//   embeddings.class_embedding          CLIP only, prepended to the patches
//   embeddings.position_embedding.weight   one per token (CLIP: the class token's first)
//   pre_layrnorm.{weight,bias}          CLIP only (sic), before the encoder
//   encoder.layers.<i>.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}.*
//
// The tower runs only the encoder layers whose output is used (LLaVA reads an inner layer): its
// output is hidden_states[layers_used] of transformers' forward, before post_layernorm. The
// tensors it does not build (post_layernorm, SigLIP's pooling head, the later layers, a stored
// position_ids buffer) are the known-unused tensors of the checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/hf/hf_vision_config.hpp"

namespace fedvlm::model::hf {

class HfVisionAttentionImpl : public torch::nn::Module {
 public:
  HfVisionAttentionImpl(std::int64_t hidden, std::int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);  // bidirectional: every token sees every token
  torch::nn::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};

 private:
  std::int64_t heads_;
};
TORCH_MODULE(HfVisionAttention);

class HfVisionMlpImpl : public torch::nn::Module {
 public:
  HfVisionMlpImpl(std::int64_t hidden, std::int64_t intermediate, std::string activation);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(HfVisionMlp);

class HfVisionLayerImpl : public torch::nn::Module {
 public:
  explicit HfVisionLayerImpl(const HfVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // pre-norm: x + attn(ln1 x), then + mlp(ln2 .)
  torch::nn::LayerNorm layer_norm1{nullptr};
  HfVisionAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm2{nullptr};
  HfVisionMlp mlp{nullptr};
};
TORCH_MODULE(HfVisionLayer);

class HfVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit HfVisionEmbeddingsImpl(const HfVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& pixel_values);  // [B, 3, S, S] -> [B, tokens, hidden]
  torch::Tensor class_embedding;  // CLIP: [hidden]; SigLIP: undefined
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
};
TORCH_MODULE(HfVisionEmbeddings);

class HfVisionEncoderImpl : public torch::nn::Module {
 public:
  HfVisionEncoderImpl(const HfVisionConfig& config, std::int64_t layers);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(HfVisionEncoder);

class HfVisionTowerImpl : public torch::nn::Module {
 public:
  // A tower running `layers_used` of config.num_hidden_layers encoder layers (0 .. all).
  HfVisionTowerImpl(const HfVisionConfig& config, std::int64_t layers_used);
  // Pixel values as the model's image processor gives them, [B, 3, image_size, image_size] ->
  // hidden_states[layers_used], [B, tokens, hidden] (tokens: patches, + 1 class token first for CLIP).
  torch::Tensor forward(const torch::Tensor& pixel_values);

  const HfVisionConfig& config() const { return config_; }
  std::int64_t layers_used() const { return layers_used_; }

  HfVisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // CLIP only
  HfVisionEncoder encoder{nullptr};

 private:
  HfVisionConfig config_;
  std::int64_t layers_used_;
};
TORCH_MODULE(HfVisionTower);

// Each tower parameter (named as HfVisionTower's named_parameters, in that order) and its
// checkpoint tensor `checkpoint_prefix` + the same name ("vision_model.",
// "vision_tower.vision_model.", "model.vision_tower.vision_model.").
std::vector<HfTensorMapping> vision_tower_mapping(const HfVisionConfig& config, std::int64_t layers_used,
                                                  const std::string& checkpoint_prefix);
// True for a tensor under `checkpoint_prefix` that a tower of `layers_used` layers does not
// read: post_layernorm.*, head.* (SigLIP's attention pooling), encoder.layers.<i>.* for
// i >= layers_used, embeddings.position_ids (a buffer transformers < 4.31 saved).
bool is_unused_vision_tensor(const std::string& name, std::int64_t layers_used, const std::string& checkpoint_prefix);

// A CLIPVisionModel / SiglipVisionModel directory (vision_model.*), or the vision half of a
// CLIPModel / SiglipModel directory (its text_model.*, logit_scale, logit_bias and projections
// are known-unused), as a tower running `layers_used` layers (-1: all), loaded all or nothing as
// hf_vlm.hpp describes; eval mode, CPU, float32.
HfVisionTower load_hf_vision_tower(const std::filesystem::path& directory, std::int64_t layers_used = -1);
// The same into a tower built elsewhere from read_hf_vision_config(directory) (hf_vlm.hpp's
// tower + decoder composition).
void load_hf_vision_tower_weights(HfVisionTower& tower, const std::filesystem::path& directory);

}  // namespace fedvlm::model::hf
